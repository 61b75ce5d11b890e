"""The feature contract between transform, train, evaluate and serving, declared once.

Raw features are what the transform stage's Arrow/Beam feature builder writes (one row per
training example, per serving request, or per catalog item) and what the exported model's
signatures take. Each is declared here with its side (query / candidate / label), modality,
dtype and fixed length; the TFT raw feature spec, the Arrow schema TFT reads, and the serving
signature's input specs are derived from these declarations. Transformed names come from
``transformed_name`` only.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import tensorflow as tf

from schemas.contract import Modality, Side
from schemas.tables import (
    AGE_BUCKET,
    BRAND,
    CATEGORY,
    COUNTRY,
    IMAGE_EMBEDDING,
    ITEM_ID,
    PRICE,
    USER_ID,
)

# Sequence lengths: how much context one example carries.
HISTORY_LEN = 20  # a user's last interactions before the cut-off
FRIENDS_LEN = 10  # a user's social neighbours
FRIEND_ITEMS_LEN = 10  # items the neighbours interacted with last, before the cut-off
NEIGHBORS_LEN = 10  # an item's also-bought / also-viewed neighbours
USER_TEXTS = 3  # a user's last reviews / queries joined into one text
IMAGE_SIZE = 32  # decoded images are resized to IMAGE_SIZE x IMAGE_SIZE x 3
# Width of a precomputed image embedding (items.image_embedding; the generator's
# images.EMBEDDING_DIM). A catalog with another width is refused by the transform, naming it
# (components/transform/embeddings.py): padding or cutting a vector is lossy and silent. A shop
# with its own encoder (CLIP: 512) sets this to its width.
IMAGE_EMBEDDING_LEN = 8

PAD = ""  # padding of string sequences (never a valid id)
NO_AGE = -1.0  # padding of the history recency sequence


@dataclasses.dataclass(frozen=True)
class Feature:
    """One raw feature.

    Attributes:
        name: Column name in example/request Parquet and signature input name.
        dtype: tf.string, tf.float32 or tf.int64.
        side: The tower (or head) it feeds.
        modality: What switching a modality off removes.
        length: None for one value per row, else a fixed-length sequence (padded).
    """

    name: str
    dtype: tf.dtypes.DType
    side: Side
    modality: Modality
    length: int | None = None

    @property
    def is_string(self) -> bool:
        """True for string (and bytes) features."""
        return self.dtype == tf.string

    @property
    def padding(self) -> str | float:
        """What a value of this feature is where there is none (a missing or padded entry)."""
        if self.is_string:
            return PAD
        return NO_AGE if self.name == HIST_AGE_DAYS else 0.0

    @property
    def shape(self) -> list[int]:
        """Per-row shape: ``[]`` or ``[length]``."""
        return [] if self.length is None else [self.length]

    def tensor_spec(self) -> tf.TensorSpec:
        """The batched TensorSpec a serving signature takes for this feature."""
        return tf.TensorSpec([None, *self.shape], self.dtype, name=self.name)


# Raw feature names that are not columns of a raw table.
HIST_ITEM_IDS = "hist_item_ids"
HIST_EVENT_TYPES = "hist_event_types"
HIST_AGE_DAYS = "hist_age_days"
USER_TEXT = "user_text"
FRIEND_IDS = "friend_ids"
FRIEND_ITEM_IDS = "friend_item_ids"
N_EVENTS = "n_events"
N_PURCHASES = "n_purchases"
PURCHASE_RATE = "purchase_rate"
MEAN_DWELL_S = "mean_dwell_s"
N_SESSIONS = "n_sessions"
ITEM_TEXT = "item_text"
IMAGE = "image"
NEIGHBOR_ITEM_IDS = "neighbor_item_ids"
LABEL = "label"
WEIGHT = "weight"
EVENT_DAY = "event_day"

_Q, _C, _L = Side.QUERY, Side.CANDIDATE, Side.LABEL
_S, _F = tf.string, tf.float32
M = Modality

# Every query and candidate feature here reaches a tower when its modality is on (the towers
# choose their inputs from these declarations; tests/unit/train/test_towers.py checks it): a
# feature no tower reads is not declared, so it is neither computed nor analyzed.
FEATURES: tuple[Feature, ...] = (
    Feature(USER_ID, _S, _Q, M.ID),
    Feature(COUNTRY, _S, _Q, M.PROFILE),
    Feature(AGE_BUCKET, _S, _Q, M.PROFILE),
    Feature(HIST_ITEM_IDS, _S, _Q, M.BEHAVIOR, HISTORY_LEN),
    Feature(HIST_EVENT_TYPES, _S, _Q, M.BEHAVIOR, HISTORY_LEN),
    Feature(HIST_AGE_DAYS, _F, _Q, M.BEHAVIOR, HISTORY_LEN),
    # The query tower stacks these counts in this order (one dense layer over them).
    Feature(N_EVENTS, _F, _Q, M.BEHAVIOR),
    Feature(N_PURCHASES, _F, _Q, M.BEHAVIOR),
    Feature(N_SESSIONS, _F, _Q, M.BEHAVIOR),
    Feature(MEAN_DWELL_S, _F, _Q, M.BEHAVIOR),
    Feature(PURCHASE_RATE, _F, _Q, M.BEHAVIOR),
    Feature(USER_TEXT, _S, _Q, M.TEXT),
    Feature(FRIEND_IDS, _S, _Q, M.RELATION, FRIENDS_LEN),
    Feature(FRIEND_ITEM_IDS, _S, _Q, M.RELATION, FRIEND_ITEMS_LEN),
    Feature(ITEM_ID, _S, _C, M.ID),
    Feature(ITEM_TEXT, _S, _C, M.TEXT),
    Feature(CATEGORY, _S, _C, M.PROFILE),
    Feature(BRAND, _S, _C, M.PROFILE),
    Feature(PRICE, _F, _C, M.PROFILE),
    Feature(IMAGE, _S, _C, M.IMAGE),
    # A precomputed image embedding, all zeros when the item has none (the model L2-normalizes
    # it and flags the zeros: IMAGE_EMBEDDING_VALID).
    Feature(IMAGE_EMBEDDING, _F, _C, M.IMAGE, IMAGE_EMBEDDING_LEN),
    Feature(NEIGHBOR_ITEM_IDS, _S, _C, M.RELATION, NEIGHBORS_LEN),
    Feature(LABEL, _F, _L, M.BEHAVIOR),
    Feature(WEIGHT, _F, _L, M.BEHAVIOR),
    # When the example's event happened (days since the epoch; catalog rows: 0). Training
    # only: it picks the examples before the validation cut-off, the point-in-time popularity
    # each example is scored against, and the recency weight of the example.
    Feature(EVENT_DAY, _F, _L, M.BEHAVIOR),
)


def features(side: Side | None = None, modality: Modality | None = None) -> tuple[Feature, ...]:
    """Declared features (all, or one side's, or one side's of one modality), in order."""
    return tuple(
        f
        for f in FEATURES
        if (side is None or f.side is side) and (modality is None or f.modality is modality)
    )


def feature(name: str) -> Feature:
    """The declared feature called ``name``.

    Raises:
        KeyError: naming the features that exist.
    """
    for f in FEATURES:
        if f.name == name:
            return f
    raise KeyError(f"no feature {name!r}; features: {[f.name for f in FEATURES]}")


QUERY_FEATURES = tuple(f.name for f in features(Side.QUERY))
CANDIDATE_FEATURES = tuple(f.name for f in features(Side.CANDIDATE))
LABEL_FEATURES = tuple(f.name for f in features(Side.LABEL))
# Candidate features an example carries itself (the item it is about); the rest is the item's
# content, the same in every example of that item, so examples do not repeat it: the trainer
# gathers it from the transformed catalog.
DYNAMIC_CANDIDATE_FEATURES = (ITEM_ID,)

# --- Transformed names: what the transform writes and the towers read -------------------------

TEXT_TOKENS_SUFFIX = "_tokens"
VALID_SUFFIX = "_valid"
# Days-before-cut-off boundaries of the history recency buckets (fixed: no analyzer needed);
# the transform writes bucket + 1 (0 = padding), so a recency table has len + 2 rows.
RECENCY_BOUNDARIES = (1.0 / 24, 1.0, 3.0, 7.0, 14.0, 30.0, 90.0, 365.0)
# Features that share one vocabulary (and one embedding table in the model).
ITEM_ID_FEATURES = (ITEM_ID, HIST_ITEM_IDS, FRIEND_ITEM_IDS, NEIGHBOR_ITEM_IDS)
USER_ID_FEATURES = (USER_ID, FRIEND_IDS)
TEXT_FEATURES = (USER_TEXT, ITEM_TEXT)


def transformed_name(name: str, *, suffix: str = "") -> str:
    """The name a raw feature gets after the transform (``user_id`` -> ``user_id_xf``)."""
    return f"{name}{suffix}_xf"


# The TFT vocabulary files (one embedding table each in the model).
ITEM_VOCAB = "item_id_vocab"
USER_VOCAB = "user_id_vocab"
TEXT_VOCAB = "text_vocab"
CATEGORICAL_VOCAB = "categorical_vocab"


def vocabulary_name(feature: str) -> str:
    """The TFT vocabulary file a raw string feature's ids come from (train sizes tables by it).

    Item ids of every kind share ``ITEM_VOCAB``, user ids ``USER_VOCAB``, both texts
    ``TEXT_VOCAB``, every small categorical (profile, category, brand, event type)
    ``CATEGORICAL_VOCAB``.
    """
    if feature in ITEM_ID_FEATURES:
        return ITEM_VOCAB
    if feature in USER_ID_FEATURES:
        return USER_VOCAB
    if feature in TEXT_FEATURES:
        return TEXT_VOCAB
    return CATEGORICAL_VOCAB


def output_names(feature: str) -> tuple[str, ...]:
    """The transformed outputs computed from raw ``feature`` (texts: their token ids)."""
    if feature in TEXT_FEATURES:
        return (transformed_name(feature, suffix=TEXT_TOKENS_SUFFIX),)
    if feature == IMAGE_EMBEDDING:
        return (transformed_name(feature), transformed_name(feature, suffix=VALID_SUFFIX))
    return (transformed_name(feature),)


USER_TEXT_TOKENS = output_names(USER_TEXT)[0]
ITEM_TEXT_TOKENS = output_names(ITEM_TEXT)[0]
# The precomputed image embedding after the transform: ``[batch, IMAGE_EMBEDDING_LEN]`` unit
# vectors (zeros where missing), and ``[batch]`` 1.0 where one was given, 0.0 where not.
IMAGE_EMBEDDING_UNIT, IMAGE_EMBEDDING_VALID = output_names(IMAGE_EMBEDDING)


def example_output_names() -> frozenset[str]:
    """Transformed features written per example: query side, time-varying candidate side, labels.

    The rest of the candidate side (content) is the same for every example of an item; the
    trainer gathers it from the catalog instead.
    """
    names = QUERY_FEATURES + DYNAMIC_CANDIDATE_FEATURES + LABEL_FEATURES
    return frozenset(out for name in names for out in output_names(name))


def raw_feature_spec(side: Side | None = None) -> dict[str, tf.io.FixedLenFeature]:
    """The TFT raw feature spec (every feature present, fixed length)."""
    return {f.name: tf.io.FixedLenFeature(f.shape, f.dtype) for f in features(side)}


def example_feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    """The raw feature spec of a training example: every declared feature."""
    return raw_feature_spec()


_ARROW_VALUE = {tf.string: pa.large_binary(), tf.float32: pa.float32(), tf.int64: pa.int64()}


def example_arrow_schema(side: Side | None = None) -> pa.Schema:
    """The Arrow schema tfx_bsl's Parquet reader expects for ``raw_feature_spec(side)``.

    tfx_bsl derives large_list<large_binary> / large_list<float32> columns from a TFT schema and
    rejects anything else ("Expected same schema"), so every column is a large list, holding one
    value (scalars) or ``length`` values (sequences).
    """
    return pa.schema([(f.name, pa.large_list(_ARROW_VALUE[f.dtype])) for f in features(side)])


def request_arrow_schema() -> pa.Schema:
    """Serving requests: query features as plain columns (scalars, or lists of ``length``)."""
    plain = {tf.string: pa.string(), tf.float32: pa.float32(), tf.int64: pa.int64()}
    return pa.schema(
        [
            (f.name, plain[f.dtype] if f.length is None else pa.list_(plain[f.dtype]))
            for f in features(Side.QUERY)
        ]
    )
