"""Amazon Review Data (2018) -> raw contract tables, for any category of the release.

Reviews (``<Category>_5.json.gz``) and item metadata (``meta_<Category>.json.gz``), both gzip JSON
Lines. Every review becomes a review row *and* a ``rating`` event; also_buy / also_view become
item relations, including pairs to asins missing from the metadata (ingest quarantines those as
unknown items rather than this adapter dropping them silently).

The metadata comes in two layouts within the release: image URLs as ``imageURL`` /
``imageURLHighRes`` (e.g. Gift_Cards) or as ``image`` (other categories); both are read. Titles,
descriptions, brands and category levels go through a real HTML parser (``markup``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa

from components.sources.assemble import (
    build_table,
    category_path,
    epoch_seconds_to_ts,
)
from components.sources.markup import has_markup, strip_html
from schemas import tables

# The release's file names: the 5-core reviews and the metadata of one category.
REVIEWS_SUFFIX, META_PREFIX, GZ_JSON = "_5.json.gz", "meta_", ".json.gz"
WANTED = f"<Category>{REVIEWS_SUFFIX} + {META_PREFIX}<Category>{GZ_JSON}"
# Image URL fields, preferred first: the two layouts of the 2018 metadata.
IMAGE_FIELDS = ("imageURLHighRes", "imageURL", "image")
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


def reviews_file(category: str) -> str:
    """``Gift_Cards`` -> ``Gift_Cards_5.json.gz``."""
    return f"{category}{REVIEWS_SUFFIX}"


def meta_file(category: str) -> str:
    """``Gift_Cards`` -> ``meta_Gift_Cards.json.gz``."""
    return f"{META_PREFIX}{category}{GZ_JSON}"


def categories_in(names: Iterable[str]) -> list[str]:
    """Categories (sorted) with both their reviews and their metadata among file ``names``."""
    names = set(names)
    found = (n[: -len(REVIEWS_SUFFIX)] for n in names if n.endswith(REVIEWS_SUFFIX))
    return sorted(c for c in found if c and meta_file(c) in names)


def first_image_url(record: Mapping[str, object]) -> str | None:
    """The first URL of the first non-empty image field (a list, or one URL as a string)."""
    for field in IMAGE_FIELDS:
        urls = _as_list(record.get(field))
        for url in urls:
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None


def describe_meta(records: Sequence[Mapping[str, object]]) -> dict[str, int]:
    """What the metadata holds: rows, titles, titles with markup, rows per image field."""
    facts = {"rows": len(records), "titles": 0, "titles_with_markup": 0, "with_image_url": 0}
    for field in IMAGE_FIELDS:
        facts[f"field_{field}"] = 0
    for record in records:
        title = record.get("title")
        if isinstance(title, str) and title.strip():
            facts["titles"] += 1
            facts["titles_with_markup"] += has_markup(title)
        for field in IMAGE_FIELDS:
            facts[f"field_{field}"] += any(
                isinstance(u, str) and u.strip() for u in _as_list(record.get(field))
            )
        facts["with_image_url"] += first_image_url(record) is not None
    return facts


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
        tables.IMAGE_URI: first_image_url(record),
    }


def adapt_amazon(
    reviews: Iterable[Mapping[str, object]], meta: Iterable[Mapping[str, object]]
) -> dict[str, pa.Table]:
    """Contract tables from parsed review and metadata records.

    Args:
        reviews: Review objects (``reviewerID, asin, overall, reviewText, unixReviewTime``).
        meta: Metadata objects (``asin, title, description, category, brand, price, also_buy,
            also_view`` and ``imageURL``/``imageURLHighRes`` or ``image``).

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
