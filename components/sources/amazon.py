"""Amazon Review Data (2018) -> raw contract tables.

Reviews (``<Category>_5.json.gz``) and item metadata (``meta_<Category>.json.gz``), both gzip JSON
Lines. Every review becomes a review row *and* a ``rating`` event; also_buy / also_view become
item relations, including pairs to asins missing from the metadata (ingest quarantines those as
unknown items rather than this adapter dropping them silently).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pyarrow as pa

from components.sources.assemble import (
    build_table,
    category_path,
    epoch_seconds_to_ts,
    strip_html,
)
from schemas import tables

REVIEWS_FILE = "Gift_Cards_5.json.gz"
META_FILE = "meta_Gift_Cards.json.gz"
_PRICE = re.compile(r"^\$\s*([0-9][0-9,]*(?:\.[0-9]+)?)$")
MISSING_TEXT = ""
RELATION_FIELDS = (("also_buy", "also_bought"), ("also_view", "also_viewed"))


def parse_price(text: object) -> float | None:
    """``"$1,250.00"`` -> 1250.0; anything else (ranges, CSS, blanks) -> None."""
    if not isinstance(text, str):
        return None
    match = _PRICE.match(text.strip())
    return float(match.group(1).replace(",", "")) if match else None


def _as_list(value: object) -> list[object]:
    if isinstance(value, str):
        return [value]
    return value if isinstance(value, list) else []


def _join(parts: object, separator: str) -> str | None:
    cleaned = [strip_html(p) for p in _as_list(parts) if isinstance(p, str)]
    return separator.join(p for p in cleaned if p) or None


def _first_url(record: Mapping[str, object]) -> str | None:
    for field in ("imageURLHighRes", "imageURL"):
        urls = record.get(field)
        if isinstance(urls, list) and urls:
            return str(urls[0])
    return None


def item_row(record: Mapping[str, object]) -> dict[str, object]:
    """One items row from one metadata record (HTML stripped, price parsed)."""
    return {
        tables.ITEM_ID: record.get("asin"),
        tables.TITLE: strip_html(
            record.get("title") if isinstance(record.get("title"), str) else None
        ),
        tables.DESCRIPTION: _join(record.get("description"), " "),
        tables.CATEGORY: category_path(_as_list(record.get("category"))),
        tables.BRAND: strip_html(
            record.get("brand") if isinstance(record.get("brand"), str) else None
        ),
        tables.PRICE: parse_price(record.get("price")),
        tables.IMAGE_URI: _first_url(record),
    }


def adapt_amazon(
    reviews: Iterable[Mapping[str, object]], meta: Iterable[Mapping[str, object]]
) -> dict[str, pa.Table]:
    """Contract tables from parsed review and metadata records.

    Args:
        reviews: Review objects (``reviewerID, asin, overall, reviewText, unixReviewTime``).
        meta: Metadata objects (``asin, title, description, category, brand, price, also_buy,
            also_view, imageURL, imageURLHighRes``).

    Returns:
        ``users`` (reviewers), ``items`` (metadata rows, then id-only rows for reviewed asins the
        metadata lacks), ``reviews``, ``events`` (one rating per review) and ``item_relations``.
    """
    item_rows: list[dict[str, object]] = []
    relation_rows: dict[str, list[object]] = {
        tables.SRC_ITEM: [],
        tables.DST_ITEM: [],
        tables.KIND: [],
    }
    for record in meta:
        item_rows.append(item_row(record))
        for field, kind in RELATION_FIELDS:
            targets = record.get(field)
            for target in targets if isinstance(targets, list) else []:
                relation_rows[tables.SRC_ITEM].append(record.get("asin"))
                relation_rows[tables.DST_ITEM].append(target)
                relation_rows[tables.KIND].append(kind)

    review_cols: dict[str, list[object]] = {
        tables.USER_ID: [], tables.ITEM_ID: [], tables.RATING: [], tables.TEXT: [], tables.TS: [],
    }  # fmt: skip
    for record in reviews:
        review_cols[tables.USER_ID].append(record.get("reviewerID"))
        review_cols[tables.ITEM_ID].append(record.get("asin"))
        review_cols[tables.RATING].append(record.get("overall"))
        text = record.get("reviewText")
        # A missing review text is written as "" because Parquet cannot hold a null in a required
        # column; ingest quarantines null and "" alike as missing_required.
        review_cols[tables.TEXT].append(text if isinstance(text, str) else MISSING_TEXT)
        review_cols[tables.TS].append(record.get("unixReviewTime"))

    known = {row[tables.ITEM_ID] for row in item_rows}
    for asin in dict.fromkeys(review_cols[tables.ITEM_ID]):
        if asin not in known:
            item_rows.append({tables.ITEM_ID: asin})
            known.add(asin)
    items = {name: [row.get(name) for row in item_rows] for name in tables.ITEMS.names}
    ts = epoch_seconds_to_ts(review_cols[tables.TS])
    users = list(dict.fromkeys(u for u in review_cols[tables.USER_ID] if u is not None))
    events = {
        tables.USER_ID: review_cols[tables.USER_ID],
        tables.ITEM_ID: review_cols[tables.ITEM_ID],
        tables.EVENT_TYPE: [tables.EVENT_TYPES[-1]] * len(ts),  # "rating"
        tables.TS: ts,
        tables.VALUE: review_cols[tables.RATING],
    }
    return {
        tables.USERS.name: build_table(tables.USERS, {tables.USER_ID: users}),
        tables.ITEMS.name: build_table(tables.ITEMS, items),
        tables.EVENTS.name: build_table(tables.EVENTS, events),
        tables.REVIEWS.name: build_table(tables.REVIEWS, {**review_cols, tables.TS: ts}),
        tables.ITEM_RELATIONS.name: build_table(tables.ITEM_RELATIONS, relation_rows),
    }
