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
from schemas.contract import Modality
from schemas.tables import AGE_BUCKET, BRAND, CATEGORY, COUNTRY, ITEM_ID, PRICE, USER_ID

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
    """The embedding tables both towers read."""

    def __init__(self, sizes: Vocabularies, dim: int) -> None:
        super().__init__(name="shared_embeddings")
        self.item = tf.keras.layers.Embedding(sizes.items, dim, name="item")
        self.token = tf.keras.layers.Embedding(sizes.tokens, dim, name="token")
        self.category = tf.keras.layers.Embedding(sizes.categories, dim, name="categorical")
        # Both towers' direct paths (TrainConfig.shared_space): one map for pooled words, one
        # for pooled items, so a user's words / items land where items with them do.
        self.text_space = linear(dim, "text_space")
        self.item_space = linear(dim, "item_space")


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

    def __init__(self, *, shared: SharedEmbeddings, sizes: Vocabularies, config: TrainConfig):
        super().__init__(name="query_tower")
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

        In training, ``config.user_id_dropout`` of the rows get the unseen-user id instead of
        their own (see ``TrainConfig``), so the content branches learn to place users.
        """
        cfg, shared = self.config, self.shared
        user = f[xf(USER_ID)]
        if training is True and self.user_id_dropout > 0:
            drop = tf.random.uniform(tf.shape(user)) < self.user_id_dropout
            user = tf.where(drop, tf.cast(self.unseen_user, user.dtype), user)
        parts = [self.user(user)]
        direct: list[tf.Tensor] = []  # shared-space paths, only when cfg.shared_space
        if cfg.uses(Modality.PROFILE):
            parts.append(shared.category(f[xf(COUNTRY)]) + shared.category(f[xf(AGE_BUCKET)]))
        if cfg.uses(Modality.BEHAVIOR):
            hist = f[xf(fs.HIST_ITEM_IDS)]
            weights = tf.nn.softplus(self.recency(f[xf(fs.HIST_AGE_DAYS)])[:, :, 0])
            seq = shared.item(hist) + shared.category(f[xf(fs.HIST_EVENT_TYPES)])
            parts.append(masked_mean(seq, hist, weights))
            if cfg.shared_space:
                direct.append(shared.item_space(masked_mean(shared.item(hist), hist, weights)))
            counts = tf.stack(
                [
                    f[xf(n)]
                    for n in (
                        fs.N_EVENTS,
                        fs.N_PURCHASES,
                        fs.N_SESSIONS,
                        fs.MEAN_DWELL_S,
                        fs.PURCHASE_RATE,
                    )
                ],
                axis=1,
            )
            parts.append(self.counts(counts))
        if cfg.uses(Modality.TEXT):
            tokens = f[fs.USER_TEXT_TOKENS]
            pooled = masked_mean(shared.token(tokens), tokens)
            parts.append(pooled)
            if cfg.shared_space:
                direct.append(shared.text_space(pooled))
        if cfg.uses(Modality.RELATION):
            friends = f[xf(fs.FRIEND_IDS)]
            friend_items = f[xf(fs.FRIEND_ITEM_IDS)]
            parts.append(masked_mean(self.user(friends), friends))
            pooled = masked_mean(shared.item(friend_items), friend_items)
            parts.append(pooled)
            if cfg.shared_space:
                direct.append(shared.item_space(pooled))
        return with_direct(self.out(tf.concat(parts, axis=-1)), direct)


class CandidateTower(tf.keras.Model):
    """Transformed candidate features (+ decoded image) -> ``[batch, dim]`` embedding.

    Point-in-time item popularity is deliberately not an input: with in-batch negatives it lets
    the model match a query's time (its counts grow with time) to candidates of the same time,
    which separates positives from negatives in training and means nothing at serving, where
    every candidate is as of the cut-off. Measured on the 100k shop: with it, the behavior-only
    model fell to most-popular (Recall@50 0.137); without it, 0.302, and the full model went from
    0.219 to 0.394 (ID-only 0.331). Popularity reaches retrieval through the logQ correction.

    An item whose id is out of vocabulary (never interacted with in the train window) falls into
    the OOV bucket: its content alone places it (cold start).
    """

    def __init__(self, *, shared: SharedEmbeddings, config: TrainConfig):
        super().__init__(name="candidate_tower")
        dim = config.embedding_dim
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
        self.out = dense_block(dim, "candidate_mlp")

    def call(self, f: dict[str, tf.Tensor]) -> tf.Tensor:
        """Returns ``[batch, dim]``; reads only the enabled modalities' features."""
        cfg, shared = self.config, self.shared
        parts = [shared.item(f[xf(ITEM_ID)])]
        direct = [shared.item_space(parts[0])] if cfg.shared_space else []
        if cfg.uses(Modality.PROFILE):
            parts.append(shared.category(f[xf(CATEGORY)]) + shared.category(f[xf(BRAND)]))
            parts.append(self.numbers(tf.stack([f[xf(PRICE)]], axis=1)))
        if cfg.uses(Modality.TEXT):
            tokens = f[fs.ITEM_TEXT_TOKENS]
            pooled = masked_mean(shared.token(tokens), tokens)
            parts.append(pooled)
            if cfg.shared_space:
                direct.append(shared.text_space(pooled))
        if cfg.uses(Modality.IMAGE):
            parts.append(self.image(f[IMAGE_PIXELS]) * f[IMAGE_VALID][:, None])
        if cfg.uses(Modality.RELATION):
            neighbors = f[xf(fs.NEIGHBOR_ITEM_IDS)]
            parts.append(masked_mean(shared.item(neighbors), neighbors))
        return with_direct(self.out(tf.concat(parts, axis=-1)), direct)
