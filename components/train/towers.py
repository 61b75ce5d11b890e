"""The query and candidate towers: small Keras models over transformed features."""

from __future__ import annotations

import tensorflow as tf

from schemas.features import ITEM_TEXT, TEXT_TOKENS_SUFFIX, transformed_name
from schemas.tables import ITEM_ID, USER_ID

USER_ID_XF = transformed_name(USER_ID)
ITEM_ID_XF = transformed_name(ITEM_ID)
ITEM_TEXT_XF = transformed_name(ITEM_TEXT, suffix=TEXT_TOKENS_SUFFIX)


class QueryTower(tf.keras.Model):
    """User id -> ``[batch, dim]`` query embedding."""

    def __init__(self, *, user_vocab_size: int, dim: int) -> None:
        super().__init__(name="query_tower")
        self.user_embedding = tf.keras.layers.Embedding(user_vocab_size, dim, name="user_id")

    def call(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """Args: features with ``user_id_xf`` ``[batch]`` int64. Returns ``[batch, dim]``."""
        return self.user_embedding(features[USER_ID_XF])


class CandidateTower(tf.keras.Model):
    """Item id and item text tokens -> ``[batch, dim]`` candidate embedding.

    An unseen item falls into the OOV id bucket, so its text still places it (cold start).
    """

    def __init__(self, *, item_vocab_size: int, text_vocab_size: int, dim: int) -> None:
        super().__init__(name="candidate_tower")
        self.item_embedding = tf.keras.layers.Embedding(item_vocab_size, dim, name="item_id")
        # +1: token id 0 is padding.
        self.token_embedding = tf.keras.layers.Embedding(
            text_vocab_size + 1, dim, mask_zero=True, name="item_text"
        )
        self.pool = tf.keras.layers.GlobalAveragePooling1D()
        self.project = tf.keras.layers.Dense(dim, name="project")

    def call(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """Args: ``item_id_xf`` ``[batch]``, ``item_text_tokens_xf`` ``[batch, tokens]``."""
        ids = self.item_embedding(features[ITEM_ID_XF])
        tokens = features[ITEM_TEXT_XF]
        text = self.pool(self.token_embedding(tokens), mask=tf.not_equal(tokens, 0))
        return self.project(tf.concat([ids, text], axis=-1))
