"""The six raw tables of the contract, declared once.

Column names are exported as constants; code elsewhere uses these, never string literals.
"""

from __future__ import annotations

import pyarrow as pa

from schemas.contract import TIMESTAMP, Column, Modality, Role, Table

# Contract version: "<major>.<minor>"; written into every artifact. Bump the minor for added
# optional columns, the major for anything that can break a reader.
SCHEMA_VERSION = "1.0"

# --- column names ------------------------------------------------------------------------------
USER_ID = "user_id"
ITEM_ID = "item_id"
TS = "ts"
SIGNUP_TS = "signup_ts"
COUNTRY = "country"
AGE_BUCKET = "age_bucket"
TITLE = "title"
DESCRIPTION = "description"
CATEGORY = "category"
BRAND = "brand"
PRICE = "price"
IMAGE_BYTES = "image_bytes"
IMAGE_URI = "image_uri"
IMAGE_EMBEDDING = "image_embedding"
EVENT_TYPE = "event_type"
VALUE = "value"
DWELL_S = "dwell_s"
SESSION_ID = "session_id"
QUERY = "query"
RATING = "rating"
TEXT = "text"
SRC_USER = "src_user"
DST_USER = "dst_user"
SRC_ITEM = "src_item"
DST_ITEM = "dst_item"
KIND = "kind"

