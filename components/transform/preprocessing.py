"""The tensorflow-transform preprocessing_fn: raw example features -> model inputs.

Analyzers (vocabularies) run over the train window only; the resulting graph is exported with
the model, so serving applies exactly this code to raw features.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_transform as tft

from components.transform.config import TransformConfig
from components.transform.text import pad_token_ids, tokenize
from schemas.features import ITEM_TEXT, LABEL, TEXT_TOKENS_SUFFIX, transformed_name
from schemas.tables import ITEM_ID, USER_ID


def vocabulary_name(feature: str) -> str:
    """The TFT vocabulary file name of ``feature`` (train reads its size from it)."""
    return f"{feature}_vocab"


def make_preprocessing_fn(config: TransformConfig) -> Callable[[dict], dict]:
    """Build the preprocessing_fn for ``config``.

    The returned function maps ``[batch]`` raw tensors to:
    ``user_id_xf``, ``item_id_xf`` (``[batch]`` int64 vocab ids, OOV >= vocab size),
    ``item_text_tokens_xf`` (``[batch, max_text_tokens]`` int64, 0 = padding),
    ``label_xf`` (``[batch]`` float32).
    """
    top_k = config.id_vocab_size or None

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = {}
        for feature in (USER_ID, ITEM_ID):
            outputs[transformed_name(feature)] = tft.compute_and_apply_vocabulary(
                inputs[feature],
                top_k=top_k,
                num_oov_buckets=config.oov_buckets,
                vocab_filename=vocabulary_name(feature),
                store_frequency=False,
            )
        tokens = tokenize(inputs[ITEM_TEXT])
        token_ids = tft.compute_and_apply_vocabulary(
            tokens,
            top_k=config.text_vocab_size,
            num_oov_buckets=config.oov_buckets,
            vocab_filename=vocabulary_name(ITEM_TEXT),
        )
        outputs[transformed_name(ITEM_TEXT, suffix=TEXT_TOKENS_SUFFIX)] = pad_token_ids(
            token_ids, length=config.max_text_tokens
        )
        outputs[transformed_name(LABEL)] = tf.cast(inputs[LABEL], tf.float32)
        return outputs

    return preprocessing_fn
