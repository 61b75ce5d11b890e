"""Where ingest writes: Parquet and Arrow sinks, JSON and text files, working files.

Writers of local files only (ingest's output is a local directory or a kfp artifact path).
"""

from __future__ import annotations

import concurrent.futures
import json
import pathlib
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq


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


def remove_dir(path: pathlib.Path) -> None:
    """Delete an empty working directory this job made (missing is fine)."""
    if path.is_dir():
        path.rmdir()
