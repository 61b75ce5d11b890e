"""Parse chunks of JSONL lines or CSV records into Arrow, one bad line never losing its chunk.

Pure: bytes in, ``RawBatch`` out (``readers`` reads the bytes). The fast path hands the whole chunk
to ``pyarrow.json`` / ``pyarrow.csv``; only a chunk that fails is parsed again line by line, and
the lines that fail there become ``malformed`` rows.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json

from components.ingest.quarantine import row_json
from schemas import Table

PARQUET, JSONL, CSV = "parquet", "jsonl", "csv"
MIN_BLOCK_BYTES = 1 << 20
# Lines per sub-block when a chunk fails to parse as a whole.
SUB_BLOCK_LINES = 256


@dataclasses.dataclass(frozen=True)
class Malformed:
    """A line that could not be parsed into a row."""

    row: int
    raw: str
    detail: str


@dataclasses.dataclass(frozen=True)
class RawBatch:
    """Rows parsed from one chunk of one file.

    Attributes:
        parts: Parsed rows as consecutive tables in row order (columns of any Arrow type; the
            parts of one batch may type a column differently, so each is coerced on its own).
        rows: Row number in the file of each parsed row, ``[n]`` int64.
        lines: Original text of each parsed row (JSONL), or None to render rows from ``parts``.
        malformed: Lines that did not parse (not in ``parts``).
        extra: Member names parsed but not kept in ``parts`` (JSON lines parsed one by one).
    """

    parts: Sequence[pa.Table]
    rows: np.ndarray
    lines: Sequence[str] | None = None
    malformed: Sequence[Malformed] = ()
    extra: frozenset[str] = frozenset()

    @property
    def num_rows(self) -> int:
        """Parsed rows."""
        return sum(p.num_rows for p in self.parts)

    @property
    def read(self) -> int:
        """Input rows this batch accounts for (parsed + malformed)."""
        return self.num_rows + len(self.malformed)

    def extra_columns(self, table: Table) -> set[str]:
        """Columns these rows carry that ``table`` does not declare (never read)."""
        names = {n for part in self.parts for n in part.column_names} | set(self.extra)
        return names - set(table.names)

    def raw_rows(self, index: np.ndarray) -> list[str]:
        """Raw rows at batch indices as JSON text."""
        if self.lines is not None:
            return [self.lines[i] for i in index.tolist()]
        rows: list[dict] = []
        start = 0
        for part in self.parts:
            inside = index[(index >= start) & (index < start + part.num_rows)] - start
            rows += _pylist(part.take(pa.array(inside, pa.int64())))
            start += part.num_rows
        return [row_json(r) for r in rows]


def _pylist(part: pa.Table) -> list[dict]:
    """Rows as dicts; times as their stored integers if one is past what a datetime holds."""
    try:
        return part.to_pylist()
    except OverflowError:
        times = [i for i, f in enumerate(part.schema) if pa.types.is_temporal(f.type)]
        for i in times:
            stored = (
                part.column(i).cast(pa.int64())
                if pa.types.is_timestamp(part.schema.field(i).type)
                else part.column(i).cast(pa.string())
            )
            part = part.set_column(i, part.schema.field(i).name, stored)
        return part.to_pylist()


def parse_jsonl(lines: Sequence[bytes], rows: Sequence[int], table: Table) -> RawBatch:
    """Parse JSON-object lines (blank lines already dropped).

    The chunk is parsed by pyarrow in one go; if that fails, in sub-blocks of
    ``SUB_BLOCK_LINES``, and only the sub-blocks that fail go line by line (a value of the
    wrong JSON type fails its whole block in pyarrow, and such rows are a fact of raw data).

    Args:
        lines: One JSON object per element (with or without the trailing newline).
        rows: 1-based line number of each element.
        table: The declared table (string columns are read as strings, never inferred).
    """
    schema = pa.schema([(c.name, pa.string()) for c in table.columns if _text_typed(c.type)])
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer")
    whole = _read_jsonl(lines, options)
    if whole is not None:
        return RawBatch([whole[0]], np.asarray(rows, dtype=np.int64), whole[1])
    parts, good_rows, texts, malformed = [], [], [], []
    extra: set[str] = set()
    for lo in range(0, len(lines), SUB_BLOCK_LINES):
        sub_lines, sub_rows = lines[lo : lo + SUB_BLOCK_LINES], rows[lo : lo + SUB_BLOCK_LINES]
        fast = _read_jsonl(sub_lines, options)
        if fast is not None:
            parts.append(fast[0])
            good_rows += sub_rows
            texts += fast[1]
            continue
        slow = _parse_jsonl_lines(sub_lines, sub_rows, table)
        parts += slow.parts
        good_rows += slow.rows.tolist()
        texts += slow.lines
        malformed += slow.malformed
        extra |= slow.extra
    return RawBatch(
        _merge(parts), np.asarray(good_rows, dtype=np.int64), texts, malformed, frozenset(extra)
    )


def _read_jsonl(
    lines: Sequence[bytes], options: pa_json.ParseOptions
) -> tuple[pa.Table, list[str]] | None:
    """The lines as a table plus their text, or None if pyarrow cannot parse them all."""
    joined = b"\n".join(line.rstrip(b"\r\n") for line in lines) + b"\n"
    try:
        data = pa_json.read_json(
            io.BytesIO(joined),
            read_options=pa_json.ReadOptions(block_size=_block_bytes(lines)),
            parse_options=options,
        )
        if data.num_rows != len(lines):
            return None
        return data, [line.decode("utf-8").rstrip("\r\n") for line in lines]
    # pyarrow.json raises ArrowInvalid, and UnicodeDecodeError on invalid UTF-8.
    except (pa.ArrowException, ValueError):
        return None


def _merge(parts: list[pa.Table]) -> list[pa.Table]:
    """Concatenate parts into one table when possible (coercing one table is cheapest).

    Types are unified permissively (null -> any, int -> double); a column typed as text in one
    part and as numbers in another is cast to text everywhere (``coerce_batch`` parses text).
    A column that cannot be cast (lists, structs) leaves the parts apart.
    """
    if len(parts) <= 1:
        return parts
    try:
        return [pa.concat_tables(parts, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    types: dict[str, set[pa.DataType]] = {}
    for part in parts:
        for field in part.schema:
            if not pa.types.is_null(field.type):
                types.setdefault(field.name, set()).add(field.type)
    mixed = [name for name, seen in types.items() if len(seen) > 1]
    try:
        texted = list(parts)
        for name in mixed:
            texted = [_as_text(part, name) for part in texted]
        return [pa.concat_tables(texted, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return parts


def _as_text(part: pa.Table, name: str) -> pa.Table:
    if name not in part.column_names:
        return part
    index = part.schema.get_field_index(name)
    return part.set_column(index, name, part.column(name).cast(pa.string()))


def _parse_jsonl_lines(lines: Sequence[bytes], rows: Sequence[int], table: Table) -> RawBatch:
    parsed, good_rows, texts, malformed = [], [], [], []
    for line, row in zip(lines, rows, strict=True):
        try:
            text = line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as err:
            malformed.append(Malformed(row, _shown(line), f"invalid UTF-8 at byte {err.start}"))
            continue
        try:
            obj = json.loads(text, object_pairs_hook=_object_once)
        except _RepeatedMember as err:
            malformed.append(Malformed(row, json.dumps(text), str(err)))
            continue
        except json.JSONDecodeError as err:
            malformed.append(
                Malformed(row, json.dumps(text), f"not JSON: {err.msg} at col {err.colno}")
            )
            continue
        if not isinstance(obj, dict):
            malformed.append(
                Malformed(row, json.dumps(text), f"not a JSON object: {type(obj).__name__}")
            )
            continue
        parsed.append(obj)
        good_rows.append(row)
        texts.append(text)
    data = pa.table(
        {c.name: _lenient_array([o.get(c.name) for o in parsed]) for c in table.columns}
    )
    extra = frozenset({k for o in parsed for k in o} - set(table.names))
    return RawBatch([data], np.asarray(good_rows, dtype=np.int64), texts, malformed, extra)


class _RepeatedMember(ValueError):
    """A JSON object names one member twice (RFC 8259 leaves the meaning open)."""


def _object_once(pairs: list[tuple[str, object]]) -> dict:
    """A JSON object as a dict, refusing repeated names.

    ``json`` would keep the last value and pyarrow refuses the whole chunk, so a repeated
    ``user_id`` silently picked one of two ids; such a line is malformed instead.
    """
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        name = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _RepeatedMember(f"JSON object repeats member {name!r}")
    return obj


def csv_header(line: bytes, *, source: str) -> list[str]:
    """Column names of a CSV header line.

    Raises:
        ValueError: if the header is empty, not UTF-8 or repeats a name.
    """
    try:
        names = next(csv.reader([line.decode("utf-8").rstrip("\r\n")]), [])
    except UnicodeDecodeError as err:
        raise ValueError(f"{source}: CSV header is not UTF-8 ({err})") from err
    names = [n.strip() for n in names]
    if not names or not any(names):
        raise ValueError(f"{source}: CSV header line is empty")
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: CSV header repeats a column: {names}")
    return names


def parse_csv(
    header: Sequence[str],
    records: Sequence[bytes],
    rows: Sequence[int],
    *,
    broken: Sequence[Malformed] = (),
) -> RawBatch:
    """Parse CSV records (a record may span lines when a quoted field holds a newline).

    Args:
        header: Column names from the header line.
        records: Raw bytes of each record (blank ones already dropped).
        rows: 1-based line number where each record starts.
        broken: Lines the reader already knows are not a record (see ``unclosed_quote``).

    Returns:
        Rows with every column as string (empty field = null); wrong field counts are malformed.
    """
    batch = _parse_csv(header, records, rows)
    if broken:
        batch = dataclasses.replace(batch, malformed=[*batch.malformed, *broken])
    return batch


def unclosed_quote(row: int, line: bytes) -> Malformed:
    """A CSV line whose quoted field does not close within one record."""
    return Malformed(row, _shown(line.rstrip(b"\r\n")), "quoted field does not close (stray quote)")


def allow_csv_fields(chars: int) -> None:
    """Let Python's ``csv`` read fields of up to ``chars`` characters.

    Its default limit (131,072) is below a valid row's field (a 5 MB image is 6.7 M base64
    characters), and hitting it made a good row malformed whenever a bad neighbour sent its
    chunk to the line-by-line path. The limit is process-wide; it is only ever raised.
    """
    if chars > csv.field_size_limit():
        csv.field_size_limit(chars)


def _parse_csv(header: Sequence[str], records: Sequence[bytes], rows: Sequence[int]) -> RawBatch:
    whole = _read_csv(header, records)
    if whole is not None:
        return RawBatch([whole], np.asarray(rows, dtype=np.int64))
    parts, good_rows, malformed = [], [], []
    for lo in range(0, len(records), SUB_BLOCK_LINES):
        sub, sub_rows = records[lo : lo + SUB_BLOCK_LINES], rows[lo : lo + SUB_BLOCK_LINES]
        fast = _read_csv(header, sub)
        if fast is None:
            slow = _parse_csv_records(header, sub, sub_rows)
            parts += slow.parts
            good_rows += slow.rows.tolist()
            malformed += slow.malformed
        else:
            parts.append(fast)
            good_rows += sub_rows
    return RawBatch(_merge(parts), np.asarray(good_rows, dtype=np.int64), None, malformed)


def _read_csv(header: Sequence[str], records: Sequence[bytes]) -> pa.Table | None:
    """The records as a table of strings, or None if pyarrow cannot parse them all."""
    read = pa_csv.ReadOptions(column_names=list(header), block_size=_block_bytes(records))
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    convert = pa_csv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=True,
        null_values=[""],
    )
    blob = b"".join(r if r.endswith(b"\n") else r + b"\n" for r in records)
    try:
        data = pa_csv.read_csv(
            io.BytesIO(blob), read_options=read, parse_options=parse, convert_options=convert
        )
    except (pa.ArrowException, ValueError):
        return None
    return data if data.num_rows == len(records) else None


def _parse_csv_records(
    header: Sequence[str], records: Sequence[bytes], rows: Sequence[int]
) -> RawBatch:
    values: list[list[str | None]] = []
    good_rows, malformed = [], []
    for record, row in zip(records, rows, strict=True):
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as err:
            malformed.append(Malformed(row, _shown(record), f"invalid UTF-8 at byte {err.start}"))
            continue
        allow_csv_fields(len(text))
        try:
            fields = list(csv.reader(io.StringIO(text)))
        except csv.Error as err:
            malformed.append(Malformed(row, json.dumps(text.rstrip("\r\n")), f"bad CSV: {err}"))
            continue
        if len(fields) != 1 or len(fields[0]) != len(header):
            got = len(fields[0]) if len(fields) == 1 else f"{len(fields)} records"
            malformed.append(
                Malformed(
                    row,
                    json.dumps(text.rstrip("\r\n")),
                    f"expected {len(header)} fields, got {got}",
                )
            )
            continue
        values.append([v if v != "" else None for v in fields[0]])
        good_rows.append(row)
    data = pa.table(
        {name: pa.array([v[i] for v in values], pa.string()) for i, name in enumerate(header)}
    )
    return RawBatch([data], np.asarray(good_rows, dtype=np.int64), None, malformed)


def _block_bytes(lines: Sequence[bytes]) -> int:
    """A pyarrow block size that holds the longest line.

    A line longer than a block fails the whole chunk ("straddling object"), e.g. JSONL items
    with base64 images, which would send every line of the chunk down the slow path.
    """
    longest = max((len(line) for line in lines), default=0)
    return max(MIN_BLOCK_BYTES, 2 * longest + 1)


def _text_typed(t: pa.DataType) -> bool:
    """Columns whose JSON values are strings (binary ones as base64)."""
    return pa.types.is_string(t) or pa.types.is_binary(t)


def _lenient_array(values: list) -> pa.Array:
    """Arrow array of JSON values; mixed types fall back to their JSON text (checked later).

    Booleans mixed with anything else go to text too: pyarrow infers ``[4.0, true]`` as doubles
    (``true`` -> 1.0) but refuses ``[true, 4.0]``, so a boolean rating passed or failed by the
    order of its neighbours.
    """
    kinds = {type(v) for v in values if v is not None}
    if bool not in kinds or len(kinds) == 1:
        try:
            return pa.array(values)
        except (pa.ArrowException, OverflowError):
            pass
    return pa.array(
        [v if v is None or isinstance(v, str) else json.dumps(v) for v in values], pa.string()
    )


def _shown(raw: bytes) -> str:
    return json.dumps(raw.decode("utf-8", errors="backslashreplace"))
