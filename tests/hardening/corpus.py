"""A generated corpus of malformed raw rows, each tagged with the reason ingest must give it.

Built on ``components.sources``: the clean rows come from the shop generator (``bad_fraction=0``)
and the defect kinds the generator already plants (``bad_rows.spoil``: unknown ids, wrong types,
out-of-range values, corrupt images, duplicates, future timestamps, empty text, missing or
not-allowed values) are planted by it. This module adds the defects that live below the row
model or that the generator does not make: truncated lines, invalid UTF-8, huge strings, NaN/inf,
negative (pre-epoch) timestamps, oversized images (bytes and pixels), same-key duplicates with
other values, JSON objects that repeat a member, CSV lines with a stray quote, and wrong JSON
types (objects, lists, booleans) where a number or a time belongs.

Every planted row is a copy of a good row with one defect, so its expected reason (the first
failing check, see ``components.ingest.rules``) is known. Bad rows are interleaved with the good
ones (a duplicate always after its original) so the parsers' fast paths meet them mid-chunk.

A defect in one optional value (``components.ingest.validate``: not required, not a key, not the
time column) must cost only that value: such a row is expected valid, its value listed as
dropped (``Case.dropped``). Its copy gets a fresh key (a fresh session for events), or once
emptied it would be a duplicate of the row it was copied from.

Layout written per format (one root per format, all six tables):
- jsonl/csv: ``<root>/<table>/part-00000.<ext>``; ``row`` in quarantine = 1-based line.
- parquet: ``part-00000`` (canonical types), ``part-00001`` (rows with a wrong-typed cell: every
  column as text), ``part-00002`` (rows with invalid UTF-8: text columns as binary); ``row`` =
  0-based index within the part.
"""

from __future__ import annotations

import base64
import collections
import csv
import dataclasses
import datetime as dt
import io
import json
import math
import pathlib
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

import schemas
from components.ingest.coercion import nullable_schema
from components.ingest.reasons import Reason
from components.ingest.validate import VALUE_REASONS, optional_columns
from components.sources import bad_rows
from components.sources.bad_rows import BadKind
from components.sources.generate import generate_shop
from schemas import Role, Table
from schemas import tables as cols

FORMATS = ("parquet", "jsonl", "csv")
NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
# Rows planted per defect class, table and format (classes that do not apply are skipped).
PER_CLASS = 48
# A few rows per format are really big (the other huge strings are just over their limit).
HUGE_CHARS = 3_000_000
OVERSIZED_IMAGE_BYTES = cols.MAX_IMAGE_BYTES + 1_024
BOMB_SIDE = 9_000  # a ~80 KB PNG that decodes to 81 M pixels

# The generator's kinds, as ingest reason codes.
KIND_REASON = {
    BadKind.UNKNOWN_USER: Reason.UNKNOWN_USER,
    BadKind.UNKNOWN_ITEM: Reason.UNKNOWN_ITEM,
    BadKind.WRONG_TYPE: Reason.BAD_TYPE,
    BadKind.OUT_OF_RANGE: Reason.OUT_OF_RANGE,
    BadKind.CORRUPT_IMAGE: Reason.CORRUPT_IMAGE,
    BadKind.DUPLICATE: Reason.DUPLICATE,
    BadKind.FUTURE_TS: Reason.FUTURE_TIMESTAMP,
    BadKind.EMPTY_TEXT: Reason.MISSING_REQUIRED,
    BadKind.MISSING_REQUIRED: Reason.MISSING_REQUIRED,
    BadKind.NOT_ALLOWED: Reason.BAD_VALUE,
}


@dataclasses.dataclass(frozen=True)
class Raw:
    """A cell written as this JSON value (text formats) or its text (Parquet), not the row's."""

    value: object


@dataclasses.dataclass(frozen=True)
class BadUtf8:
    """A text cell holding these (invalid UTF-8) bytes."""

    data: bytes


