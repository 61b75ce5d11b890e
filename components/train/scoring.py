"""Scores of every catalog item for a query: the two towers plus what a lookup knows.

A two-tower dot product alone lost to ten lines of code on real data (a lookup of the history's
also-bought lists beat it by 4-24% on Amazon 2014 grocery and beauty). The score of item ``i``
for a query ``u`` with history ``H`` is therefore

    s(u, i) = q_u . c_i  +  b_i  +  beta * log1p(pop_t(i))  +  sum_{h in H} w(age_h) a[k(h, i)]
              +  alpha * sum_{h in H} knn(h, i)

- ``q_u . c_i``: the towers (``towers``);
- ``b_i``: a learned item bias;
- ``pop_t(i)``: point-in-time popularity, the distinct users who took ``i`` in the weeks before
  the example's own time (``PopularityTimeline``); at serving, the weeks before the cut-off.
  With a softmax over the whole catalog every candidate is scored at the example's time, so
  this is not the time-matching shortcut in-batch negatives make of it (``towers``);
- the graph term (``RelationGraph``): for each history item ``h``, the items the catalog relates
  to it (also-bought, also-viewed, ...), weighted by a learned weight per (kind, rank band) and
  per recency bucket of ``h``. A history's neighbours are a cross feature no dot product of
  pooled embeddings expresses;
- the blend term (``CoVisitation``): the item-kNN peer's own score, the train window's cosine
  co-visitation of each history item, times ``alpha``. It is not trained (counted on the
  training examples it would contain each one's target); ``alpha`` is chosen on the validation
  window with the epoch count, from a model and a co-visitation table fitted before it.

Every other term is a Keras weight trained with the towers by one softmax over the whole catalog
(``model``). Shapes: ``B`` queries, ``I`` catalog rows, ``L`` history length, ``K`` neighbours
per item. Items are catalog positions (rows of the raw catalog), so a cold item (no train
interaction, out of the id vocabulary) still has its own score.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import tensorflow as tf

from components.similarity import cosine_neighbours
from schemas.tables import DST_ITEM, KIND, SRC_ITEM

# Rank bands of a related item in its source's list (Amazon's lists are ordered): [0, 5),
# [5, 20), [20, inf). Each (kind, band) gets its own learned weight.
RANK_BANDS = (0, 5, 20)
MAX_NEIGHBOURS = 128  # related items kept per item (grocery: 99% have <= 110)
RANK = "rank"  # the transform's ranked relations column (``transform.relations``)


@dataclasses.dataclass(frozen=True)
class PopularityTimeline:
    """log1p distinct-user counts per item over the ``window`` buckets before each bucket.

    Buckets are ``bucket_days`` wide and end at the cut-off: bucket ``n - 1`` is the last before
    it, row ``n`` of ``table`` (``serving_row``) the popularity as of the cut-off.

    Attributes:
        table: ``[n + 1, I]`` float32; row ``r`` counts the buckets ``r - window .. r - 1``.
        cutoff_day: The window's end (days since the epoch).
        bucket_days: Width of a bucket.
    """

    table: np.ndarray
    cutoff_day: float
    bucket_days: float

    @property
    def serving_row(self) -> int:
        """The row of the popularity as of the cut-off."""
        return self.table.shape[0] - 1

    def rows(self, days: np.ndarray | tf.Tensor) -> tf.Tensor:
        """``[B]`` int32 row of each event day (days before the first bucket: row 0)."""
        n = self.serving_row
        back = tf.math.ceil((self.cutoff_day - tf.cast(days, tf.float64)) / self.bucket_days)
        return tf.cast(tf.clip_by_value(n - back, 0, n), tf.int32)


def popularity_timeline(
    positions: np.ndarray,
    days: np.ndarray,
    *,
    items: int,
    cutoff_day: float,
    bucket_days: float,
    window: int,
) -> PopularityTimeline:
    """The timeline from first interactions (one per user and item: distinct users).

    Args:
        positions: ``[n]`` catalog position of each example's item (-1: not in the catalog).
        days: ``[n]`` event day of each example.
        items: Catalog rows ``I``.
        cutoff_day: The train window's end; examples at or after it are not counted.
        bucket_days: Bucket width in days.
        window: Buckets summed per row.
    """
    days = np.asarray(days, np.float64)
    keep = (np.asarray(positions) >= 0) & (days < cutoff_day)
    first = float(days[keep].min()) if keep.any() else cutoff_day
    n = max(1, int(np.ceil((cutoff_day - first) / bucket_days)))
    bucket = n - np.ceil((cutoff_day - days[keep]) / bucket_days).astype(np.int64)
    bucket = np.clip(bucket, 0, n - 1)
    counts = np.zeros((n, items), np.float32)
    np.add.at(counts, (bucket, np.asarray(positions)[keep]), 1.0)
    cumulative = np.vstack([np.zeros((1, items), np.float32), np.cumsum(counts, axis=0)])
    rows = np.arange(n + 1)
    table = cumulative[rows] - cumulative[np.maximum(rows - window, 0)]
    return PopularityTimeline(
        table=np.log1p(table).astype(np.float32), cutoff_day=cutoff_day, bucket_days=bucket_days
    )


@dataclasses.dataclass(frozen=True)
class Neighbours:
    """Each catalog item's related items as catalog positions, with a weight class each.

    Attributes:
        positions: ``[I, K]`` int32 catalog position of each related item, ``I`` (a column past
            the catalog) where a slot is empty.
        classes: ``[I, K]`` int32 weight class: ``1 + kind_index * len(RANK_BANDS) + band``;
            0 for an empty slot.
        kinds: The relation kinds, in class order.
    """

    positions: np.ndarray
    classes: np.ndarray
    kinds: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        """Weight classes including the empty slot's class 0."""
        return 1 + len(self.kinds) * len(RANK_BANDS)


