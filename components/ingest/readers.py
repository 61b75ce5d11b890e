"""Raw files read in batches of parsed rows (Parquet, JSONL, CSV; gzipped text too).

Each batch is a ``formats.RawBatch`` that remembers every row's line or row number in its
file. A file that is not what its name claims (Parquet named .csv, binary, bad gzip) is refused
with its name; a bad row inside a good file is the validator's business, never an error here.
CSV records are cut by ``csv_records`` (a stray quote costs only its own line).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gzip
import pathlib
import zlib
from collections.abc import Iterator
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import schemas
from components.ingest.csv_records import csv_records
from components.ingest.errors import InputFormatError, MissingColumnError
from components.ingest.formats import (
    JSONL,
    PARQUET,
    Malformed,
    RawBatch,
    csv_header,
    parse_csv,
    parse_jsonl,
    unclosed_quote,
)
from components.ingest.listing import InputFile, local_copy

T = TypeVar("T")

GZIP_MAGIC = b"\x1f\x8b"
# Spreadsheet exports start UTF-8 text with a byte-order mark; it is not part of the first name.
UTF8_BOM = b"\xef\xbb\xbf"
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 65_536
# A batch ends at this many bytes of text (and a multi-line CSV record may not grow past it).
CHUNK_BYTES = 64 * 1024 * 1024


def iter_batches(source: InputFile, table: schemas.Table, *, batch_rows: int) -> Iterator[RawBatch]:
    """Read one raw file in batches of at most ``batch_rows`` rows.

    Raises:
        InputFormatError: the file is not the format its name claims or cannot be read; the
            message names the file (and the row or line where known).
    """
    with local_copy(source.uri) as path:
        if source.format == PARQUET:
            yield from _parquet_batches(path, source.shown, table, batch_rows)
        else:
            with _open_text(path, source) as stream:
                if source.format == JSONL:
                    yield from _jsonl_batches(stream, source.shown, table, batch_rows)
                else:
                    yield from _csv_batches(stream, source.shown, table, batch_rows)


def prefetch(items: Iterator[T]) -> Iterator[T]:
    """Yield from ``items`` while a background thread already produces the next one.

    Reading and decoding Parquet releases the GIL, so this overlaps I/O with validation.
    Exceptions raised by ``items`` surface here, in the caller's thread.
    """
    done = object()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prefetch") as pool:
        future = pool.submit(next, items, done)
        while True:
            item = future.result()
            if item is done:
                return
            future = pool.submit(next, items, done)
            yield item


def _parquet_batches(
    path: pathlib.Path, uri: str, table: schemas.Table, batch_rows: int
) -> Iterator[RawBatch]:
    # Opened by Python: pyarrow cannot take a path whose name is not UTF-8 (surrogate escapes).
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as err:
        raise InputFormatError(f"{uri}: cannot open ({err.strerror})") from err
    with handle:
        try:
            f = pq.ParquetFile(handle)
        except (pa.ArrowException, OSError) as err:
            raise InputFormatError(f"{uri}: not a readable Parquet file ({err})") from err
        yield from _parquet_file_batches(f, uri, table, batch_rows)


def _parquet_file_batches(
    f: pq.ParquetFile, uri: str, table: schemas.Table, batch_rows: int
) -> Iterator[RawBatch]:
    with f:
        present = [c.name for c in table.columns if c.name in f.schema_arrow.names]
        if not present and f.metadata.num_rows == 0:
            return
        if not present:
            raise InputFormatError(
                f"{uri}: Parquet has none of the columns of table {table.name!r} "
                f"({table.names}); it has {f.schema_arrow.names}"
            )
        _require_columns(
            uri, table, f.schema_arrow.names, what="Parquet schema", rows=f.metadata.num_rows
        )
        extra = frozenset(f.schema_arrow.names) - set(table.names)
        start = 0
        batches = f.iter_batches(batch_size=batch_rows, columns=present)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as err:
                raise InputFormatError(
                    f"{uri}: unreadable Parquet near row {start}: {err}"
                ) from err
            n = batch.num_rows
            yield RawBatch(
                [pa.Table.from_batches([batch])],
                np.arange(start, start + n, dtype=np.int64),
                extra=extra,
            )
            start += n


@contextlib.contextmanager
def _open_text(path: pathlib.Path, source: InputFile) -> Iterator[BinaryIO]:
    """Open a JSONL/CSV file as bytes, refusing files that are clearly something else."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as err:
        raise InputFormatError(f"{source.shown}: cannot open ({err.strerror})") from err
    with raw:
        head = raw.read(SNIFF_BYTES)
        raw.seek(0)
        if source.gzipped:
            if not head.startswith(GZIP_MAGIC):
                raise InputFormatError(f"{source.shown}: named .gz but is not gzip-compressed")
            stream: BinaryIO = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
            try:
                head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
            except (OSError, EOFError, zlib.error) as err:
                raise InputFormatError(f"{source.shown}: corrupt gzip data ({err})") from err
        else:
            stream = raw
        _refuse_binary(head, source)
        yield stream


