"""Amazon product data (2014), 5-core, in ReChorus' integer-id CSVs -> raw contract tables.

Two files (``../shared/data/amazon2014-grocery``, ``amazon2014-beauty``; see their PROVENANCE):

- ``interactions.csv.gz``: ``user_id, item_id, ts`` (unix seconds), and where the release kept
  them, ``user_raw`` (the Amazon reviewerID) and ``item_raw`` (the asin);
- ``items.csv.gz``: ``item_id, category_l2, also_bought, also_viewed`` (lists of integer item ids
  written ``"[12, 40]"``), and where present ``asin`` and ``text_id`` (a short item text).

Every interaction is a review, i.e. a purchase: it becomes one ``purchase`` event (the files
carry no rating value). Real ids are used where the files have them (asins, reviewerIDs), the
integer ids elsewhere. ``category_l2`` 0 means unknown and becomes null. A related id that no
items row names stays as it is, so ingest quarantines its relation as an unknown item rather
than this adapter dropping it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.sources.assemble import build_table, epoch_seconds_to_ts
from schemas import tables

INTERACTIONS_FILE = "interactions.csv.gz"
ITEMS_FILE = "items.csv.gz"
# Source column names (the release's, not the contract's).
SRC_USER, SRC_ITEM, SRC_TS = "user_id", "item_id", "ts"
SRC_USER_RAW, SRC_ITEM_RAW, SRC_ASIN = "user_raw", "item_raw", "asin"
SRC_CATEGORY, SRC_TEXT = "category_l2", "text_id"
UNKNOWN_CATEGORY = "0"
RELATION_FIELDS = (("also_bought", "also_bought"), ("also_viewed", "also_viewed"))
# Column types to read the CSVs with (ids as strings: they are keys, not numbers).
INTERACTION_TYPES = {SRC_USER: pa.string(), SRC_ITEM: pa.string(), SRC_TS: pa.int64()}
ITEM_TYPES = {SRC_ITEM: pa.string(), SRC_CATEGORY: pa.string(), SRC_ASIN: pa.string()}


def _ids(table: pa.Table, raw: str, fallback: str) -> pa.Array:
    """The real ids where the file has a filled ``raw`` column, else the integer ids."""
    ids = table.column(fallback).combine_chunks().cast(pa.string())
    if raw not in table.column_names:
        return ids
    real = table.column(raw).combine_chunks().cast(pa.string())
    return pc.if_else(pc.is_valid(real), real, ids)


def parse_id_lists(text: pa.Array) -> pa.ListArray:
    """``"[12, 40]"`` strings -> lists of id strings (``"[]"``, blank and null -> empty list)."""
    inner = pc.replace_substring_regex(
        pc.fill_null(text, ""), pattern=r"^\s*\[|\]\s*$", replacement=""
    )
    parts = pc.split_pattern_regex(inner, pattern=r",")
    flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
    keep = pc.not_equal(flat, "")
    parent = pc.list_parent_indices(parts).filter(keep).to_numpy()
    offsets = np.concatenate([[0], np.cumsum(np.bincount(parent, minlength=len(text)))])
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), flat.filter(keep))


def adapt_amazon2014(interactions: pa.Table, items: pa.Table) -> dict[str, pa.Table]:
    """Contract tables from the two CSVs read as Arrow tables (ids as strings).

    Args:
        interactions: ``user_id, item_id, ts`` (+ optional ``user_raw, item_raw``).
        items: ``item_id, category_l2, also_bought, also_viewed`` (+ optional ``asin,
            text_id``).

    Returns:
        ``users`` (every interacting user, in first-seen order), ``items`` (one row per items
        row, then id-only rows for interacted items the items file lacks; ``text_id`` as the
        title, ``category_l2`` as the category), ``events`` (one ``purchase`` per interaction,
        in file order) and ``item_relations`` (also_bought / also_viewed, in list order).
    """
    item_int = items.column(SRC_ITEM).combine_chunks().cast(pa.string())
    item_ids = _ids(items, SRC_ASIN, SRC_ITEM)

    # Integer id -> real id, for the relation lists and the interactions' item ids.
    def real_item(ints: pa.Array) -> pa.Array:
        found = pc.index_in(ints, value_set=item_int)
        return pc.if_else(pc.is_valid(found), pc.take(item_ids, found), ints)

    users = _ids(interactions, SRC_USER_RAW, SRC_USER)
    if SRC_ITEM_RAW in interactions.column_names:
        event_items = _ids(interactions, SRC_ITEM_RAW, SRC_ITEM)
    else:
        event_items = real_item(interactions.column(SRC_ITEM).combine_chunks().cast(pa.string()))
    n = interactions.num_rows
    events = {
        tables.USER_ID: users,
        tables.ITEM_ID: event_items,
        tables.EVENT_TYPE: pa.array(["purchase"] * n, pa.string()),
        tables.TS: epoch_seconds_to_ts(interactions.column(SRC_TS).combine_chunks()),
    }

    src, dst, kind = [], [], []
    for field, name in RELATION_FIELDS:
        if field not in items.column_names:
            continue
        lists = parse_id_lists(items.column(field).combine_chunks().cast(pa.string()))
        src.append(pc.take(item_ids, pc.list_parent_indices(lists)))
        dst.append(real_item(pc.list_flatten(lists)))
        kind.append(pa.array([name] * len(src[-1]), pa.string()))
    relations = {
        tables.SRC_ITEM: pa.concat_arrays(src) if src else pa.array([], pa.string()),
        tables.DST_ITEM: pa.concat_arrays(dst) if dst else pa.array([], pa.string()),
        tables.KIND: pa.concat_arrays(kind) if kind else pa.array([], pa.string()),
    }

    category = items.column(SRC_CATEGORY).combine_chunks().cast(pa.string())
    category = pc.if_else(
        pc.equal(category, UNKNOWN_CATEGORY), pa.scalar(None, pa.string()), category
    )
    title = (
        items.column(SRC_TEXT).combine_chunks().cast(pa.string())
        if SRC_TEXT in items.column_names
        else pa.nulls(items.num_rows, pa.string())
    )
    title = pc.if_else(
        pc.equal(pc.utf8_trim_whitespace(title), ""), pa.scalar(None, pa.string()), title
    )
    missing = pc.unique(event_items.filter(pc.invert(pc.is_in(event_items, value_set=item_ids))))
    catalog = {
        tables.ITEM_ID: pa.concat_arrays([item_ids, missing]),
        tables.TITLE: pa.concat_arrays([title, pa.nulls(len(missing), pa.string())]),
        tables.CATEGORY: pa.concat_arrays([category, pa.nulls(len(missing), pa.string())]),
    }
    distinct_users = pc.unique(users)
    return {
        tables.USERS.name: build_table(tables.USERS, {tables.USER_ID: distinct_users}),
        tables.ITEMS.name: build_table(tables.ITEMS, catalog),
        tables.EVENTS.name: build_table(tables.EVENTS, events),
        tables.ITEM_RELATIONS.name: build_table(tables.ITEM_RELATIONS, relations),
    }
