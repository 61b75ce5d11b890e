"""Ciao ratings + trust network -> raw contract tables.

Ratings (``ratings.csv.gz``: user_id, item_id, category_id, rating, helpfulness, timestamp) become
``rating`` events as they are: the 34 zero ratings and 190 duplicate rows stay, for ingest to
quarantine. Trust edges become ``trust`` user relations with no timestamp (Ciao has none).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from components.sources.assemble import build_table, epoch_seconds_to_ts
from schemas import tables

RATINGS_FILE = "ratings.csv.gz"
TRUST_FILE = "trust.csv.gz"
CATEGORIES_FILE = "categories.csv"
# Source column names (Ciao's, not the contract's).
SRC_USER_ID, SRC_ITEM_ID, SRC_CATEGORY_ID = "user_id", "item_id", "category_id"
SRC_RATING, SRC_TIMESTAMP = "rating", "timestamp"
SRC_TRUSTER, SRC_TRUSTEE = "src_user_id", "dst_user_id"
SRC_CATEGORY_NAME = "category_name"


def _ids(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.cast(values, pa.string())


def _first_per_key(keys: pa.ChunkedArray, values: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Distinct keys in first-seen order and the value at each key's first row."""
    table = pa.table({"k": keys, "v": values, "i": pa.array(range(len(keys)), pa.int64())})
    firsts = table.group_by("k", use_threads=False).aggregate([("i", "min")])
    rows = pc.sort_indices(firsts.column("i_min"))
    first_rows = pc.take(firsts.column("i_min"), rows)
    return pc.take(table.column("k"), first_rows), pc.take(table.column("v"), first_rows)


def adapt_ciao(ratings: pa.Table, trust: pa.Table, categories: pa.Table) -> dict[str, pa.Table]:
    """Contract tables from the three Ciao CSVs read as Arrow tables.

    Args:
        ratings: ``user_id, item_id, category_id, rating, helpfulness, timestamp`` (integers).
        trust: ``src_user_id, dst_user_id`` (src trusts dst).
        categories: ``category_id, category_name``.

    Returns:
        ``users`` (every id in ratings or trust, ascending), ``items`` (each item once, with the
        name of the category on its first rating), ``events`` (one rating event per rating row,
        in file order) and ``user_relations`` (one trust edge per row, ts null).
    """
    user_ids = pc.unique(
        pa.chunked_array(
            [
                *ratings.column(SRC_USER_ID).chunks,
                *trust.column(SRC_TRUSTER).chunks,
                *trust.column(SRC_TRUSTEE).chunks,
            ]
        )
    )
    user_ids = pc.take(user_ids, pc.sort_indices(user_ids))
    item_ids, item_categories = _first_per_key(
        ratings.column(SRC_ITEM_ID), ratings.column(SRC_CATEGORY_ID)
    )
    names = pc.index_in(item_categories, value_set=categories.column(SRC_CATEGORY_ID))
    category = pc.take(categories.column(SRC_CATEGORY_NAME), names)
    n = ratings.num_rows
    events = {
        tables.USER_ID: _ids(ratings.column(SRC_USER_ID)),
        tables.ITEM_ID: _ids(ratings.column(SRC_ITEM_ID)),
        tables.EVENT_TYPE: pa.array([tables.EVENT_TYPES[-1]] * n, pa.string()),  # "rating"
        tables.TS: epoch_seconds_to_ts(ratings.column(SRC_TIMESTAMP).combine_chunks()),
        tables.VALUE: pc.cast(ratings.column(SRC_RATING), pa.float64()),
    }
    relations = {
        tables.SRC_USER: _ids(trust.column(SRC_TRUSTER)),
        tables.DST_USER: _ids(trust.column(SRC_TRUSTEE)),
        tables.KIND: pa.array(["trust"] * trust.num_rows, pa.string()),
    }
    return {
        tables.USERS.name: build_table(tables.USERS, {tables.USER_ID: _ids(user_ids)}),
        tables.ITEMS.name: build_table(
            tables.ITEMS, {tables.ITEM_ID: _ids(item_ids), tables.CATEGORY: category}
        ),
        tables.EVENTS.name: build_table(tables.EVENTS, events),
        tables.USER_RELATIONS.name: build_table(tables.USER_RELATIONS, relations),
    }
