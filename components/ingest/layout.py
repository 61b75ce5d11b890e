"""Where ingest output lives; downstream stages import this, never retype the paths.

```
<out>/manifest.json  <out>/quality.json  <out>/quality.md
<out>/quarantine/<table>.parquet
<out>/<table>/<split>/part-00000.parquet
```
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.parquet as pq

import schemas

TRAIN, EVAL, TEST, ALL = "train", "eval", "test", "all"
TIME_SPLITS = (TRAIN, EVAL, TEST)
SPLITS = (*TIME_SPLITS, ALL)

MANIFEST = "manifest.json"
QUALITY_JSON = "quality.json"
QUALITY_MD = "quality.md"
QUARANTINE_DIR = "quarantine"
PART_FILE = "part-00000.parquet"


# Interactions are split by time; profiles, catalog and relations are context for every window.
TIME_SPLIT_TABLES = (schemas.EVENTS.name, schemas.REVIEWS.name)


def splits_of(table_name: str) -> tuple[str, ...]:
    """The splits a table is written to: the time windows for events and reviews, else ``all``."""
    return TIME_SPLITS if table_name in TIME_SPLIT_TABLES else (ALL,)


def table_dir(out_dir: str | pathlib.Path, table_name: str, split: str) -> pathlib.Path:
    """The directory holding one split of one canonical table.

    Raises:
        KeyError: if the table does not exist or is not written to ``split``.
    """
    schemas.table(table_name)
    if split not in splits_of(table_name):
        raise KeyError(f"table {table_name!r} has splits {splits_of(table_name)}, not {split!r}")
    return pathlib.Path(out_dir) / table_name / split


def table_path(out_dir: str | pathlib.Path, table_name: str, split: str) -> pathlib.Path:
    """The Parquet file of one split of one canonical table."""
    return table_dir(out_dir, table_name, split) / PART_FILE


def quarantine_path(out_dir: str | pathlib.Path, table_name: str) -> pathlib.Path:
    """The quarantine Parquet file of one table."""
    return pathlib.Path(out_dir) / QUARANTINE_DIR / f"{table_name}.parquet"


def dropped_values_path(out_dir: str | pathlib.Path, table_name: str) -> pathlib.Path:
    """Where a table's dropped optional values are listed (file, row, column, reason)."""
    return pathlib.Path(out_dir) / QUARANTINE_DIR / f"{table_name}.dropped_values.parquet"


def read_table(
    out_dir: str | pathlib.Path,
    table_name: str,
    split: str = ALL,
    *,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    """Read one split of one canonical table written by ingest.

    Args:
        out_dir: The ingest output directory (the Dataset artifact path).
        table_name: A table of the contract.
        split: ``train``/``eval``/``test`` for events and reviews, ``all`` for the others.
        columns: Only these columns (None: all).

    Returns:
        The rows, with exactly ``schemas.table(table_name).arrow_schema()`` (or its
        ``columns``).
    """
    return pq.read_table(
        table_path(out_dir, table_name, split),
        schema=schemas.table(table_name).arrow_schema(),
        columns=list(columns) if columns is not None else None,
    )
