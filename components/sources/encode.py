"""Encode contract tables as JSON Lines or CSV, exactly as ingest parses them.

Rules (the contract between sources and ingest for text formats):
- timestamps: ISO-8601 UTC strings with a ``Z`` and whole seconds (``2024-01-05T10:11:12Z``);
- image bytes: base64 strings;
- image embedding: a JSON list (in CSV: the JSON list as a string);
- nulls: JSON ``null``; in CSV an empty field;
- CSV has a header row with the contract's column names, in canonical order.
A planted ``wrong_type`` cell is written as its override text (e.g. ``"abc"`` for a price).
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
FORMATS = ("parquet", "jsonl", "csv")
EXTENSIONS = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}
Override = tuple[int, str, str]  # (row, column, text written instead of the value)


def column_values(array: pa.ChunkedArray | pa.Array) -> list[object]:
    """Python values of one column in their text-format encoding (JSON-ready)."""
    kind = array.type
    if pa.types.is_timestamp(kind):
        seconds = array.cast(pa.timestamp("s", tz="UTC"), safe=False)
        return pc.strftime(seconds, format=ISO_FORMAT).to_pylist()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return [
            None if b is None else base64.b64encode(b).decode("ascii") for b in array.to_pylist()
        ]
    return array.to_pylist()


def _rows(table: pa.Table, overrides: Sequence[Override]) -> list[list[object]]:
    columns = [column_values(table.column(i)) for i in range(table.num_columns)]
    index = {name: i for i, name in enumerate(table.column_names)}
    for row, column, text in overrides:
        columns[index[column]][row] = text
    return [list(r) for r in zip(*columns, strict=True)] if columns else []


def to_jsonl(table: pa.Table, overrides: Sequence[Override] = ()) -> str:
    """One JSON object per row, keys in canonical order, one line each."""
    names = table.column_names
    lines = [
        json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False, separators=(",", ":"))
        for row in _rows(table, overrides)
    ]
    return "".join(line + "\n" for line in lines)


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value, separators=(",", ":"))
    return value


def to_csv(table: pa.Table, overrides: Sequence[Override] = (), *, header: bool = True) -> str:
    """CSV text (RFC 4180 quoting, LF line ends) with a header row unless ``header`` is off."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(table.column_names)
    for row in _rows(table, overrides):
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()
