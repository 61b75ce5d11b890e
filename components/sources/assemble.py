"""Assemble contract tables from the columns an adapter has; the rest are null."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.sources.markup import strip_html
from schemas import TIMESTAMP, Table, tables


def build_table(contract: Table, columns: Mapping[str, pa.Array | Sequence[object]]) -> pa.Table:
    """A table in ``contract``'s canonical schema from ``columns``; absent columns are null.

    Raises:
        KeyError: for a column the contract does not declare (naming the table's columns).
    """
    for name in columns:
        contract.column(name)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"table {contract.name!r}: columns differ in length {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    schema = contract.arrow_schema()
    arrays = []
    for field in schema:
        values = columns.get(field.name)
        if values is None:
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(values, pa.Array | pa.ChunkedArray):
            arrays.append(values.cast(field.type))
        else:
            arrays.append(pa.array(values, field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def epoch_seconds_to_ts(seconds: Sequence[int | None] | np.ndarray | pa.Array) -> pa.Array:
    """Epoch seconds (nulls kept) -> timestamp[us, UTC]."""
    array = seconds if isinstance(seconds, pa.Array) else pa.array(seconds, pa.int64())
    return pc.multiply(array.cast(pa.int64()), 1_000_000).cast(TIMESTAMP)


def category_path(levels: Iterable[object]) -> str | None:
    """Levels joined by ``/`` (HTML stripped, a ``/`` inside a level made ``-``), or None."""
    cleaned = (strip_html(v) if isinstance(v, str) else None for v in levels)
    return "/".join(v.replace("/", "-") for v in cleaned if v) or None


def age_bucket(age: float | None) -> str | None:
    """The contract's age band for ``age`` in years (None for unknown or negative ages)."""
    if age is None or age != age or age < 0:  # age != age: NaN
        return None
    uppers = (18, 25, 35, 45, 55, 65)  # exclusive upper bounds of all but the last band
    for upper, band in zip(uppers, tables.AGE_BUCKETS, strict=False):
        if age < upper:
            return band
    return tables.AGE_BUCKETS[-1]
