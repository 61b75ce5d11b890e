"""Text features: tokenization shared by the TFT graph and therefore by serving."""

from __future__ import annotations

import tensorflow as tf

# Letters and digits make tokens; everything else separates them.
_NON_WORD = r"[^\p{L}\p{N}]+"


def tokenize(text: tf.Tensor) -> tf.RaggedTensor:
    """Lower-case word tokens of each string.

    Args:
        text: ``[batch]`` strings.

    Returns:
        ``[batch, (tokens)]`` ragged strings; an empty or null text gives no tokens.
    """
    lowered = tf.strings.lower(text, encoding="utf-8")
    spaced = tf.strings.regex_replace(lowered, _NON_WORD, " ")
    return tf.strings.split(tf.strings.strip(spaced))


def pad_token_ids(ids: tf.RaggedTensor, *, length: int) -> tf.Tensor:
    """Shift ragged token ids by one (0 becomes padding) and pad/cut to ``length``.

    Args:
        ids: ``[batch, (tokens)]`` int64 vocabulary ids, OOV ids included.
        length: Tokens kept per row.

    Returns:
        ``[batch, length]`` int64, 0 where there is no token.
    """
    shifted = ids + 1
    return shifted[:, :length].to_tensor(default_value=0, shape=[None, length])
