"""Export: one SavedModel that takes raw features and returns top-K raw item ids and scores.

The TFT graph is tracked inside the module, so its vocabularies travel with the model and serving
applies exactly the training-time transform; images are decoded inside the model by the same
function training used (no skew). The signatures, their inputs and outputs are the serving
contract declared in ``components.train.signatures``; this module implements them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf

from components.train import signatures as sig
from components.train.catalog import raw_tensors, transform_candidates
from components.train.model import TwoTowerModel
from components.train.scoring import history_mask
from components.train.towers import CandidateTower
from schemas import features as fs
from schemas.tables import ITEM_ID

xf = fs.transformed_name


def input_spec(signature: str) -> dict[str, tf.TensorSpec]:
    """The batched input specs of ``signature``: every raw feature of the sides it takes."""
    return {
        f.name: f.tensor_spec() for side in sig.INPUT_SIDES[signature] for f in fs.features(side)
    }


QUERY_SPEC = input_spec(sig.QUERY_EMBEDDING_SIGNATURE)
CANDIDATE_SPEC = input_spec(sig.CANDIDATE_EMBEDDING_SIGNATURE)
PAIR_SPEC = input_spec(sig.RANKING_SIGNATURE)


class Recommender(tf.Module):
    """Raw features in, top-K items, catalog scores or embeddings out (module docstring).

    Scores are those training optimised (``TwoTowerModel.score_catalog``): the towers' dot
    product with every catalog row's candidate embedding (constants here), plus, for a model
    trained with the whole-catalog softmax, the item bias, the cut-off's popularity and the
    relation graph (``scoring.CatalogScorer``). ``serving_default`` never returns an item of the
    request's own history (``hist_item_ids``): evaluation assumes exactly that.
    """

    def __init__(
        self,
        *,
        tft_layer: tf.keras.Model,
        model: TwoTowerModel,
        item_ids: np.ndarray,
        item_embeddings: np.ndarray,
        k: int,
    ) -> None:
        super().__init__(name="recommender")
        self.tft_layer = tft_layer
        self.query_tower = model.query_tower
        self.candidate_tower = model.candidate_tower
        self.scorer = model.scorer
        self.positions = model.catalog.positions
        popularity = model.popularity_now()
        self.popularity = None if popularity is None else tf.constant(popularity)
        self.item_ids = tf.constant(item_ids)
        self.item_embeddings = tf.constant(item_embeddings)
        self.items = len(item_ids)
        self.k = min(k, len(item_ids))
        self.ranking_head = model.ranking_head
        # Only a model with a head gets the traced function: saving traces every tf.function
        # attribute, and a head-less one would fail there.
        self.rank = (
            tf.function(self._rank, input_signature=[PAIR_SPEC])
            if self.ranking_head is not None
            else None
        )

    @tf.function(input_signature=[input_spec(sig.SERVING_SIGNATURE)])
    def recommend(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features ``[batch, ...]`` -> ``item_ids``/``scores`` ``[batch, k]``.

        Items of the request's own history are never returned.
        """
        features = self.tft_layer(raw)
        scores = self._scores(features)
        history = tf.gather(self.positions, features[xf(fs.HIST_ITEM_IDS)])
        scores = tf.where(history_mask(history, self.items) > 0, -np.inf, scores)
        top, index = tf.math.top_k(scores, k=self.k)
        return {sig.OUTPUT_ITEM_IDS: tf.gather(self.item_ids, index), sig.OUTPUT_SCORES: top}

    @tf.function(input_signature=[input_spec(sig.CATALOG_SCORES_SIGNATURE)])
    def catalog_scores(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features -> ``scores`` ``[batch, I]`` of every catalog item (no exclusion)."""
        return {sig.OUTPUT_SCORES: self._scores(self.tft_layer(raw))}

    @tf.function(input_signature=[])
    def catalog_items(self) -> dict[str, tf.Tensor]:
        """``item_ids`` ``[I]``: the items of ``catalog_scores``' columns, in order."""
        return {sig.OUTPUT_ITEM_IDS: self.item_ids}

    @tf.function(input_signature=[QUERY_SPEC])
    def query_embedding(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features -> ``embedding`` ``[batch, dim]``."""
        return {sig.EMBEDDING: self._embed_queries(raw)}

    @tf.function(input_signature=[CANDIDATE_SPEC])
    def candidate_embedding(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw candidate features (image bytes, "" for none) -> ``embedding`` ``[batch, dim]``."""
        return {sig.EMBEDDING: self._embed_candidates(raw)}

    def _scores(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """``[B, I]`` catalog scores of transformed query features."""
        queries = self.query_tower(features)
        if self.scorer is None:
            return tf.matmul(queries, self.item_embeddings, transpose_b=True)
        return self.scorer(
            queries,
            self.item_embeddings,
            history=tf.gather(self.positions, features[xf(fs.HIST_ITEM_IDS)]),
            recency=features[xf(fs.HIST_AGE_DAYS)],
            popularity=None if self.popularity is None else self.popularity[None, :],
        )

    def _rank(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query + candidate features of pairs -> conversion ``probability`` ``[batch]``."""
        queries = self._embed_queries({name: raw[name] for name in QUERY_SPEC})
        candidates = self._embed_candidates({name: raw[name] for name in CANDIDATE_SPEC})
        logits = self.ranking_head(tf.concat([queries, candidates], axis=-1))
        return {sig.OUTPUT_PROBABILITY: tf.sigmoid(tf.cast(logits[:, 0], tf.float32))}

    def _embed_candidates(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.candidate_tower(transform_candidates(raw, self.tft_layer))

    def _embed_queries(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.query_tower(self.tft_layer(raw))


def embed_catalog(
    catalog: pa.Table,
    *,
    tft_layer: tf.keras.Model,
    candidate_tower: CandidateTower,
    batch_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate embeddings of every catalog row, from its raw features (as serving would).

    Returns:
        ``(ids [n] str, embeddings [n, dim] float32)``.
    """
    chunks = []
    for start in range(0, catalog.num_rows, batch_size):
        raw = raw_tensors(catalog.slice(start, batch_size), fs.Side.CANDIDATE)
        chunks.append(candidate_tower(transform_candidates(raw, tft_layer)).numpy())
    ids = np.asarray(catalog[ITEM_ID].combine_chunks().flatten().to_pylist(), dtype=object)
    return ids.astype(bytes).astype(str), np.concatenate(chunks).astype(np.float32)


def build_recommender(
    *,
    tft_layer: tf.keras.Model,
    model: TwoTowerModel,
    item_ids: np.ndarray,
    item_embeddings: np.ndarray,
    k: int,
) -> Recommender:
    """The export of a trained ``model`` over ``item_embeddings`` ``[I, dim]`` (catalog order).

    With a ranking head, the export also has a ``ranking`` signature.
    """
    return Recommender(
        tft_layer=tft_layer, model=model, item_ids=item_ids, item_embeddings=item_embeddings, k=k
    )


def save_recommender(recommender: Recommender, path: str) -> None:
    """Write the SavedModel with its signatures (``ranking`` only with a ranking head)."""
    signatures = {
        sig.SERVING_SIGNATURE: recommender.recommend,
        sig.CATALOG_SCORES_SIGNATURE: recommender.catalog_scores,
        sig.CATALOG_ITEMS_SIGNATURE: recommender.catalog_items,
        sig.QUERY_EMBEDDING_SIGNATURE: recommender.query_embedding,
        sig.CANDIDATE_EMBEDDING_SIGNATURE: recommender.candidate_embedding,
    }
    if recommender.rank is not None:
        signatures[sig.RANKING_SIGNATURE] = recommender.rank
    tf.saved_model.save(recommender, path, signatures=signatures)


def embeddings_table(ids: np.ndarray, embeddings: np.ndarray, *, id_column: str) -> pa.Table:
    """Ids and their embeddings as an Arrow table (``id_column``, ``embedding`` list<float32>)."""
    flat = pa.array(embeddings.reshape(-1), type=pa.float32())
    return pa.table(
        {
            id_column: pa.array(ids, type=pa.string()),
            sig.EMBEDDING: pa.FixedSizeListArray.from_arrays(flat, embeddings.shape[1]).cast(
                pa.list_(pa.float32())
            ),
        }
    )