@dataclasses.dataclass
class Case:
    """One raw row of the corpus.

    Attributes:
        row: Column -> canonical value, ``Raw`` or ``BadUtf8``.
        defect: Defect class, or None for a good row.
        expected: The reason ingest must give (None: the row must be valid).
        mangle: Turns the encoded line into the planted one (text formats only).
        source: The good row this one is a copy of (it is placed after it).
        dropped: ``(column, reason)`` of the one optional value ingest must empty (the row
            itself is then expected valid).
    """

    row: dict
    defect: str | None = None
    expected: Reason | None = None
    mangle: Callable[[bytes], bytes] | None = None
    source: int | None = None
    dropped: tuple[str, Reason] | None = None


@dataclasses.dataclass
class Written:
    """Where each case of one table landed: ``(relative file, row number) -> case``."""

    at: dict[tuple[str, int], Case]
    cases: list[Case]


# --- clean rows --------------------------------------------------------------------------------


def clean_tables(tmp: pathlib.Path, *, seed: int) -> dict[str, pa.Table]:
    """A small clean shop from the generator, as canonical tables."""
    out = tmp / "clean"
    generate_shop(str(out), users=200, items=100, events=2_000, seed=seed, bad_fraction=0.0)
    return {
        t.name: pq.read_table(out / t.name / "part-00000.parquet", schema=t.arrow_schema())
        for t in schemas.TABLES
    }


# --- defects -----------------------------------------------------------------------------------


def _string_columns(table: Table) -> list[schemas.Column]:
    return [c for c in table.columns if pa.types.is_string(c.type)]


def _number_columns(table: Table) -> list[schemas.Column]:
    return [c for c in table.columns if pa.types.is_floating(c.type)]


def _time_columns(table: Table) -> list[schemas.Column]:
    return [c for c in table.columns if c.type == schemas.TIMESTAMP]


def _typed_columns(table: Table) -> list[schemas.Column]:
    """Columns where a JSON object, list or boolean is plainly the wrong type."""
    return [*_number_columns(table), *_time_columns(table)]


