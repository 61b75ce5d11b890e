"""The only ingest module that touches files or gs://: find raw files, read them in batches, write.

Raw layout under a root (local directory or ``gs://bucket/prefix``), per contract table:
``<root>/<table>/part-*.<ext>`` or ``<root>/<table>.<ext>``; ext is parquet, jsonl or csv, the
text ones optionally ``.gz``. Names starting with ``_`` or ``.`` are ignored. gs:// objects are
downloaded one at a time to a temporary file (Parquet needs random access), read, then deleted.

gs:// outages: listing and downloads retry transient faults (connection refused or reset,
timeouts, 408, 429, 5xx; ``google.cloud.storage.retry.DEFAULT_RETRY``) with jittered back-off
for at most ``$SHOPREC_GCS_RETRY_DEADLINE_S`` seconds (default 120, as push; the client may give
up earlier when its next sleep would pass the deadline). What is left then raises
``InputUnavailableError`` naming the object; the run stops before writing its manifest, so no
output vouches for a partial read.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import csv
import dataclasses
import gzip
import io
import itertools
import json
import logging
import os
import pathlib
import tempfile
import time
import zlib
from collections.abc import Iterator
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

import schemas
from components import gcs_retry
from components.ingest.errors import (
    IngestConfigError,
    InputFormatError,
    InputNotFoundError,
    InputUnavailableError,
)
from components.ingest.formats import (
    CSV,
    JSONL,
    PARQUET,
    Malformed,
    RawBatch,
    allow_csv_fields,
    csv_header,
    parse_csv,
    parse_jsonl,
    unclosed_quote,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

GS = "gs://"
EXTENSIONS = {".parquet": PARQUET, ".pq": PARQUET, ".jsonl": JSONL, ".ndjson": JSONL, ".csv": CSV}
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 65_536
# A text chunk is cut at batch_rows records or at this many bytes, whichever comes first.
CHUNK_BYTES = 64 * 1024 * 1024
RETRY_DEADLINE_ENV = gcs_retry.RETRY_DEADLINE_ENV


@dataclasses.dataclass(frozen=True)
class InputFile:
    """One raw file of one table.

    Attributes:
        uri: Local path or ``gs://bucket/object``.
        format: parquet, jsonl or csv.
        gzipped: The bytes are gzip-compressed.
    """

    uri: str
    format: str
    gzipped: bool = False


def find_inputs(root: str, *, format: str = "auto") -> dict[str, list[InputFile]]:
    """The raw files of every contract table found under ``root``.

    Args:
        root: Local directory or ``gs://bucket/prefix``.
        format: ``auto`` (from extensions) or a format forced on every file.

    Returns:
        Table name -> its files in name order; absent tables are missing from the dict.

    Raises:
        InputNotFoundError: the root does not exist or holds nothing.
        InputFormatError: a table is given both as a folder and a file, or an extension is unknown.
    """
    names = _list_names(root)
    found: dict[str, list[InputFile]] = {}
    for table in schemas.TABLES:
        single = [n for n in names if "/" not in n and _stem(n) == table.name]
        parts = sorted(
            n
            for n in names
            if n.startswith(f"{table.name}/")
            and n.count("/") == 1
            and n.split("/", 1)[1].startswith("part-")
        )
        if single and parts:
            raise InputFormatError(
                f"{_join(root, table.name)}: table given both as a folder and as {single}"
            )
        if len(single) > 1:
            raise InputFormatError(f"{_join(root, table.name)}: table given twice: {single}")
        chosen = single or parts
        if chosen:
            found[table.name] = [_input_file(_join(root, n), format) for n in chosen]
    return found


def iter_batches(source: InputFile, table: schemas.Table, *, batch_rows: int) -> Iterator[RawBatch]:
    """Read one raw file in batches of at most ``batch_rows`` rows.

    Raises:
        InputFormatError: the file is not the format its name claims or cannot be read; the
            message names the file (and the row or line where known).
    """
    with _local_copy(source.uri) as path:
        if source.format == PARQUET:
            yield from _parquet_batches(path, source.uri, table, batch_rows)
        else:
            with _open_text(path, source) as stream:
                if source.format == JSONL:
                    yield from _jsonl_batches(stream, source.uri, table, batch_rows)
                else:
                    yield from _csv_batches(stream, source.uri, table, batch_rows)


class ParquetSink:
    """Writes batches to one Parquet file on a background thread; the file exists once closed.

    Parquet encoding releases the GIL, so writing batch k overlaps validating batch k+1 (at most
    one batch is in flight, which bounds memory).
    """

    def __init__(
        self, path: pathlib.Path, schema: pa.Schema, *, compression: str = "snappy"
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._writer = pq.ParquetWriter(path, schema, compression=compression)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="parquet-sink")
        self._pending: concurrent.futures.Future | None = None

    def write(self, batch: pa.Table) -> None:
        """Append rows (they must have the sink's schema)."""
        if batch.num_rows:
            self._wait()
            self._pending = self._pool.submit(self._writer.write_table, batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        """Finish the file (re-raises a failed background write)."""
        try:
            self._wait()
        finally:
            self._pool.shutdown()
            self._writer.close()

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


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


class ArrowSink:
    """Writes batches to an Arrow IPC file (a working file, read back once).

    IPC writes and reads several times faster than Parquet: there is no encoding step.
    """

    def __init__(self, path: pathlib.Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.rows = 0
        self._writer = pa.ipc.new_file(str(path), schema)

    def write(self, batch: pa.Table) -> None:
        """Append rows (they must have the sink's schema)."""
        if batch.num_rows:
            self._writer.write_table(batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        """Finish the file."""
        self._writer.close()


def read_arrow_batches(path: pathlib.Path) -> Iterator[pa.Table]:
    """Batches of an Arrow IPC file this job wrote (read, not memory-mapped, so RSS stays flat)."""
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.open_file(f)
        for i in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(i)])


def write_text(path: pathlib.Path, text: str) -> None:
    """Write a text file atomically (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_json(path: pathlib.Path, value: object) -> None:
    """Write JSON, indented, keys in insertion order."""
    write_text(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def remove(path: pathlib.Path) -> None:
    """Delete a file this job wrote (missing is fine)."""
    path.unlink(missing_ok=True)


def ensure_dir(path: pathlib.Path) -> None:
    """Create the output directory."""
    path.mkdir(parents=True, exist_ok=True)


# --- listing -----------------------------------------------------------------------------------


def _list_names(root: str) -> list[str]:
    """Relative names (``events.csv``, ``events/part-0.csv``) under root, ignoring ``_``/``.``."""
    if root.startswith(GS):
        names = _list_gcs(root)
    else:
        base = pathlib.Path(root)
        if not base.is_dir():
            raise InputNotFoundError(f"{root}: input directory does not exist")
        names = [
            p.relative_to(base).as_posix()
            for p in sorted(base.rglob("*"))
            if p.is_file() and p.relative_to(base).as_posix().count("/") <= 1
        ]
    return [n for n in names if not any(part[:1] in "_." for part in n.split("/"))]


def _list_gcs(root: str) -> list[str]:
    from google.api_core import exceptions as gexc

    bucket, prefix = _split_gs(root)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    deadline = retry_deadline()
    retry, timeout = gcs_retry.retry_and_timeout(deadline)
    started = time.monotonic()
    try:
        blobs = list(_gcs_client().list_blobs(bucket, prefix=prefix, retry=retry, timeout=timeout))
    except gexc.NotFound as err:
        raise InputNotFoundError(f"{root}: bucket {bucket!r} does not exist") from err
    except gcs_retry.faults() as err:
        raise InputUnavailableError(
            _unavailable(root, "listing objects", err, time.monotonic() - started, deadline)
        ) from err
    names = [b.name[len(prefix) :] for b in blobs if not b.name.endswith("/")]
    if not names:
        raise InputNotFoundError(f"{root}: no objects under this prefix")
    return sorted(names)


def _input_file(uri: str, format: str) -> InputFile:
    name = uri.rsplit("/", 1)[-1]
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[: -len(".gz")]
    ext = os.path.splitext(name)[1].lower()
    if format != "auto":
        return InputFile(uri, format, gzipped)
    if ext not in EXTENSIONS:
        raise InputFormatError(
            f"{uri}: unknown extension {ext!r}; expected one of {sorted(EXTENSIONS)} (or --format)"
        )
    if gzipped and EXTENSIONS[ext] == PARQUET:
        raise InputFormatError(f"{uri}: gzipped Parquet is not supported (Parquet compresses)")
    return InputFile(uri, EXTENSIONS[ext], gzipped)


def _stem(name: str) -> str:
    name = name[: -len(".gz")] if name.endswith(".gz") else name
    return os.path.splitext(name)[0]


def _join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def _split_gs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len(GS) :].partition("/")
    return bucket, prefix


def _gcs_client():
    """A client from the environment (``STORAGE_EMULATOR_HOST`` selects the emulator)."""
    from google.cloud import storage as gcs

    return gcs.Client()


def retry_deadline() -> float:
    """Seconds a gs:// read keeps retrying (``components.gcs_retry``).

    Raises:
        IngestConfigError: ``$SHOPREC_GCS_RETRY_DEADLINE_S`` is set but not a positive number.
    """
    return gcs_retry.retry_deadline(IngestConfigError)


def _unavailable(uri: str, action: str, err: BaseException, spent: float, deadline: float) -> str:
    return (
        f"{uri}: storage unavailable or failed while {action} (gave up after {spent:.1f} s of "
        f"retries; deadline {deadline:g} s, ${RETRY_DEADLINE_ENV}): {type(err).__name__}: "
        f"{err}; this run wrote no manifest"
    )


@contextlib.contextmanager
def _local_copy(uri: str) -> Iterator[pathlib.Path]:
    """A local path holding the file's bytes (a temporary download for gs://)."""
    if not uri.startswith(GS):
        path = pathlib.Path(uri)
        if not path.is_file():
            raise InputNotFoundError(f"{uri}: file does not exist")
        yield path
        return
    from google.api_core import exceptions as gexc

    bucket, name = _split_gs(uri)
    deadline = retry_deadline()
    retry, timeout = gcs_retry.retry_and_timeout(deadline)
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        path = pathlib.Path(tmp) / name.rsplit("/", 1)[-1]
        started = time.monotonic()
        try:
            blob = _gcs_client().bucket(bucket).blob(name)
            blob.download_to_filename(str(path), retry=retry, timeout=timeout)
        except gexc.NotFound as err:
            raise InputNotFoundError(f"{uri}: object does not exist") from err
        except gcs_retry.faults() as err:
            raise InputUnavailableError(
                _unavailable(uri, "downloading", err, time.monotonic() - started, deadline)
            ) from err
        yield path


# --- readers -----------------------------------------------------------------------------------


def _parquet_batches(
    path: pathlib.Path, uri: str, table: schemas.Table, batch_rows: int
) -> Iterator[RawBatch]:
    try:
        f = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise InputFormatError(f"{uri}: not a readable Parquet file ({err})") from err
    with f:
        present = [c.name for c in table.columns if c.name in f.schema_arrow.names]
        if not present and f.metadata.num_rows == 0:
            return
        if not present:
            raise InputFormatError(
                f"{uri}: Parquet has none of the columns of table {table.name!r} "
                f"({table.names}); it has {f.schema_arrow.names}"
            )
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
                [pa.Table.from_batches([batch])], np.arange(start, start + n, dtype=np.int64)
            )
            start += n


@contextlib.contextmanager
def _open_text(path: pathlib.Path, source: InputFile) -> Iterator[BinaryIO]:
    """Open a JSONL/CSV file as bytes, refusing files that are clearly something else."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except OSError as err:
        raise InputFormatError(f"{source.uri}: cannot open ({err.strerror})") from err
    with raw:
        head = raw.read(SNIFF_BYTES)
        raw.seek(0)
        if source.gzipped:
            if not head.startswith(GZIP_MAGIC):
                raise InputFormatError(f"{source.uri}: named .gz but is not gzip-compressed")
            stream: BinaryIO = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
            try:
                head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
            except (OSError, EOFError, zlib.error) as err:
                raise InputFormatError(f"{source.uri}: corrupt gzip data ({err})") from err
        else:
            stream = raw
        _refuse_binary(head, source)
        yield stream


def _refuse_binary(head: bytes, source: InputFile) -> None:
    what = source.format.upper()
    if head.startswith(PARQUET_MAGIC):
        raise InputFormatError(f"{source.uri}: claims {what} but is a Parquet file")
    if head.startswith(GZIP_MAGIC):
        raise InputFormatError(f"{source.uri}: claims {what} but is gzip-compressed (name it .gz)")
    if b"\x00" in head:
        raise InputFormatError(f"{source.uri}: claims {what} but holds binary data (NUL bytes)")


def _lines(stream: BinaryIO, uri: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) pairs; decompression errors name the file and line."""
    number = 0
    try:
        for number, line in enumerate(stream, start=1):
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
    records: list[bytes] = []
    rows: list[int] = []
    broken: list[Malformed] = []
    size = 0
    for number, record, closed in _csv_records(
        lines, fields=len(header), max_lines=_max_lines(table)
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


def _csv_records(
    lines: Iterator[tuple[int, bytes]], *, fields: int, max_lines: int
) -> Iterator[tuple[int, bytes, bool]]:
    """(1-based first line, bytes, closed) of each CSV record after the header; blanks skipped.

    A record ends at a line end outside quotes (RFC 4180), so one stray quote would otherwise
    make a single record of the rest of the file (every row after it lost in one quarantine
    record). A record spanning several lines is kept only if it parses strictly as one record of
    ``fields`` fields; if not, or it outgrows ``max_lines`` lines or ``CHUNK_BYTES``, or the file
    ends inside it, its first line is returned on its own with ``closed`` False (a stray quote:
    malformed) and the lines after it are read again.
    """
    again: collections.deque[tuple[int, bytes] | None] = collections.deque()
    pending: list[tuple[int, bytes]] = []
    quotes = size = 0
    # None marks the end of the file. ``again`` is empty at the top of the for loop.
    for fresh in itertools.chain(lines, [None]):
        if fresh is not None and not pending:
            # The common case, inlined for speed: a line that is a whole record.
            count = fresh[1].count(b'"')
            if not count % 2:
                if fresh[1].strip():
                    yield fresh[0], fresh[1], True
                continue
            pending, quotes, size = [fresh], count, len(fresh[1])
            continue
        again.append(fresh)
        while again:
            item = again.popleft()
            if item is None:
                if not pending:
                    return
            elif not pending:
                count = item[1].count(b'"')
                if not count % 2:
                    if item[1].strip():
                        yield item[0], item[1], True
                    continue
                pending, quotes, size = [item], count, len(item[1])
                continue
            else:
                pending.append(item)
                quotes += item[1].count(b'"')
                size += len(item[1])
                if not quotes % 2 and _one_record(pending, fields):
                    yield pending[0][0], b"".join(text for _, text in pending), True
                    pending, quotes, size = [], 0, 0
                    continue
                if quotes % 2 and len(pending) <= max_lines and size <= CHUNK_BYTES:
                    continue
            # A span that is not one good record (or the file ended inside it): give up on its
            # first line and read the others again (then the end of the file, if it was that).
            yield pending[0][0], pending[0][1], False
            again.extendleft(reversed(pending[1:]))
            if item is None:
                again.append(None)
            pending, quotes, size = [], 0, 0


def _one_record(pending: list[tuple[int, bytes]], fields: int) -> bool:
    """True if the lines parse strictly as one CSV record of ``fields`` fields.

    Carriage returns are dropped first: they never open or close a field, and Python's ``csv``
    refuses a bare one in an unquoted field (whether that is a good value is for the parser).
    """
    text = b"".join(line for _, line in pending).decode("utf-8", errors="replace")
    text = text.replace("\r", "")
    allow_csv_fields(len(text))
    try:
        parsed = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        return False
    return len(parsed) == 1 and len(parsed[0]) == fields


def _max_lines(table: schemas.Table) -> int:
    """Most lines one record of ``table`` can span: every character of its text a newline."""
    return 1 + sum(c.max_len or 0 for c in table.columns if pa.types.is_string(c.type))


def relative(uri: str, root: str) -> str:
    """``uri`` relative to the input root (for the manifest)."""
    base = root.rstrip("/") + "/"
    return uri[len(base) :] if uri.startswith(base) else uri


def remove_dir(path: pathlib.Path) -> None:
    """Delete an empty working directory this job made (missing is fine)."""
    if path.is_dir():
        path.rmdir()
