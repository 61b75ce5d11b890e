"""Plant bad rows of known kinds so ingest's quarantine can be checked against a count.

Tables that others reference (users, items) get their bad rows *added* (fresh ids, or an exact
copy) so no good event loses its user or item; every other table has rows *replaced*, so its row
count is exactly what was asked for. ``wrong_type`` needs a text format: in Parquet a float column
cannot hold ``"abc"``, so there those rows become ``out_of_range`` (or ``missing_required``).
Parquet cannot hold a null in a required column either, so a missing id is written as ``""``.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.sources import images
from schemas import Role, Table, tables
from schemas.contract import TIMESTAMP


class BadKind(enum.Enum):
    """What is wrong with a planted row (ingest's reason code, where it has one)."""

    UNKNOWN_USER = "unknown_user"
    UNKNOWN_ITEM = "unknown_item"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    CORRUPT_IMAGE = "corrupt_image"
    DUPLICATE = "duplicate"
    FUTURE_TS = "future_ts"
    EMPTY_TEXT = "empty_text"
    MISSING_REQUIRED = "missing_required"
    NOT_ALLOWED = "not_allowed"


K = BadKind
KINDS: dict[str, tuple[BadKind, ...]] = {
    tables.USERS.name: (K.MISSING_REQUIRED, K.DUPLICATE, K.WRONG_TYPE, K.FUTURE_TS, K.NOT_ALLOWED),
    tables.ITEMS.name: (
        K.MISSING_REQUIRED, K.DUPLICATE, K.WRONG_TYPE, K.OUT_OF_RANGE, K.CORRUPT_IMAGE,
    ),
    tables.EVENTS.name: (
        K.UNKNOWN_USER, K.UNKNOWN_ITEM, K.MISSING_REQUIRED, K.WRONG_TYPE, K.OUT_OF_RANGE,
        K.DUPLICATE, K.FUTURE_TS, K.NOT_ALLOWED,
    ),
    tables.REVIEWS.name: (
        K.UNKNOWN_USER, K.UNKNOWN_ITEM, K.MISSING_REQUIRED, K.WRONG_TYPE, K.OUT_OF_RANGE,
        K.DUPLICATE, K.FUTURE_TS, K.EMPTY_TEXT,
    ),
    tables.USER_RELATIONS.name: (
        K.UNKNOWN_USER, K.MISSING_REQUIRED, K.DUPLICATE, K.FUTURE_TS, K.NOT_ALLOWED,
    ),
    tables.ITEM_RELATIONS.name: (K.UNKNOWN_ITEM, K.MISSING_REQUIRED, K.DUPLICATE, K.NOT_ALLOWED),
}  # fmt: skip

# The column each kind spoils, where the contract's roles do not already say.
WRONG_TYPE_COLUMN = {
    tables.USERS.name: tables.SIGNUP_TS,
    tables.ITEMS.name: tables.PRICE,
    tables.EVENTS.name: tables.DWELL_S,
    tables.REVIEWS.name: tables.RATING,
}
NOT_ALLOWED_VALUE = {
    tables.USERS.name: (tables.AGE_BUCKET, "999"),
    tables.EVENTS.name: (tables.EVENT_TYPE, "wishlist"),
    tables.USER_RELATIONS.name: (tables.KIND, "enemy"),
    tables.ITEM_RELATIONS.name: (tables.KIND, "similar"),
}
WRONG_TYPE_TEXT = "abc"
FUTURE_FROM_S = 1_924_992_000  # 2031-01-01T00:00:00Z: after any sane ingest cut-off
UNKNOWN_PREFIX = "x"  # ids like "ux0001234" / "ix0001234" never name a real user or item


@dataclasses.dataclass(frozen=True)
class Planted:
    """A table with bad rows in it.

    Attributes:
        table: Rows in the canonical schema (a wrong-typed cell keeps its old value here).
        overrides: ``(row, column, text)`` cells a text format writes as ``text`` instead.
        counts: Planted rows per kind value.
    """

    table: pa.Table
    overrides: list[tuple[int, str, str]]
    counts: dict[str, int]


def _parquet_stand_in(name: str) -> BadKind:
    return K.OUT_OF_RANGE if K.OUT_OF_RANGE in KINDS[name] else K.MISSING_REQUIRED


def assign_kinds(
    name: str, fmt: str, rng: np.random.Generator, rows: np.ndarray, *, bad_before: np.ndarray
) -> list[BadKind]:
    """A kind for each bad row in ``rows`` (ascending).

    A duplicate copies the row above it, so it needs one that is good (``bad_before[i]`` False);
    otherwise, like ``wrong_type`` in Parquet, it falls back to another kind. The draw is the same
    for every format, so formats differ only in those rows.
    """
    kinds = KINDS[name]
    drawn = [kinds[i] for i in rng.integers(0, len(kinds), size=len(rows))]
    out = []
    for kind, blocked in zip(drawn, bad_before.tolist(), strict=True):
        if kind is K.DUPLICATE and blocked:
            kind = K.MISSING_REQUIRED
        if kind is K.WRONG_TYPE and fmt == "parquet":
            kind = _parquet_stand_in(name)
        out.append(kind)
    return out


def _set(table: pa.Table, column: str, rows: list[int], values: list[object]) -> pa.Table:
    """``table`` with ``column[rows[i]] = values[i]``."""
    if not rows:
        return table
    order = np.argsort(rows, kind="stable")
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[np.asarray(rows)] = True
    field = table.schema.field(column)
    replacements = pa.array([values[i] for i in order], field.type)
    index = table.schema.get_field_index(column)
    column_data = table.column(column).combine_chunks()
    return table.set_column(
        index, field, pc.replace_with_mask(column_data, pa.array(mask), replacements)
    )


def _id_column(contract: Table, role: Role, *, last: bool = False) -> str:
    columns = contract.by_role(role)
    return (columns[-1] if last else columns[0]).name


def _time_column(contract: Table) -> str:
    return next(c.name for c in contract.columns if c.type == TIMESTAMP)


def spoil(
    table: pa.Table,
    contract: Table,
    rows: list[int],
    kinds: list[BadKind],
    rng: np.random.Generator,
    *,
    fmt: str,
) -> Planted:
    """Apply ``kinds[i]`` to row ``rows[i]`` of ``table`` (duplicates copy the row above).

    Args:
        table: Clean rows in ``contract``'s schema.
        contract: The table's declaration (picks id, time and required columns).
        rows: Rows to spoil, ascending.
        kinds: One kind per row.
        rng: Source of the bad values.
        fmt: Output format; Parquet writes a missing id as ``""`` instead of null.

    Returns:
        The spoiled table, text overrides and counts per kind.
    """
    name = contract.name
    source = np.arange(table.num_rows)
    for row, kind in zip(rows, kinds, strict=True):
        if kind is K.DUPLICATE:
            source[row] = row - 1
    table = table.take(pa.array(source))
    edits: dict[str, tuple[list[int], list[object]]] = collections.defaultdict(lambda: ([], []))
    overrides: list[tuple[int, str, str]] = []

    def edit(column: str, row: int, value: object) -> None:
        edits[column][0].append(row)
        edits[column][1].append(value)

    for row, kind in zip(rows, kinds, strict=True):
        if kind is K.UNKNOWN_USER:
            unknown = f"u{UNKNOWN_PREFIX}{int(rng.integers(10**7)):07d}"
            edit(_id_column(contract, Role.USER_ID), row, unknown)
        elif kind is K.UNKNOWN_ITEM:
            unknown = f"i{UNKNOWN_PREFIX}{int(rng.integers(10**7)):07d}"
            edit(_id_column(contract, Role.ITEM_ID, last=True), row, unknown)
        elif kind is K.MISSING_REQUIRED:
            edit(contract.columns[0].name, row, "" if fmt == "parquet" else None)
        elif kind is K.WRONG_TYPE:
            overrides.append((row, WRONG_TYPE_COLUMN[name], WRONG_TYPE_TEXT))
        elif kind is K.OUT_OF_RANGE:
            _out_of_range(name, row, rng, edit)
        elif kind is K.CORRUPT_IMAGE:
            png = table.column(tables.IMAGE_BYTES)[row].as_py() or images.render_png(0, 1, rng)
            edit(tables.IMAGE_BYTES, row, images.corrupt_image(png, rng))
        elif kind is K.FUTURE_TS:
            when = FUTURE_FROM_S + int(rng.integers(0, 3 * 365 * 86_400))
            edit(_time_column(contract), row, when * 1_000_000)
        elif kind is K.EMPTY_TEXT:
            edit(tables.TEXT, row, "")
        elif kind is K.NOT_ALLOWED:
            column, value = NOT_ALLOWED_VALUE[name]
            edit(column, row, value)
    for column, (where, values) in edits.items():
        if table.schema.field(column).type == TIMESTAMP:
            values = [pa.scalar(v, pa.int64()).cast(TIMESTAMP) for v in values]
        table = _set(table, column, where, values)
    counts = collections.Counter(k.value for k in kinds)
    return Planted(table, overrides, dict(sorted(counts.items())))


def _out_of_range(
    name: str, row: int, rng: np.random.Generator, edit: Callable[[str, int, object], None]
) -> None:
    if name == tables.ITEMS.name:
        edit(tables.PRICE, row, -float(rng.integers(1, 100)))
    elif name == tables.REVIEWS.name:
        edit(tables.RATING, row, float(rng.choice([0, 7])))
    elif rng.random() < 0.5:  # events: a rating off the 1..5 scale, or a negative dwell
        edit(tables.EVENT_TYPE, row, tables.EVENT_TYPES[-1])
        edit(tables.VALUE, row, float(rng.choice([0, 7])))
    else:
        edit(tables.DWELL_S, row, -float(rng.integers(1, 600)))


def plant_in_place(
    table: pa.Table, contract: Table, rng: np.random.Generator, *, fraction: float, fmt: str
) -> Planted:
    """Replace about ``fraction`` of the rows with bad ones; the row count does not change."""
    n = table.num_rows
    bad = rng.random(n) < fraction
    rows = np.flatnonzero(bad)
    bad_before = np.ones(len(rows), dtype=bool)
    bad_before[rows > 0] = bad[rows[rows > 0] - 1]
    kinds = assign_kinds(contract.name, fmt, rng, rows, bad_before=bad_before)
    return spoil(table, contract, rows.tolist(), kinds, rng, fmt=fmt)


def plant_extra(
    table: pa.Table,
    contract: Table,
    rng: np.random.Generator,
    *,
    fraction: float,
    fmt: str,
    id_prefix: str,
) -> Planted:
    """Append ``round(fraction * rows)`` bad rows, each a spoiled copy of a random good row.

    Copies other than duplicates get a fresh id (``<id_prefix>b<n>``) that nothing references,
    so quarantining them never orphans a good row of another table.
    """
    n = table.num_rows
    n_bad = round(fraction * n)
    sources = rng.integers(0, n, size=n_bad)
    kinds = assign_kinds(contract.name, fmt, rng, sources, bad_before=np.zeros(n_bad, dtype=bool))
    copies = table.take(pa.array(sources, pa.int64()))
    id_column = contract.columns[0].name
    fresh = [f"{id_prefix}b{j:07d}" for j in range(n_bad)]
    ids = [
        copies.column(id_column)[j].as_py() if kind is K.DUPLICATE else fresh[j]
        for j, kind in enumerate(kinds)
    ]
    copies = copies.set_column(0, contract.columns[0].field(), pa.array(ids, pa.string()))
    # A duplicate here is an exact copy of a good row further up; it keeps the source's id.
    rows = [j for j, kind in enumerate(kinds) if kind is not K.DUPLICATE]
    planted = spoil(copies, contract, rows, [kinds[j] for j in rows], rng, fmt=fmt)
    counts = collections.Counter(k.value for k in kinds)
    overrides = [(n + r, c, t) for r, c, t in planted.overrides]
    return Planted(
        pa.concat_tables([table, planted.table]), overrides, dict(sorted(counts.items()))
    )
