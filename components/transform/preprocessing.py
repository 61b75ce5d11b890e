"""The tensorflow-transform preprocessing_fn: raw features -> model inputs, for every modality.

One function transforms both kinds of rows TFT sees: training examples (user_id set) and
catalog rows (user_id ""). Analyzers run over the train window only (the examples) plus the
catalog's content, each statistic over the rows it describes (query statistics over examples,
content statistics over catalog rows). The graph is exported with the model, so serving applies
exactly this code to raw features.

Conventions of the outputs:
- id-like features (users, items, categories, tokens, event types, recency buckets) are vocabulary
  index + 1, with 0 for padding / missing; OOV ids get their own bucket(s) above the vocabulary;
- counts are log1p then z-scored; rates stay in [0, 1];
- image bytes pass through unchanged: the model decodes them (``components.transform.image``),
  once per catalog item rather than once per example row;
- precomputed image embeddings are L2-normalized, with a flag: 1.0 where the item has one, 0.0
  (and zeros) where the row is all zeros (no embedding).
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
import tensorflow_transform as tft

from components.transform.config import TransformConfig
from components.transform.image import unit_embeddings
from components.transform.text import pad_token_ids, tokenize
from schemas import features as fs
from schemas.tables import AGE_BUCKET, BRAND, CATEGORY, COUNTRY, ITEM_ID, PRICE, USER_ID

QUERY_COUNTS = (fs.N_EVENTS, fs.N_PURCHASES, fs.N_SESSIONS, fs.MEAN_DWELL_S)
CONTENT_COUNTS = (PRICE,)
RATES = (fs.PURCHASE_RATE,)


def make_preprocessing_fn(config: TransformConfig) -> Callable[[dict], dict]:
    """Build the preprocessing_fn; ``config`` sets vocabulary sizes, OOV buckets, text length."""
    oov = config.oov_buckets

    def ids(values: tf.Tensor, vocab: tf.Tensor) -> tf.Tensor:
        """Vocabulary index + 1; 0 for "" (padding / missing)."""
        index = tft.apply_vocabulary(values, vocab, num_oov_buckets=oov)
        return tf.where(tf.equal(values, fs.PAD), tf.zeros_like(index), index + 1)

    def zscores(columns: dict[str, tf.Tensor], mask: tf.Tensor) -> dict[str, tf.Tensor]:
        """log1p then z-score each column, statistics over the rows ``mask`` selects.

        One vector mean/variance analyzer for all columns: every analyzer adds Beam stages,
        and their setup, not the rows, dominated this stage's time at 100k rows (profiled).
        """
        logged = tf.math.log1p(tf.maximum(tf.stack(list(columns.values()), axis=1), 0.0))
        chosen = tf.boolean_mask(logged, mask)
        mean = tft.mean(chosen, reduce_instance_dims=False)
        var = tft.var(chosen, reduce_instance_dims=False)
        scaled = (logged - mean) / tf.sqrt(var + 1e-6)
        return {name: scaled[:, i] for i, name in enumerate(columns)}

    def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        is_example = tf.not_equal(inputs[USER_ID], fs.PAD)
        is_catalog = tf.logical_not(is_example)
        out = {}

        # Ids: one item vocabulary for targets, histories, neighbours' items (shared embedding);
        # only interactions in the train window build it, so an item nobody touched is OOV and
        # its content alone places it (cold start).
        observed_items = tf.concat(
            [
                tf.boolean_mask(inputs[ITEM_ID], is_example),
                tf.reshape(tf.boolean_mask(inputs[fs.HIST_ITEM_IDS], is_example), [-1]),
            ],
            axis=0,
        )
        item_vocab = tft.vocabulary(
            _non_pad(observed_items),
            top_k=config.id_vocab_size or None,
            vocab_filename=fs.ITEM_VOCAB,
        )
        for name in fs.ITEM_ID_FEATURES:
            out[fs.transformed_name(name)] = ids(inputs[name], item_vocab)
        user_vocab = tft.vocabulary(
            _non_pad(tf.boolean_mask(inputs[USER_ID], is_example)),
            top_k=config.id_vocab_size or None,
            vocab_filename=fs.USER_VOCAB,
        )
        for name in fs.USER_ID_FEATURES:
            out[fs.transformed_name(name)] = ids(inputs[name], user_vocab)

        # Categorical profile and content attributes: one vocabulary of "feature=value" tokens,
        # each feature's values taken from the rows it describes.
        categorical = {
            COUNTRY: is_example,
            AGE_BUCKET: is_example,
            CATEGORY: is_catalog,
            BRAND: is_catalog,
            fs.HIST_EVENT_TYPES: is_example,
        }
        tagged = {name: _tag(name, inputs[name]) for name in categorical}
        categorical_vocab = tft.vocabulary(
            tf.concat(
                [_non_pad(tf.boolean_mask(tagged[n], m)) for n, m in categorical.items()], axis=0
            ),
            vocab_filename=fs.CATEGORICAL_VOCAB,
        )
        for name in categorical:
            out[fs.transformed_name(name)] = ids(tagged[name], categorical_vocab)

        # Text: one vocabulary over users' texts (examples) and items' texts (catalog).
        user_tokens = tokenize(inputs[fs.USER_TEXT])
        item_tokens = tokenize(inputs[fs.ITEM_TEXT])
        text_vocab = tft.vocabulary(
            tf.concat(
                [
                    tf.ragged.boolean_mask(user_tokens, is_example).flat_values,
                    tf.ragged.boolean_mask(item_tokens, is_catalog).flat_values,
                ],
                axis=0,
            ),
            top_k=config.text_vocab_size,
            vocab_filename=fs.TEXT_VOCAB,
        )
        for name, tokens in ((fs.USER_TEXT, user_tokens), (fs.ITEM_TEXT, item_tokens)):
            token_ids = tft.apply_vocabulary(tokens, text_vocab, num_oov_buckets=oov)
            out[fs.output_names(name)[0]] = pad_token_ids(token_ids, length=config.max_text_tokens)

        # Behavior: recency buckets (0 = padding), counts z-scored over examples, rates as is.
        ages = inputs[fs.HIST_AGE_DAYS]
        buckets = tf.cast(
            tf.raw_ops.Bucketize(input=ages, boundaries=list(fs.RECENCY_BOUNDARIES)), tf.int64
        )
        out[fs.transformed_name(fs.HIST_AGE_DAYS)] = tf.where(
            ages < 0, tf.zeros_like(buckets), buckets + 1
        )
        query_counts = zscores({n: inputs[n] for n in QUERY_COUNTS}, is_example)
        content_counts = zscores({n: inputs[n] for n in CONTENT_COUNTS}, is_catalog)
        for name, value in {**query_counts, **content_counts}.items():
            out[fs.transformed_name(name)] = value
        for name in RATES:
            out[fs.transformed_name(name)] = tf.clip_by_value(inputs[name], 0.0, 1.0)

        # Images: bytes pass through; decoding them per example row would materialize
        # IMAGE_SIZE^2 * 3 floats for every interaction (measured: most of the stage's time).
        out[fs.transformed_name(fs.IMAGE)] = inputs[fs.IMAGE]
        # Precomputed embeddings: unit vectors and a flag (all zeros in: missing, flag 0).
        unit, valid = unit_embeddings(inputs[fs.IMAGE_EMBEDDING])
        out[fs.IMAGE_EMBEDDING_UNIT] = unit
        out[fs.IMAGE_EMBEDDING_VALID] = valid

        out[fs.transformed_name(fs.LABEL)] = inputs[fs.LABEL]
        out[fs.transformed_name(fs.WEIGHT)] = inputs[fs.WEIGHT]
        out[fs.transformed_name(fs.EVENT_DAY)] = inputs[fs.EVENT_DAY]
        return out

    return preprocessing_fn


def _tag(name: str, values: tf.Tensor) -> tf.Tensor:
    """``"name=value"`` tokens; padding stays padding."""
    return tf.where(tf.equal(values, fs.PAD), values, tf.strings.join([name, "=", values]))


def _non_pad(values: tf.Tensor) -> tf.Tensor:
    """``values`` without padding entries (flattened)."""
    flat = tf.reshape(values, [-1])
    return tf.boolean_mask(flat, tf.not_equal(flat, fs.PAD))