def neighbour_table(
    relations: pa.Table, catalog_ids: np.ndarray, *, width: int = MAX_NEIGHBOURS
) -> Neighbours:
    """The ``Neighbours`` of every catalog row from the transform's ranked relations.

    Relations whose ends are not both in the catalog are left out; each item keeps its
    ``width`` best-ranked relations (over all kinds, ties by kind order).

    Args:
        relations: ``src_item, dst_item, kind, rank`` (``outputs.raw_relations_path``).
        catalog_ids: ``[I]`` raw item ids, catalog order.
        width: ``K``.
    """
    n = len(catalog_ids)
    position = {item: i for i, item in enumerate(catalog_ids)}
    kinds = tuple(sorted(set(relations[KIND].to_pylist()))) if relations.num_rows else ()
    src = np.fromiter((position.get(i, -1) for i in relations[SRC_ITEM].to_pylist()), np.int64)
    dst = np.fromiter((position.get(i, -1) for i in relations[DST_ITEM].to_pylist()), np.int64)
    kind = np.fromiter((kinds.index(k) for k in relations[KIND].to_pylist()), np.int64, len(src))
    rank = np.asarray(relations[RANK].to_numpy(), np.int64) if relations.num_rows else src
    keep = (src >= 0) & (dst >= 0)
    src, dst, kind, rank = src[keep], dst[keep], kind[keep], rank[keep]
    band = np.searchsorted(np.asarray(RANK_BANDS), rank, side="right") - 1
    order = np.lexsort((kind, rank, src))
    src, dst, kind, band = src[order], dst[order], kind[order], band[order]
    slot = np.arange(len(src)) - np.searchsorted(src, src, side="left")
    fits = slot < width
    positions = np.full((n, width), n, np.int32)
    classes = np.zeros((n, width), np.int32)
    positions[src[fits], slot[fits]] = dst[fits]
    classes[src[fits], slot[fits]] = 1 + kind[fits] * len(RANK_BANDS) + band[fits]
    return Neighbours(positions=positions, classes=classes, kinds=kinds)


class RelationGraph(tf.keras.layers.Layer):
    """``[B, I]`` graph scores: each history item's related items, weighted (module docstring)."""

    def __init__(self, neighbours: Neighbours, *, recency_buckets: int) -> None:
        super().__init__(name="relation_graph")
        self.items = neighbours.positions.shape[0]
        # Compressed rows: the filled slots of each item (they come first in its row), so a
        # step gathers only real neighbours (grocery fills 45 of 128 slots on average).
        filled = neighbours.classes > 0
        splits = np.concatenate([[0], np.cumsum(filled.sum(axis=1))])
        self.splits = tf.constant(splits, tf.int64)
        self.related = tf.constant(neighbours.positions[filled].astype(np.int64))
        self.classes = tf.constant(neighbours.classes[filled].astype(np.int32))
        self.kind_weight = self.add_weight(
            name="kind_weight",
            shape=[neighbours.n_classes],
            initializer=tf.keras.initializers.Constant(0.5),
        )
        # softplus(0.54) = 1: every history item starts with weight 1.
        self.recency = self.add_weight(
            name="recency",
            shape=[recency_buckets],
            initializer=tf.keras.initializers.Constant(0.54),
        )

    def call(self, history: tf.Tensor, recency: tf.Tensor) -> tf.Tensor:
        """Graph scores.

        Args:
            history: ``[B, L]`` int32 catalog positions of the history items; ``I`` for padding.
            recency: ``[B, L]`` int recency bucket of each (0 = padding).

        Returns:
            ``[B, I]`` float32.
        """
        weight = tf.nn.softplus(tf.gather(self.recency, recency))  # [B, L]
        return neighbour_sum(
            history,
            weight,
            splits=self.splits,
            related=self.related,
            edge_weight=tf.gather(self.kind_weight, self.classes),
            items=self.items,
        )


