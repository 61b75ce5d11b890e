"""Text features: a user's recent texts (Arrow) and tokenization in the TFT graph.

Tokenizing inside the graph means serving tokenizes exactly as training did.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf

from components.transform.codes import encode, gather_strings, micros
from components.transform.timeline import lookback
from schemas.features import USER_TEXTS
from schemas.tables import QUERY, TEXT, TS, USER_ID

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


def user_texts(
    reviews: pa.Table, events: pa.Table, users: pa.Array, at: np.ndarray, *, dictionary: pa.Array
) -> pa.Array:
    """Each (user, time) query's last USER_TEXTS reviews and search queries, joined by spaces.

    Args:
        reviews: Canonical reviews (user_id, text, ts).
        events: Canonical events (user_id, query, ts); events without a query are skipped.
        users: ``[queries]`` user ids.
        at: ``[queries]`` int64 epoch microseconds; only texts written strictly before count.
        dictionary: Code book covering the user ids.

    Returns:
        ``[queries]`` strings ("" for a user who wrote nothing before the time).
    """
    with_query = events.filter(pc.invert(pc.is_null(events[QUERY])))
    authors = pa.concat_arrays(
        [
            reviews[USER_ID].combine_chunks().cast(pa.string()),
            with_query[USER_ID].combine_chunks().cast(pa.string()),
        ]
    )
    texts = pa.concat_arrays(
        [
            reviews[TEXT].combine_chunks().cast(pa.string()),
            with_query[QUERY].combine_chunks().cast(pa.string()),
        ]
    )
    times = np.concatenate([micros(reviews[TS]), micros(with_query[TS])])
    lb = lookback(encode(authors, dictionary), times, encode(users, dictionary), at)
    last = gather_strings(texts, lb.last(USER_TEXTS), pad="")
    return pc.utf8_trim_whitespace(pc.binary_join(last, " "))
