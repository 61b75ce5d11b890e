"""Names and specs of the features that cross from transform to train and serving.

Raw example features are built by the transform stage from the ingested tables; the transformed
names come from ``transformed_name`` only, so no stage types a feature-name literal.
"""

from __future__ import annotations

import pyarrow as pa
import tensorflow as tf

from schemas.tables import ITEM_ID, USER_ID

# Raw example features that are not columns of a raw table.
ITEM_TEXT = "item_text"  # item title + description
LABEL = "label"  # ranking-head target (rating, or 1.0 for an implicit interaction)

TEXT_TOKENS_SUFFIX = "_tokens"


def transformed_name(name: str, *, suffix: str = "") -> str:
    """The name a raw feature gets after the transform (``user_id`` -> ``user_id_xf``)."""
    return f"{name}{suffix}_xf"


# Query-side raw features (what serving takes for a user) and candidate-side ones (for an item).
# The transform stage writes one serving request per user and window with exactly the query
# features as columns; evaluate feeds those to the exported model unchanged.
QUERY_FEATURES = (USER_ID,)
CANDIDATE_FEATURES = (ITEM_ID, ITEM_TEXT)


def example_feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    """The TFT raw feature spec of a training example: every feature one value per example."""
    return {
        USER_ID: tf.io.FixedLenFeature([], tf.string),
        ITEM_ID: tf.io.FixedLenFeature([], tf.string),
        ITEM_TEXT: tf.io.FixedLenFeature([], tf.string),
        LABEL: tf.io.FixedLenFeature([], tf.float32),
    }


def example_arrow_schema() -> pa.Schema:
    """The Arrow schema TFT's Parquet reader expects for ``example_feature_spec``.

    tfx_bsl derives large_list<large_binary> / large_list<float32> columns from a TFT schema and
    rejects anything else ("Expected same schema"), so raw examples are written with these types.
    """
    arrow_of = {
        tf.string: pa.large_list(pa.large_binary()),
        tf.float32: pa.large_list(pa.float32()),
        tf.int64: pa.large_list(pa.int64()),
    }
    return pa.schema([(name, arrow_of[f.dtype]) for name, f in example_feature_spec().items()])