def neighbour_sum(
    history: tf.Tensor,
    weight: tf.Tensor,
    *,
    splits: tf.Tensor,
    related: tf.Tensor,
    edge_weight: tf.Tensor,
    items: int,
) -> tf.Tensor:
    """``[B, I]``: per row, ``sum_h weight[h] * edge_weight[h -> i]`` over its history items.

    The neighbours are compressed rows: item ``h``'s are ``related[splits[h]:splits[h + 1]]``,
    so only real neighbours are gathered.

    Args:
        history: ``[B, L]`` int catalog positions (``items`` = padding).
        weight: ``[B, L]`` float weight of each history slot.
        splits: ``[I + 1]`` int64 row starts.
        related: ``[E]`` int64 neighbour positions.
        edge_weight: ``[E]`` float weight of each edge.
        items: ``I``.
    """
    valid = history < items
    at = tf.where(valid)  # [n, 2]: (row, slot) of each real history item
    item = tf.cast(tf.gather_nd(history, at), tf.int64)
    start = tf.gather(splits, item)
    slots = tf.ragged.range(start, tf.gather(splits, item + 1))
    edge = slots.flat_values  # every (history item, neighbour) pair
    owner = slots.value_rowids()  # its history item, an index into ``at``
    value = tf.gather(tf.gather_nd(weight, at), owner) * tf.gather(edge_weight, edge)
    batch = tf.shape(history, out_type=tf.int64)[0]
    flat = tf.gather(at[:, 0], owner) * items + tf.gather(related, edge)
    summed = tf.math.unsorted_segment_sum(value, flat, batch * items)
    return tf.reshape(summed, [batch, items])


def co_visitation(
    positions: np.ndarray,
    users: np.ndarray,
    days: np.ndarray,
    *,
    items: int,
    cutoff_day: float,
    neighbours: int,
) -> sp.csr_matrix:
    """``[I, I]`` item-kNN weights of the examples before ``cutoff_day`` (``similarity``).

    Cosine similarity of the items' user sets (the item-kNN peer's definition), each item's
    ``neighbours`` strongest kept.

    Args:
        positions: ``[n]`` catalog position of each example's item (-1: not in the catalog).
        users: ``[n]`` its user (any hashable id; the job passes dense integer codes).
        days: ``[n]`` its event day.
        items: ``I``.
        cutoff_day: Examples at or after it are not counted.
        neighbours: Kept per item.
    """
    positions = np.asarray(positions)
    keep = (positions >= 0) & (np.asarray(days, np.float64) < cutoff_day)
    _, user = np.unique(np.asarray(users)[keep], return_inverse=True)
    pairs = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (positions[keep], user.ravel())),
        shape=(items, int(user.max()) + 1 if user.size else 0),
    )
    pairs.data[:] = 1.0  # the constructor summed repeats: one (item, user) pair counts once
    return cosine_neighbours(pairs, neighbours)


