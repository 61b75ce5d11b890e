"""The query and candidate towers: small Keras models over transformed features.

Embedding tables are shared where the ids are the same things: one item table for candidate
ids, users' histories, friends' items and items' neighbours; one token table for user and item
text; one table for all small categoricals. A switched-off modality's branch is not built, so
the ID-only model is this code with every content modality off.

Two things make the content branches carry signal on their own (the planted-signal ablation in
tests/bench/test_quality_bench.py measured both): in training, a share of the user ids is replaced
by the unseen-user id (``TrainConfig.user_id_dropout``), or the always-on id embedding of a warm
user absorbs what history and friends say; and pooled words and pooled items reach both towers'
outputs through maps shared by the towers (``TrainConfig.shared_space``), so a user's words score
items with those words, and friends' items score items near them, though no training example
links a text user's words (or a relation user's friends) to their later items.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from components.train.config import TrainConfig
from schemas import features as fs
from schemas.contract import Modality, Side

xf = fs.transformed_name
# Decoded image inputs of the candidate tower (the model decodes bytes; see export/catalog).
IMAGE_PIXELS = "image_pixels"
IMAGE_VALID = "image_valid"


@dataclasses.dataclass(frozen=True)
class Vocabularies:
    """Rows each shared embedding table needs (vocabulary + OOV buckets + 1 for padding)."""

    users: int
    items: int
    tokens: int
    categories: int


class SharedEmbeddings(tf.keras.layers.Layer):
    """The embedding tables both towers read, one per shared vocabulary (``fs.vocabulary_name``)."""

    def __init__(self, sizes: Vocabularies, dim: int) -> None:
        super().__init__(name="shared_embeddings")
        self.item = tf.keras.layers.Embedding(sizes.items, dim, name="item")
        self.token = tf.keras.layers.Embedding(sizes.tokens, dim, name="token")
        self.category = tf.keras.layers.Embedding(sizes.categories, dim, name="categorical")
        # Both towers' direct paths (TrainConfig.shared_space): one map for pooled words, one
        # for pooled items, so a user's words / items land where items with them do.
        self.text_space = linear(dim, "text_space")
        self.item_space = linear(dim, "item_space")

    def table(self, feature: fs.Feature) -> tf.keras.layers.Embedding:
        """The shared table a string feature's ids index (by its vocabulary)."""
        return {
            fs.ITEM_VOCAB: self.item,
            fs.TEXT_VOCAB: self.token,
            fs.CATEGORICAL_VOCAB: self.category,
        }[fs.vocabulary_name(feature.name)]


def scalars(side: Side, modality: Modality, *, strings: bool) -> tuple[fs.Feature, ...]:
    """One side's declared single-value features of ``modality``: strings or numbers."""
    return tuple(
        f for f in fs.features(side, modality) if f.length is None and f.is_string == strings
    )


def sequences(side: Side, modality: Modality) -> tuple[fs.Feature, ...]:
    """One side's declared fixed-length sequence features of ``modality``."""
    return tuple(f for f in fs.features(side, modality) if f.length is not None)


def summed(embedded: list[tf.Tensor]) -> tf.Tensor:
    """``embedded[0] + embedded[1] + ...``, in that order."""
    out = embedded[0]
    for more in embedded[1:]:
        out = out + more
    return out


def masked_mean(vectors: tf.Tensor, ids: tf.Tensor, weights: tf.Tensor | None = None) -> tf.Tensor:
    """Mean of ``[batch, n, dim]`` over positions whose id is not 0 (padding); zeros if none.

    Args:
        vectors: ``[batch, n, dim]``.
        ids: ``[batch, n]`` int64, 0 = padding.
        weights: Optional ``[batch, n]`` non-negative weights (recency).
    """
    mask = tf.cast(tf.not_equal(ids, 0), vectors.dtype)
    if weights is not None:
        mask = mask * tf.cast(weights, vectors.dtype)
    total = tf.reduce_sum(mask, axis=1, keepdims=True)
    return tf.reduce_sum(vectors * mask[:, :, None], axis=1) / tf.maximum(total, 1e-6)