def _refuse_binary(head: bytes, source: InputFile) -> None:
    what = source.format.upper()
    if head.startswith(PARQUET_MAGIC):
        raise InputFormatError(f"{source.shown}: claims {what} but is a Parquet file")
    if head.startswith(GZIP_MAGIC):
        raise InputFormatError(
            f"{source.shown}: claims {what} but is gzip-compressed (name it .gz)"
        )
    if b"\x00" in head:
        raise InputFormatError(f"{source.shown}: claims {what} but holds binary data (NUL bytes)")


def _lines(stream: BinaryIO, uri: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) pairs; decompression errors name the file and line.

    A UTF-8 byte-order mark at the start of the first line is dropped (it is not text).
    """
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
            if number == 1 and line.startswith(UTF8_BOM):
                line = line[len(UTF8_BOM) :]
            yield number, line
    except (OSError, EOFError, zlib.error) as err:
        raise InputFormatError(f"{uri}: unreadable after line {number} ({err})") from err


def _jsonl_batches(
    stream: BinaryIO, uri: str, table: schemas.Table, batch_rows: int
) -> Iterator[RawBatch]:
    lines: list[bytes] = []
    rows: list[int] = []
    size = 0
    for number, line in _lines(stream, uri):
        if not line.strip():
            continue
        lines.append(line)
        rows.append(number)
        size += len(line)
        if len(lines) >= batch_rows or size >= CHUNK_BYTES:
            yield parse_jsonl(lines, rows, table)
            lines, rows, size = [], [], 0
    if lines:
        yield parse_jsonl(lines, rows, table)


def _csv_batches(
    stream: BinaryIO, uri: str, table: schemas.Table, batch_rows: int
) -> Iterator[RawBatch]:
    lines = _lines(stream, uri)
    first = next(lines, None)
    if first is None:
        raise InputFormatError(f"{uri}: empty CSV file (no header line)")
    try:
        header = csv_header(first[1], source=uri)
    except ValueError as err:
        raise InputFormatError(f"{uri} line 1: {err}") from err
    if not set(header) & set(table.names):
        raise InputFormatError(
            f"{uri} line 1: CSV header {header} names none of the columns of table "
            f"{table.name!r} ({table.names})"
        )
    _require_columns(uri, table, header, what="CSV header")
    records: list[bytes] = []
    rows: list[int] = []
    broken: list[Malformed] = []
    size = 0
    for number, record, closed in csv_records(
        lines, fields=len(header), max_lines=_max_lines(table), max_bytes=CHUNK_BYTES
    ):
        if closed:
            records.append(record)
            rows.append(number)
        else:
            broken.append(unclosed_quote(number, record))
        size += len(record)
        if len(records) + len(broken) >= batch_rows or size >= CHUNK_BYTES:
            yield parse_csv(header, records, rows, broken=broken)
            records, rows, broken, size = [], [], [], 0
    if records or broken:
        yield parse_csv(header, records, rows, broken=broken)


def _require_columns(
    uri: str, table: schemas.Table, names: list[str], *, what: str, rows: int | None = None
) -> None:
    """One error for a file without a required column (renamed or dropped), not a row each.

    Raises:
        MissingColumnError: naming the file, the missing columns and the unknown ones.
    """
    missing = [c.name for c in table.columns if c.required and c.name not in names]
    if missing:
        unknown = [n for n in names if n not in table.names]
        count = "" if rows is None else f"; its {rows:,} rows were not read"
        raise MissingColumnError(
            f"{uri}: required column(s) {missing} of table {table.name!r} missing from the "
            f"{what} (unknown columns there: {unknown or 'none'}; renamed?){count}"
        )


def _max_lines(table: schemas.Table) -> int:
    """Most lines one record of ``table`` can span: every character of its text a newline."""
    return 1 + sum(c.max_len or 0 for c in table.columns if pa.types.is_string(c.type))
