"""The only module of ``components.sources`` that touches files.

Raw layout: ``<out>/<table>/part-NNNNN.<ext>``; ``<out>/_truth/*.parquet``; ``<out>/_meta.json``.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from components.sources import encode

logger = logging.getLogger(__name__)

TRUTH_DIR = "_truth"
META_FILE = "_meta.json"


class SourceFileError(Exception):
    """A source file is missing or cannot be read; the message names the file."""


def part_path(out_dir: Path, table: str, part: int, fmt: str) -> Path:
    """``<out>/<table>/part-NNNNN.<ext>``."""
    return out_dir / table / f"part-{part:05d}.{encode.EXTENSIONS[fmt]}"


def write_part(path: Path, table: pa.Table, overrides: list[encode.Override], fmt: str) -> None:
    """Write one part file in ``fmt`` (Parquet keeps the table's schema and metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    elif fmt == "jsonl":
        path.write_text(encode.to_jsonl(table, overrides), encoding="utf-8")
    elif fmt == "csv":
        path.write_text(encode.to_csv(table, overrides), encoding="utf-8")
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {encode.FORMATS}")


class PartWriter:
    """Buffers rows of one table and writes a part file every ``chunk_rows`` rows.

    Args:
        out_dir: Root of the raw layout.
        schema: The table's canonical Arrow schema (its metadata names the table).
        fmt: parquet, jsonl or csv.
        chunk_rows: Rows per part file (the last may be shorter).
    """

    def __init__(self, out_dir: Path, schema: pa.Schema, *, fmt: str, chunk_rows: int) -> None:
        self.out_dir = out_dir
        self.schema = schema
        self.table = schema.metadata[b"table"].decode()
        self.fmt = fmt
        self.chunk_rows = chunk_rows
        self.rows = 0
        self.parts = 0
        self._buffer: list[pa.Table] = []
        self._overrides: list[encode.Override] = []
        self._buffered = 0

    def write(self, rows: pa.Table, overrides: Sequence[encode.Override] = ()) -> None:
        """Add rows (and their text overrides, indexed within ``rows``)."""
        offset = 0
        while offset < rows.num_rows:
            take = min(self.chunk_rows - self._buffered, rows.num_rows - offset)
            self._buffer.append(rows.slice(offset, take))
            self._overrides.extend(
                (self._buffered + r - offset, c, t)
                for r, c, t in overrides
                if offset <= r < offset + take
            )
            self._buffered += take
            offset += take
            if self._buffered == self.chunk_rows:
                self._flush()

    def close(self) -> None:
        """Write what is left; an empty table still gets one (empty) part, so it exists."""
        if self._buffered or self.parts == 0:
            self._flush()

    def _flush(self) -> None:
        table = pa.concat_tables([self.schema.empty_table(), *self._buffer]).combine_chunks()
        path = part_path(self.out_dir, self.table, self.parts, self.fmt)
        write_part(path, table, self._overrides, self.fmt)
        logger.debug("wrote part path=%s rows=%d", path, table.num_rows)
        self.rows += table.num_rows
        self.parts += 1
        self._buffer, self._overrides, self._buffered = [], [], 0


def write_truth(out_dir: Path, name: str, table: pa.Table) -> Path:
    """``<out>/_truth/<name>.parquet``."""
    path = out_dir / TRUTH_DIR / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def write_meta(out_dir: Path, meta: dict[str, object]) -> Path:
    """``<out>/_meta.json`` (sorted keys, so equal runs give equal bytes)."""
    path = out_dir / META_FILE
    path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def write_tables(out_dir: Path, named: dict[str, pa.Table]) -> dict[str, int]:
    """Write each table as ``<out>/<name>/part-00000.parquet``; returns rows per table."""
    for name, table in named.items():
        write_part(part_path(out_dir, name, 0, "parquet"), table, [], "parquet")
    return {name: t.num_rows for name, t in named.items()}


def read_json_lines_gz(path: Path) -> Iterator[dict[str, object]]:
    """Parsed objects of a gzip JSON Lines file, one line at a time.

    Raises:
        SourceFileError: naming the file and line when it is missing or a line is not JSON.
    """
    if not path.is_file():
        raise SourceFileError(f"{path}: no such file")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise SourceFileError(f"{path} line {number}: not JSON ({err.msg})") from err


def read_csv(path: Path, *, column_types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """A CSV (optionally gzip) file as an Arrow table.

    Raises:
        SourceFileError: naming the file when it is missing or unreadable.
    """
    if not path.is_file():
        raise SourceFileError(f"{path}: no such file")
    try:
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=column_types))
    except pa.ArrowInvalid as err:
        raise SourceFileError(f"{path}: {err}") from err


def read_parquet(path: Path) -> pa.Table:
    """A Parquet file as an Arrow table.

    Raises:
        SourceFileError: naming the file when it is missing.
    """
    if not path.is_file():
        raise SourceFileError(f"{path}: no such file")
    return pq.read_table(path)


def read_bytes_if_exists(path: Path) -> bytes | None:
    """The file's bytes, or None when there is no such file."""
    return path.read_bytes() if path.is_file() else None
