"""Hypothesis strategies for raw rows of any contract table, good and bad, and shared settings.

A raw row is a dict of Python values (written by ``tests/conftest.py::write_raw_file``) or, for
the text formats, a literal malformed line. Ids come from small pools so foreign keys and
duplicate keys collide often.
"""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image

import schemas
from schemas import Column, Role, Table

settings.register_profile(
    "ingest",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INGEST_SETTINGS = settings.get_profile("ingest")

USER_POOL = [f"u{i}" for i in range(5)]
ITEM_POOL = [f"i{i}" for i in range(5)]
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
START = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# No NUL (a NUL byte marks a text file as binary) and no surrogates (not encodable).
TEXT_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buf, format="PNG")
    return buf.getvalue()


PNG = _png()

junk = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(TEXT_CHARS, max_size=12),
    st.lists(st.integers(-5, 5), max_size=3),
)


def _ids(column: Column) -> st.SearchStrategy:
    role = column.role
    pool = USER_POOL if role is Role.USER_ID else ITEM_POOL if role is Role.ITEM_ID else None
    good = st.sampled_from(pool) if pool else st.text(TEXT_CHARS, min_size=1, max_size=10)
    return good


def _timestamps() -> st.SearchStrategy:
    moments = st.datetimes(
        min_value=START.replace(tzinfo=None),
        max_value=END.replace(tzinfo=None),
        timezones=st.just(dt.UTC),
    )
    return st.one_of(
        moments,
        moments.map(lambda t: t.isoformat()),
        moments.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")),
        moments.map(lambda t: int(t.timestamp())),
        st.sampled_from(["2024-02-30T00:00:00Z", "yesterday", "2024-01-01T25:00:00Z"]),
    )


def column_values(column: Column) -> st.SearchStrategy:
    """Values for one column: mostly valid, sometimes null, empty, out of range or junk."""
    t = column.type
    if pa.types.is_string(t):
        good = st.sampled_from(column.allowed) if column.allowed else _ids(column)
    elif pa.types.is_floating(t):
        lo, hi = column.bounds or (-1e6, 1e6)
        good = st.floats(min_value=lo, max_value=hi)
    elif pa.types.is_timestamp(t):
        good = _timestamps()
    elif pa.types.is_binary(t):
        good = st.sampled_from([PNG, PNG[: len(PNG) // 2], b"\x89PNG\r\n\x1a\n", b"nope"])
    else:
        good = st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False), max_size=3)
    bad = [st.none(), junk]
    if pa.types.is_string(t):
        bad.append(st.just(""))
        if column.max_len is not None and column.max_len <= 2_048:
            bad.append(st.just("x" * (column.max_len + 1)))
    return st.one_of(good, good, good, *bad)


@st.composite
def raw_rows(draw: st.DrawFn, table: Table) -> dict:
    """One row of ``table``: each column present with a drawn value, or left out."""
    row = {}
    for column in table.columns:
        if column.required or draw(st.booleans()):
            row[column.name] = draw(column_values(column))
    return row


def malformed_lines(fmt: str, table: Table) -> st.SearchStrategy:
    """Single lines that cannot parse as a row: no newline, no quote, never blank."""
    word = st.text(st.characters(whitelist_categories=("L", "N")), min_size=1, max_size=6)
    invalid_utf8 = st.binary(min_size=1, max_size=8).map(
        lambda b: b"\xff" + b.replace(b"\n", b"").replace(b'"', b"").replace(b"\x00", b"")
    )
    if fmt == "jsonl":
        return st.one_of(
            word.map(lambda w: "{" + w),
            st.lists(st.integers(), max_size=3).map(str),
            word.map(lambda w: f'{{"{w}": }}'),
            invalid_utf8,
        )
    n = len(table.names)
    counts = st.one_of(st.integers(1, n - 1), st.integers(n + 1, n + 3))
    return st.one_of(
        st.tuples(counts, word).map(lambda cw: ",".join([cw[1]] * cw[0])),
        invalid_utf8.map(lambda b: b + b"," * (n - 1)),
    )


@st.composite
def raw_files(draw: st.DrawFn, table: Table, fmt: str, *, max_rows: int = 12) -> list:
    """Rows for one raw file of ``table``; text formats mix in malformed lines."""
    rows = draw(st.lists(raw_rows(table), max_size=max_rows))
    if fmt != "parquet":
        bad = draw(st.lists(malformed_lines(fmt, table), max_size=3))
        for line in bad:
            rows.insert(draw(st.integers(0, len(rows))), line)
    return rows


def split_times() -> st.SearchStrategy:
    """Lists of UTC timestamps for the splitter."""
    return st.lists(
        st.datetimes(
            min_value=START.replace(tzinfo=None),
            max_value=END.replace(tzinfo=None),
            timezones=st.just(dt.UTC),
        ),
        max_size=50,
    )


TABLES = schemas.TABLES


# Markup as source titles carry it: tags with attributes, end tags, void tags, comments.
MARKUP_PIECES = st.sampled_from(
    ['<span class="a-size-medium a-color-secondary">', "</span>", "<br/>", "<b>", "</b>",
     '<div class="aplus">', "<!-- x -->", "<p>", "</p>"]
)  # fmt: skip
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789.,-", min_size=1, max_size=8)


@st.composite
def marked_up_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    """``(text, words)``: words with markup around them, maybe ending in an unclosed tag."""
    words = draw(st.lists(WORDS, max_size=6))
    parts = []
    for word in words:
        parts += [draw(MARKUP_PIECES) if draw(st.booleans()) else "", word, " "]
    if draw(st.booleans()):
        parts.append('<span class="a-size-medium a-color-secondary"')  # cut off before ">"
    return "".join(parts), words