def _png(side: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (side, side), 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _truncate_line(rng: np.random.Generator, fmt: str) -> Callable[[bytes], bytes]:
    """Cut a line so it can no longer parse (JSONL: before the closing brace; CSV: a comma)."""
    fraction = float(rng.uniform(0.05, 0.95))

    def cut(line: bytes) -> bytes:
        body = line.rstrip(b"\n")
        last = body.rfind(b",") if fmt == "csv" else len(body) - 1
        keep = max(1, min(last, int(len(body) * fraction)))
        return body[:keep] + b"\n"

    return cut


def _inject_bytes(rng: np.random.Generator) -> Callable[[bytes], bytes]:
    """Put invalid UTF-8 (a lone continuation byte, an overlong form, or 0xff) inside a line."""
    junk = [b"\x80", b"\xc0\xaf", b"\xff\xfe", b"\xed\xa0\x80"][int(rng.integers(4))]
    fraction = float(rng.uniform(0.1, 0.9))

    def inject(line: bytes) -> bytes:
        at = max(1, int(len(line.rstrip(b"\n")) * fraction))
        return line[:at] + junk + line[at:]

    return inject


def _repeat_member(column: str) -> Callable[[bytes], bytes]:
    """A JSON object naming ``column`` twice, the second time with another value."""

    def repeat(line: bytes) -> bytes:
        body = line.rstrip(b"\n")
        return body[:-1] + b"," + json.dumps(column).encode() + b':"other"}\n'

    return repeat


def _stray_quote(line: bytes) -> bytes:
    """A quote opening the second field and never closed (an RFC 4180 quoted field runs on)."""
    head, sep, rest = line.partition(b",")
    return head + sep + b'"' + rest if sep else b'"' + line


def defect_cases(table: Table, good: list[dict], fmt: str, rng: np.random.Generator) -> list[Case]:
    """About ``PER_CLASS`` bad rows per applicable defect class for one table and format."""
    cases: list[Case] = []

    def add(defect: str, expected: Reason, make: Callable[[dict, int, int], Case | None]) -> None:
        for j in range(PER_CLASS):
            i = int(rng.integers(len(good)))
            case = make(dict(good[i]), j, i)
            if case is not None:
                case.defect, case.expected = defect, expected
                # After its original: a copy wrongly let through then shows as a duplicate
                # (still a mismatch) instead of making the good original one.
                case.source = i
                cases.append(case)

    # The generator's kinds, planted by bad_rows.spoil on copies of good rows.
    # All kinds in every format: a wrong-typed cell goes to Parquet's text part (see module doc).
    for kind in bad_rows.KINDS[table.name]:
        sources = rng.integers(0, len(good), size=PER_CLASS)
        copies = pa.Table.from_pylist([good[i] for i in sources], schema=table.arrow_schema())
        if kind is BadKind.DUPLICATE:
            for i, row in zip(sources.tolist(), copies.to_pylist(), strict=True):
                cases.append(Case(row, "duplicate_key", Reason.DUPLICATE, source=i))
            continue
        planted = bad_rows.spoil(
            copies, table, list(range(PER_CLASS)), [kind] * PER_CLASS, rng, fmt=fmt
        )
        rows = planted.table.to_pylist()
        for r, column, text in planted.overrides:
            rows[r][column] = Raw(text)
        defect = {
            BadKind.WRONG_TYPE: "wrong_type",
            BadKind.UNKNOWN_USER: "unknown_id",
            BadKind.UNKNOWN_ITEM: "unknown_id",
            BadKind.FUTURE_TS: "future_ts",
            BadKind.CORRUPT_IMAGE: "corrupt_image",
        }.get(kind, kind.value)
        cases += [
            Case(row, defect, KIND_REASON[kind], source=i)
            for i, row in zip(sources.tolist(), rows, strict=True)
        ]

    # Wrong types the generator does not plant: JSON objects, lists, booleans, bad dates.
    typed = _typed_columns(table)
    if typed:
        junk = [{"a": 1}, [1, 2], True, "2024-02-30T00:00:00Z", "12 parsecs", "yesterday"]

        def wrong_type(row: dict, j: int, i: int) -> Case:
            column = typed[j % len(typed)]
            value = junk[int(rng.integers(len(junk)))]
            if fmt != "jsonl" and not isinstance(value, str):
                value = json.dumps(value)  # text formats carry the JSON text
            row[column.name] = Raw(value)
            return Case(row)

        add("wrong_type", Reason.BAD_TYPE, wrong_type)
    if table is cols.ITEMS:

        def wrong_embedding(row: dict, j: int, i: int) -> Case:
            row[cols.IMAGE_EMBEDDING] = Raw(["a", "b"] if j % 2 else {"x": 1.0})
            return Case(row)

        add("wrong_type", Reason.BAD_TYPE, wrong_embedding)

    if fmt != "parquet":
        add(
            "truncated_line",
            Reason.MALFORMED,
            lambda row, j, i: Case(row, mangle=_truncate_line(rng, fmt)),
        )
        add(
            "invalid_utf8", Reason.MALFORMED, lambda row, j, i: Case(row, mangle=_inject_bytes(rng))
        )
    else:
        texts = [c for c in _string_columns(table) if c.name in good[0]]

        def bad_utf8(row: dict, j: int, i: int) -> Case:
            column = texts[j % len(texts)]
            row[column.name] = BadUtf8(b"ok" + [b"\x80", b"\xff\xfe", b"\xc0\xaf"][j % 3])
            return Case(row)

        add("invalid_utf8", Reason.MALFORMED, bad_utf8)

    limited = [c for c in _string_columns(table) if c.max_len and not c.allowed]

    def huge(row: dict, j: int, i: int) -> Case:
        # Just over the limit, except two really big ones in the longest text column; multi-byte
        # characters count as characters, not bytes.
        longest = max(limited, key=lambda c: c.max_len)
        if j < 2 and longest.max_len >= 2_000:
            column, size = longest, HUGE_CHARS
        else:
            column = limited[j % len(limited)]
            size = column.max_len + 1 + int(rng.integers(0, 64))
        row[column.name] = ("é" if j % 3 == 0 else "x") * size
        return Case(row)

    add("huge_string", Reason.TOO_LONG, huge)

    numbers = _number_columns(table)
    if numbers:

        def nan_inf(row: dict, j: int, i: int) -> Case:
            column = numbers[j % len(numbers)]
            value = [math.nan, math.inf, -math.inf][j % 3]
            row[column.name] = value if fmt != "csv" else Raw(["nan", "inf", "-Infinity"][j % 3])
            if column.name == cols.VALUE:
                row[cols.EVENT_TYPE] = cols.EVENT_TYPES[-1]
            return Case(row)

        add("nan_inf", Reason.OUT_OF_RANGE, nan_inf)
    if table is cols.ITEMS:

        def nan_embedding(row: dict, j: int, i: int) -> Case:
            row[cols.IMAGE_EMBEDDING] = [0.5, [math.nan, math.inf, -math.inf][j % 3]]
            return Case(row)

        add("nan_inf", Reason.OUT_OF_RANGE, nan_embedding)

    times = _time_columns(table)
    if times:

        def negative_ts(row: dict, j: int, i: int) -> Case:
            column = times[j % len(times)]
            seconds = -int(rng.integers(1, 2_000_000_000))
            if j % 2:
                row[column.name] = Raw(seconds)  # epoch seconds before 1970
            else:
                row[column.name] = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
                    seconds=seconds
                )
            return Case(row)

        add("negative_ts", Reason.OUT_OF_RANGE, negative_ts)

        def overflow_ts(row: dict, j: int, i: int) -> Case:
            # 2**62 us (year 148,108): no datetime holds it; it stopped ingest with an
            # OverflowError and no row named (issue 17). As epoch seconds, past year 9999.
            column = times[j % len(times)]
            row[column.name] = Raw(2**62 // 10**6 + int(rng.integers(0, 1_000_000)))
            return Case(row)

        add("overflow_ts", Reason.OUT_OF_RANGE, overflow_ts)

    if table.key:
        variable = [c for c in table.columns if c.name not in table.key]

        def same_key(row: dict, j: int, i: int) -> Case | None:
            """The key of good row i with another good row's value in one other column."""
            if not variable:
                return None
            column = variable[j % len(variable)]
            row[column.name] = good[(i + 1) % len(good)][column.name]
            return Case(row, source=i)

        add("duplicate_key", Reason.DUPLICATE, same_key)

    if table is cols.ITEMS:
        base = _png(16)

        def oversized(row: dict, j: int, i: int) -> Case:
            if j < 2:
                row[cols.IMAGE_BYTES] = base + b"\x00" * (OVERSIZED_IMAGE_BYTES - len(base))
            elif j < 6:
                row[cols.IMAGE_BYTES] = _bomb()
            else:
                return None
            return Case(row)

        add("oversized_image", Reason.TOO_LONG, oversized)

    if fmt == "jsonl":
        names = [c.name for c in table.columns if c.required]
        add(
            "repeated_member",
            Reason.MALFORMED,
            lambda row, j, i: Case(row, mangle=_repeat_member(names[j % len(names)])),
        )
    if fmt == "csv":
        add("stray_quote", Reason.MALFORMED, lambda row, j, i: Case(row, mangle=_stray_quote))
    for n, case in enumerate(cases):
        _expect_dropped(table, good, case, n)
    return cases


def _expect_dropped(table: Table, good: list[dict], case: Case, n: int) -> None:
    """A case whose one defect is an optional value: expected valid, that value dropped."""
    if case.source is None or case.mangle is not None or case.expected not in VALUE_REASONS:
        return
    original = good[case.source]
    changed = [c for c in table.names if not _same(case.row.get(c), original.get(c))]
    optional = optional_columns(table)
    spoiled = [c for c in changed if c in optional]
    if len(spoiled) != 1 or set(changed) - set(spoiled) - {cols.EVENT_TYPE}:
        return
    case.dropped, case.expected = (spoiled[0], case.expected), None
    if table.key:
        for column in table.key:
            case.row[column] = f"fresh-{table.name}-{n}"
    else:  # events: a session of its own, or once emptied it equals the row it copies
        column = cols.SESSION_ID if spoiled[0] != cols.SESSION_ID else cols.QUERY
        case.row[column] = f"fresh-{n}"


def _same(a: object, b: object) -> bool:
    if isinstance(a, Raw | BadUtf8) or isinstance(b, Raw | BadUtf8):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    if not _BOMB:
        _BOMB.append(_png(BOMB_SIDE, "L"))
    return _BOMB[0]


def arrange(good: list[dict], bad: list[Case], rng: np.random.Generator) -> list[Case]:
    """Good rows in order with the bad ones interleaved; a duplicate lands after its original."""
    slots = []
    for seq, case in enumerate(bad):
        low = 0 if case.source is None else case.source + 1
        slots.append((int(rng.integers(low, len(good) + 1)), 1, seq, case))
    slots += [(i, 0, i, Case(row)) for i, row in enumerate(good)]
    return [case for *_, case in sorted(slots, key=lambda s: s[:3])]


# --- writing -----------------------------------------------------------------------------------


def _json_value(value: object) -> object:
    if isinstance(value, Raw):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _text(value: object) -> str | None:
    value = _json_value(value)
    if value is None:
        return None
    if isinstance(value, list | dict | bool):
        return json.dumps(value)
    return str(value)


def write_table(root: pathlib.Path, table: Table, cases: list[Case], fmt: str) -> Written:
    """Write one table's cases; returns where each landed."""
    folder = root / table.name
    folder.mkdir(parents=True, exist_ok=True)
    at: dict[tuple[str, int], Case] = {}
    if fmt == "parquet":
        parts: dict[int, list[Case]] = collections.defaultdict(list)
        for case in cases:
            values = case.row.values()
            part = (
                2
                if any(isinstance(v, BadUtf8) for v in values)
                else 1
                if any(isinstance(v, Raw) for v in values)
                else 0
            )
            parts[part].append(case)
        for part, members in sorted(parts.items()):
            name = f"part-{part:05d}.parquet"
            pq.write_table(_parquet_part(table, members, part), folder / name)
            at.update({(f"{table.name}/{name}", i): c for i, c in enumerate(members)})
        return Written(at, cases)
    name = f"part-00000.{fmt}"
    buf = io.BytesIO()
    line_no = 1
    if fmt == "csv":
        buf.write((",".join(table.names) + "\n").encode())
        line_no = 2
    for case in cases:
        if fmt == "jsonl":
            obj = {c: _json_value(v) for c, v in case.row.items()}
            line = json.dumps(obj, ensure_ascii=False).encode() + b"\n"
        else:
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerow(
                ["" if (t := _text(case.row.get(n))) is None else t for n in table.names]
            )
            line = text.getvalue().encode()
        if case.mangle is not None:
            line = case.mangle(line)
        at[(f"{table.name}/{name}", line_no)] = case
        line_no += line.count(b"\n")
        buf.write(line)
    (folder / name).write_bytes(buf.getvalue())
    return Written(at, cases)


def _parquet_part(table: Table, cases: list[Case], part: int) -> pa.Table:
    rows = [c.row for c in cases]
    if part == 0:
        return pa.Table.from_pylist(rows, schema=nullable_schema(table))
    if part == 1:
        return pa.table(
            {n: pa.array([_text(r.get(n)) for r in rows], pa.string()) for n in table.names}
        )
    arrays = {}
    for column in table.columns:
        values = [r.get(column.name) for r in rows]
        if pa.types.is_string(column.type):
            arrays[column.name] = pa.array(
                [
                    v.data if isinstance(v, BadUtf8) else None if v is None else v.encode()
                    for v in values
                ],
                pa.binary(),
            )
        else:
            arrays[column.name] = pa.array(values, column.type)
    return pa.table(arrays)


def build(tmp: pathlib.Path, *, seed: int = 11) -> dict[str, dict[str, Written]]:
    """Write the corpus in every format; returns ``{fmt: {table: Written}}`` (roots: tmp/fmt)."""
    clean = clean_tables(tmp, seed=seed)
    out: dict[str, dict[str, Written]] = {}
    for f, fmt in enumerate(FORMATS):
        root = tmp / fmt
        out[fmt] = {}
        for t, table in enumerate(schemas.TABLES):
            rng = np.random.default_rng([seed, f, t])
            good = clean[table.name].to_pylist()
            bad = defect_cases(table, good, fmt, rng)
            out[fmt][table.name] = write_table(root, table, arrange(good, bad, rng), fmt)
    return out


def id_role(table: Table) -> Role | None:
    """The role of the table's first column (for messages)."""
    return table.columns[0].role