def pooled_lookup(
    table: tf.keras.layers.Embedding, ids: tf.Tensor, weights: tf.Tensor | None = None
) -> tf.Tensor:
    """``masked_mean(table(ids), ids, weights)`` as one sparse-dense matrix product.

    The ids become a ``[batch, vocabulary]`` sparse matrix of mean weights times the table: the
    ``[batch, n, dim]`` gather is never materialized and the table's gradient comes out dense.
    That is what the candidate tower wants over the whole catalog (every step of the exact
    softmax pools every item's text and neighbours: on Amazon 2014 grocery this made the
    catalog pass about 2x faster); over a batch of a huge vocabulary, the gather is cheaper.

    Args:
        table: The embedding table ``ids`` index.
        ids: ``[batch, n]`` int ids, 0 = padding.
        weights: Optional ``[batch, n]`` non-negative weights.
    """
    if not table.built:
        table.build((None,))
    at = tf.where(tf.not_equal(ids, 0))  # [nnz, 2]
    rows = at[:, 0]
    cols = tf.cast(tf.gather_nd(ids, at), tf.int64)
    value = tf.ones_like(rows, tf.float32) if weights is None else tf.gather_nd(weights, at)
    value = tf.cast(value, tf.float32)
    batch = tf.shape(ids, out_type=tf.int64)[0]
    total = tf.math.unsorted_segment_sum(value, rows, batch)
    value = value / tf.gather(tf.maximum(total, 1e-6), rows)
    vocabulary = tf.shape(table.embeddings, out_type=tf.int64)[0]
    matrix = tf.sparse.SparseTensor(tf.stack([rows, cols], axis=1), value, [batch, vocabulary])
    return tf.sparse.sparse_dense_matmul(matrix, table.embeddings)


def linear(dim: int, name: str) -> tf.keras.layers.Dense:
    """A bias-free float32 map ``[batch, dim] -> [batch, dim]`` (a shared-space direct path)."""
    return tf.keras.layers.Dense(dim, use_bias=False, dtype="float32", name=name)


def with_direct(out: tf.Tensor, direct: list[tf.Tensor]) -> tf.Tensor:
    """``out`` plus the shared-space direct paths (none when ``shared_space`` is off)."""
    return out + tf.add_n([tf.cast(d, out.dtype) for d in direct]) if direct else out