# --- allowed values ----------------------------------------------------------------------------
EVENT_TYPES = ("view", "click", "cart", "purchase", "rating")
AGE_BUCKETS = ("<18", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
USER_RELATION_KINDS = ("follow", "trust")
ITEM_RELATION_KINDS = ("also_bought", "also_viewed", "bought_together")

RATING_BOUNDS = (1.0, 5.0)
MAX_ID_LEN = 128
MAX_TEXT_LEN = 20_000
MAX_IMAGE_BYTES = 5_000_000
MAX_PRICE = 1_000_000.0
MAX_DWELL_S = 86_400.0

USERS = Table(
    "users",
    version=1,
    key=(USER_ID,),
    columns=[
        Column(
            USER_ID,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            role=Role.USER_ID,
            modality=Modality.ID,
            doc="Pseudonymous user id.",
        ),
        Column(
            SIGNUP_TS,
            TIMESTAMP,
            role=Role.TIMESTAMP,
            modality=Modality.PROFILE,
            doc="When the account was created (UTC).",
        ),
        Column(
            COUNTRY,
            pa.string(),
            max_len=64,
            role=Role.CATEGORICAL,
            modality=Modality.PROFILE,
            doc="Country code or name.",
        ),
        Column(
            AGE_BUCKET,
            pa.string(),
            allowed=AGE_BUCKETS,
            role=Role.CATEGORICAL,
            modality=Modality.PROFILE,
            doc="Coarse age band.",
        ),
    ],
)

ITEMS = Table(
    "items",
    version=1,
    key=(ITEM_ID,),
    columns=[
        Column(
            ITEM_ID,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            role=Role.ITEM_ID,
            modality=Modality.ID,
            doc="Catalog item id.",
        ),
        Column(
            TITLE,
            pa.string(),
            max_len=2_000,
            role=Role.TEXT,
            modality=Modality.TEXT,
            doc="Product title.",
        ),
        Column(
            DESCRIPTION,
            pa.string(),
            max_len=MAX_TEXT_LEN,
            role=Role.TEXT,
            modality=Modality.TEXT,
            doc="Product description (plain text).",
        ),
        Column(
            CATEGORY,
            pa.string(),
            max_len=512,
            role=Role.CATEGORICAL,
            modality=Modality.PROFILE,
            doc="Category path, levels joined by '/'.",
        ),
        Column(
            BRAND,
            pa.string(),
            max_len=256,
            role=Role.CATEGORICAL,
            modality=Modality.PROFILE,
            doc="Brand name.",
        ),
        Column(
            PRICE,
            pa.float64(),
            bounds=(0.0, MAX_PRICE),
            role=Role.NUMERIC,
            modality=Modality.PROFILE,
            doc="List price.",
        ),
        Column(
            IMAGE_BYTES,
            pa.binary(),
            max_len=MAX_IMAGE_BYTES,
            role=Role.IMAGE_BYTES,
            modality=Modality.IMAGE,
            doc="Encoded PNG or JPEG bytes.",
        ),
        Column(
            IMAGE_URI,
            pa.string(),
            max_len=2_048,
            role=Role.IMAGE_URI,
            modality=Modality.IMAGE,
            doc="Where the image lives, when bytes are not inline.",
        ),
        Column(
            IMAGE_EMBEDDING,
            pa.list_(pa.float32()),
            role=Role.IMAGE_EMBEDDING,
            modality=Modality.IMAGE,
            doc="Precomputed image embedding.",
        ),
    ],
)

EVENTS = Table(
    "events",
    version=1,
    key=None,
    time_column=TS,
    columns=[
        Column(
            USER_ID,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"users.{USER_ID}",
            role=Role.USER_ID,
            modality=Modality.ID,
        ),
        Column(
            ITEM_ID,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"items.{ITEM_ID}",
            role=Role.ITEM_ID,
            modality=Modality.ID,
        ),
        Column(
            EVENT_TYPE,
            pa.string(),
            required=True,
            allowed=EVENT_TYPES,
            role=Role.CATEGORICAL,
            modality=Modality.BEHAVIOR,
        ),
        Column(TS, TIMESTAMP, required=True, role=Role.TIMESTAMP, modality=Modality.BEHAVIOR),
        Column(
            VALUE,
            pa.float64(),
            bounds=RATING_BOUNDS,
            role=Role.LABEL,
            modality=Modality.BEHAVIOR,
            doc="Rating value, for event_type 'rating'.",
        ),
        Column(
            DWELL_S,
            pa.float64(),
            bounds=(0.0, MAX_DWELL_S),
            role=Role.NUMERIC,
            modality=Modality.BEHAVIOR,
            doc="Seconds spent on the item page.",
        ),
        Column(
            SESSION_ID,
            pa.string(),
            max_len=MAX_ID_LEN,
            role=Role.SESSION,
            modality=Modality.BEHAVIOR,
        ),
        Column(
            QUERY,
            pa.string(),
            max_len=2_000,
            role=Role.TEXT,
            modality=Modality.TEXT,
            doc="Search query that led to the event, if any.",
        ),
    ],
)

REVIEWS = Table(
    "reviews",
    version=1,
    key=(USER_ID, ITEM_ID, TS),
    time_column=TS,
    columns=[
        Column(
            USER_ID,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"users.{USER_ID}",
            role=Role.USER_ID,
            modality=Modality.ID,
        ),
        Column(
            ITEM_ID,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"items.{ITEM_ID}",
            role=Role.ITEM_ID,
            modality=Modality.ID,
        ),
        Column(
            RATING,
            pa.float64(),
            required=True,
            bounds=RATING_BOUNDS,
            role=Role.LABEL,
            modality=Modality.BEHAVIOR,
        ),
        Column(
            TEXT,
            pa.string(),
            required=True,
            max_len=MAX_TEXT_LEN,
            role=Role.TEXT,
            modality=Modality.TEXT,
            doc="Review text; an empty review is missing_required.",
        ),
        Column(TS, TIMESTAMP, required=True, role=Role.TIMESTAMP, modality=Modality.BEHAVIOR),
    ],
)

USER_RELATIONS = Table(
    "user_relations",
    version=1,
    key=(SRC_USER, DST_USER, KIND),
    time_column=TS,
    columns=[
        Column(
            SRC_USER,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"users.{USER_ID}",
            role=Role.USER_ID,
            modality=Modality.RELATION,
        ),
        Column(
            DST_USER,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"users.{USER_ID}",
            role=Role.USER_ID,
            modality=Modality.RELATION,
        ),
        Column(
            KIND,
            pa.string(),
            required=True,
            allowed=USER_RELATION_KINDS,
            role=Role.CATEGORICAL,
            modality=Modality.RELATION,
        ),
        Column(
            TS,
            TIMESTAMP,
            role=Role.TIMESTAMP,
            modality=Modality.RELATION,
            doc="When the link was made; null when the source does not say (Ciao).",
        ),
    ],
)

ITEM_RELATIONS = Table(
    "item_relations",
    version=1,
    key=(SRC_ITEM, DST_ITEM, KIND),
    columns=[
        Column(
            SRC_ITEM,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"items.{ITEM_ID}",
            role=Role.ITEM_ID,
            modality=Modality.RELATION,
        ),
        Column(
            DST_ITEM,
            pa.string(),
            required=True,
            max_len=MAX_ID_LEN,
            references=f"items.{ITEM_ID}",
            role=Role.ITEM_ID,
            modality=Modality.RELATION,
        ),
        Column(
            KIND,
            pa.string(),
            required=True,
            allowed=ITEM_RELATION_KINDS,
            role=Role.CATEGORICAL,
            modality=Modality.RELATION,
        ),
    ],
)

# Ingest order matters: referenced tables come before the tables that reference them.
TABLES: tuple[Table, ...] = (USERS, ITEMS, EVENTS, REVIEWS, USER_RELATIONS, ITEM_RELATIONS)


def table(name: str) -> Table:
    """The declared table called ``name``.

    Raises:
        KeyError: naming the tables that exist.
    """
    for t in TABLES:
        if t.name == name:
            return t
    raise KeyError(f"no table {name!r} in the contract; tables: {[t.name for t in TABLES]}")