class CoVisitation(tf.keras.layers.Layer):
    """``[B, I]`` item-kNN scores of the history, times a blend weight chosen on validation.

    The weights are fixed co-visitation similarities (``co_visitation``), never trained: counted
    on the training examples they contain each example's own target, and a weight learned
    through them would learn that leak. ``blend`` is a non-trainable scalar: 0 in the model
    selection fits (which try ``TrainConfig.blend_weights`` on the unweighted term), the chosen
    weight in the final one: its score is the model's plus ``blend * sum_h knn(h, i)``, the
    item-kNN peer's score.
    """

    def __init__(self, weights: sp.csr_matrix, *, blend: float = 0.0) -> None:
        super().__init__(name="co_visitation")
        weights = sp.csr_matrix(weights, dtype=np.float32)
        weights.sort_indices()
        self.items = weights.shape[0]
        self.splits = tf.constant(weights.indptr.astype(np.int64))
        self.related = tf.constant(weights.indices.astype(np.int64))
        self.similarity = tf.constant(weights.data.astype(np.float32))
        self.blend = self.add_weight(
            name="blend",
            shape=[],
            initializer=tf.keras.initializers.Constant(blend),
            trainable=False,
        )

    def call(self, history: tf.Tensor) -> tf.Tensor:
        """Unweighted item-kNN scores ``[B, I]`` of ``history`` ``[B, L]`` (``I`` = padding)."""
        return neighbour_sum(
            history,
            tf.ones_like(history, tf.float32),
            splits=self.splits,
            related=self.related,
            edge_weight=self.similarity,
            items=self.items,
        )


class CatalogScorer(tf.keras.layers.Layer):
    """Item bias, popularity weight and graph term around the towers' dot product.

    Args:
        items: Catalog rows ``I``.
        graph: The relation graph, or None (relation modality off, or no relations).
        popularity: Learn a weight for point-in-time popularity (behavior modality on).
        covisit: The item-kNN blend term, or None (behavior modality off, or switched off).
    """

    def __init__(
        self,
        *,
        items: int,
        graph: RelationGraph | None,
        popularity: bool,
        covisit: CoVisitation | None = None,
    ) -> None:
        super().__init__(name="catalog_scorer")
        self.items = items
        self.graph = graph
        self.covisit = covisit
        self.bias = self.add_weight(name="item_bias", shape=[items], initializer="zeros")
        self.popularity_weight = (
            self.add_weight(
                name="popularity_weight", shape=[], initializer=tf.keras.initializers.Constant(0.5)
            )
            if popularity
            else None
        )

    def call(
        self,
        queries: tf.Tensor,
        candidates: tf.Tensor,
        *,
        history: tf.Tensor,
        recency: tf.Tensor,
        popularity: tf.Tensor | None,
        blend: bool = True,
    ) -> tf.Tensor:
        """``[B, I]`` scores.

        Args:
            queries: ``[B, d]``.
            candidates: ``[I, d]`` every catalog row's candidate embedding.
            history: ``[B, L]`` catalog positions of the history (``I`` = padding).
            recency: ``[B, L]`` recency buckets of the history.
            popularity: ``[B, I]`` or ``[1, I]`` log1p popularity, or None.
            blend: Add the item-kNN blend term (serving, validation); training leaves it out
                (its weight is 0 then, and it is never trained).
        """
        scores = tf.matmul(queries, candidates, transpose_b=True) + self.bias
        if self.popularity_weight is not None and popularity is not None:
            scores += self.popularity_weight * popularity
        if self.graph is not None:
            scores += self.graph(history, recency)
        if blend and self.covisit is not None:
            scores += self.covisit.blend * self.covisit(history)
        return scores


def history_mask(history: tf.Tensor, items: int) -> tf.Tensor:
    """``[B, I]`` 1.0 where the item is in the row's history (what is never recommended back)."""
    batch = tf.shape(history, out_type=tf.int64)[0]
    width = tf.cast(items + 1, tf.int64)
    flat = tf.range(batch)[:, None] * width + tf.cast(history, tf.int64)
    flat = tf.reshape(flat, [-1])
    hits = tf.math.unsorted_segment_max(tf.ones_like(flat, tf.float32), flat, batch * width)
    return tf.reshape(tf.maximum(hits, 0.0), [batch, width])[:, :items]


def catalog_positions(catalog_vocab_ids: np.ndarray, *, vocab_rows: int) -> np.ndarray:
    """``[vocab_rows]`` catalog position of each transformed item id; ``I`` where there is none.

    Rows sharing an id (out-of-vocabulary items share the OOV bucket) map to none of them, and
    so does the padding id 0.

    Args:
        catalog_vocab_ids: ``[I]`` transformed item id of each catalog row.
        vocab_rows: Rows of the item id table (vocabulary + OOV buckets + padding).
    """
    items = len(catalog_vocab_ids)
    table = np.full(vocab_rows, items, np.int32)
    ids, counts = np.unique(catalog_vocab_ids, return_counts=True)
    unique = ids[(counts == 1) & (ids > 0) & (ids < vocab_rows)]
    rows = np.flatnonzero(np.isin(catalog_vocab_ids, unique))
    table[catalog_vocab_ids[rows]] = rows
    return table