def dense_block(dim: int, name: str) -> tf.keras.Sequential:
    """Two dense layers: ``[batch, any] -> [batch, dim]``."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.Dense(2 * dim, activation="relu"),
            # float32 output even under mixed precision: scores and losses stay stable.
            tf.keras.layers.Dense(dim, dtype="float32"),
        ],
        name=name,
    )


class QueryTower(tf.keras.Model):
    """Transformed query features -> ``[batch, dim]`` query embedding."""

    def __init__(
        self,
        *,
        shared: SharedEmbeddings,
        sizes: Vocabularies,
        config: TrainConfig,
        item_tokens: tf.Tensor | None = None,
    ):
        super().__init__(name="query_tower")
        # [item id rows, T] text tokens of each item (0 = none): the history's own words.
        self.item_tokens = item_tokens if config.history_text else None
        dim = config.embedding_dim
        self.shared = shared
        self.config = config
        self.user = tf.keras.layers.Embedding(sizes.users, dim, name="user_id")
        # The last row is an out-of-vocabulary bucket: where an unseen user id lands.
        self.unseen_user = sizes.users - 1
        self.user_id_dropout = config.user_id_dropout if config.query_content else 0.0
        if config.uses(Modality.BEHAVIOR):
            # One learned weight per recency bucket (+ padding) pools the history.
            self.recency = tf.keras.layers.Embedding(
                len(fs.RECENCY_BOUNDARIES) + 2, 1, embeddings_initializer="ones", name="recency"
            )
            self.counts = tf.keras.layers.Dense(dim, name="behavior_counts")
        self.out = dense_block(dim, "query_mlp")

    def call(self, f: dict[str, tf.Tensor], training: bool | None = None) -> tf.Tensor:
        """Returns ``[batch, dim]``; reads only the enabled modalities' features.

        Each branch reads the query features ``schemas.features`` declares for its modality:
        profile strings are embedded in their shared tables and summed; behavior is the aligned
        history sequences (the item-id one masks them, the float one weighs them by recency,
        the string ones are embedded and summed) pooled, plus the counts through one dense
        layer; each text is pooled tokens; each relation sequence is pooled on its own.

        In training, ``config.user_id_dropout`` of the rows get the unseen-user id instead of
        their own (see ``TrainConfig``), so the content branches learn to place users.
        """
        cfg, shared, side = self.config, self.shared, Side.QUERY
        (user_id,) = fs.features(side, Modality.ID)
        user = f[xf(user_id.name)]
        if training is True and self.user_id_dropout > 0:
            drop = tf.random.uniform(tf.shape(user)) < self.user_id_dropout
            user = tf.where(drop, tf.cast(self.unseen_user, user.dtype), user)
        parts = [self.user(user)]
        direct: list[tf.Tensor] = []  # shared-space paths, only when cfg.shared_space
        if cfg.uses(Modality.PROFILE):
            profile = scalars(side, Modality.PROFILE, strings=True)
            parts.append(summed([shared.table(x)(f[xf(x.name)]) for x in profile]))
        if cfg.uses(Modality.BEHAVIOR):
            history = sequences(side, Modality.BEHAVIOR)
            (items,) = [x for x in history if fs.vocabulary_name(x.name) == fs.ITEM_VOCAB]
            (ages,) = [x for x in history if not x.is_string]
            hist = f[xf(items.name)]
            weights = tf.nn.softplus(self.recency(f[xf(ages.name)])[:, :, 0])
            seq = summed([shared.table(x)(f[xf(x.name)]) for x in history if x.is_string])
            parts.append(masked_mean(seq, hist, weights))
            if cfg.shared_space:
                direct.append(shared.item_space(masked_mean(shared.item(hist), hist, weights)))
            counts = scalars(side, Modality.BEHAVIOR, strings=False)
            parts.append(self.counts(tf.stack([f[xf(x.name)] for x in counts], axis=1)))
            if cfg.uses(Modality.TEXT) and self.item_tokens is not None:
                # The words of the items in the history (their catalog text), weighted by the
                # history's recency: the words a user shops for, read from what they bought.
                tokens = tf.gather(self.item_tokens, hist)  # [B, L, T]
                width = tf.shape(tokens)[2]
                flat = tf.reshape(tokens, [tf.shape(tokens)[0], -1])
                per_token = tf.reshape(tf.repeat(weights, width, axis=1), tf.shape(flat))
                pooled = pooled_lookup(shared.token, flat, per_token)
                parts.append(pooled)
                if cfg.shared_space:
                    direct.append(shared.text_space(pooled))
        if cfg.uses(Modality.TEXT):
            for text in fs.features(side, Modality.TEXT):
                tokens = f[fs.output_names(text.name)[0]]
                pooled = masked_mean(shared.token(tokens), tokens)
                parts.append(pooled)
                if cfg.shared_space:
                    direct.append(shared.text_space(pooled))
        if cfg.uses(Modality.RELATION):
            for neighbors in sequences(side, Modality.RELATION):
                ids = f[xf(neighbors.name)]
                users = fs.vocabulary_name(neighbors.name) == fs.USER_VOCAB
                pooled = masked_mean((self.user if users else shared.table(neighbors))(ids), ids)
                parts.append(pooled)
                if cfg.shared_space and not users:
                    direct.append(shared.item_space(pooled))
        return with_direct(self.out(tf.concat(parts, axis=-1)), direct)


class CandidateTower(tf.keras.Model):
    """Transformed candidate features (+ decoded image) -> ``[batch, dim]`` embedding.

    An item's image reaches it two ways, both under the image modality: its bytes, decoded in
    the graph and through a small CNN, and its precomputed embedding (``items.image_embedding``,
    e.g. from the shop's own CLIP-style encoder), L2-normalized by the transform, with a flag
    that says whether the item has one.

    Point-in-time item popularity is deliberately not an input (nor computed): with in-batch
    negatives it lets the model match a query's time (its counts grow with time) to candidates
    of the same time, which separates positives from negatives in training and means nothing at
    serving, where every candidate is as of the cut-off. Measured on the 100k shop: with it, the
    behavior-only model fell to most-popular (Recall@50 0.137); without it, 0.302, and the full
    model went from 0.219 to 0.394 (ID-only 0.331). Popularity reaches retrieval through the logQ
    correction.

    An item whose id is out of vocabulary (never interacted with in the train window) falls into
    the OOV bucket: its content alone places it (cold start).
    """

    def __init__(
        self, *, shared: SharedEmbeddings, config: TrainConfig, sparse_pooling: bool = False
    ):
        super().__init__(name="candidate_tower")
        dim = config.embedding_dim
        # Pool sequences with pooled_lookup (the exact softmax runs this tower over the whole
        # catalog at every step) instead of a gather.
        self.pool = pooled_lookup if sparse_pooling else (lambda t, ids: masked_mean(t(ids), ids))
        self.shared = shared
        self.config = config
        if config.uses(Modality.PROFILE):
            self.numbers = tf.keras.layers.Dense(dim, name="price")
        if config.uses(Modality.IMAGE):
            self.image = tf.keras.Sequential(
                [
                    tf.keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
                    tf.keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
                    tf.keras.layers.GlobalAveragePooling2D(),
                    tf.keras.layers.Dense(dim),
                ],
                name="image_cnn",
            )
            # The precomputed embedding (unit vector) and its flag: a missing one adds only the
            # layer's bias, so the flag can tell "no embedding" from "an embedding near zero".
            self.image_embedding = tf.keras.layers.Dense(dim, name="image_embedding")
        self.out = dense_block(dim, "candidate_mlp")

    def call(self, f: dict[str, tf.Tensor]) -> tf.Tensor:
        """Returns ``[batch, dim]``; reads only the enabled modalities' features.

        Each branch reads the candidate features ``schemas.features`` declares for its modality:
        profile strings embedded and summed, profile numbers through one dense layer; each text
        pooled tokens; the image decoded by the model (``IMAGE_PIXELS``, ``IMAGE_VALID``)
        beside the precomputed embedding, a unit vector and its flag
        (``IMAGE_EMBEDDING_UNIT [batch, IMAGE_EMBEDDING_LEN]``, ``IMAGE_EMBEDDING_VALID
        [batch]``) through one dense layer; each relation sequence pooled.
        """
        cfg, shared, side = self.config, self.shared, Side.CANDIDATE
        (item_id,) = fs.features(side, Modality.ID)
        parts = [shared.item(f[xf(item_id.name)])]
        direct = [shared.item_space(parts[0])] if cfg.shared_space else []
        if cfg.uses(Modality.PROFILE):
            profile = scalars(side, Modality.PROFILE, strings=True)
            parts.append(summed([shared.table(x)(f[xf(x.name)]) for x in profile]))
            numbers = scalars(side, Modality.PROFILE, strings=False)
            parts.append(self.numbers(tf.stack([f[xf(x.name)] for x in numbers], axis=1)))
        if cfg.uses(Modality.TEXT):
            for text in fs.features(side, Modality.TEXT):
                tokens = f[fs.output_names(text.name)[0]]
                pooled = self.pool(shared.token, tokens)
                parts.append(pooled)
                if cfg.shared_space:
                    direct.append(shared.text_space(pooled))
        if cfg.uses(Modality.IMAGE):
            # The declared image feature (bytes) arrives decoded: see catalog/export.
            parts.append(self.embed_images(f[IMAGE_PIXELS], f[IMAGE_VALID]))
            unit, valid = (f[name] for name in fs.output_names(fs.IMAGE_EMBEDDING))
            flagged = tf.concat([unit, tf.cast(valid, unit.dtype)[:, None]], axis=1)
            parts.append(self.image_embedding(flagged))
        if cfg.uses(Modality.RELATION):
            for neighbors in sequences(side, Modality.RELATION):
                ids = f[xf(neighbors.name)]
                parts.append(self.pool(shared.table(neighbors), ids))
        return with_direct(self.out(tf.concat(parts, axis=-1)), direct)

    def embed_images(self, pixels: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
        """``[B, d]`` image embeddings: the CNN of the rows with a valid image, zeros elsewhere.

        Only those rows go through the CNN: scoring the whole catalog at every step (the exact
        softmax) would otherwise convolve every item's blank image (Amazon 2014 grocery has no
        images: 8.7k blank images a step made a step 10x slower).
        """
        rows = tf.where(valid > 0)[:, 0]
        # Row 0 rides along so the CNN never sees an empty batch (oneDNN's convolution fails
        # on one); its result is dropped.
        embedded = self.image(tf.gather(pixels, tf.concat([[0], rows], axis=0)))[1:]
        shape = tf.stack(
            [tf.shape(pixels, out_type=tf.int64)[0], tf.shape(embedded, out_type=tf.int64)[1]]
        )
        return tf.scatter_nd(rows[:, None], embedded, shape)
