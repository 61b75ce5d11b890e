"""Integer codes for string ids, and string sequences gathered back from codes (pyarrow)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def dictionary_of(*columns: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Distinct non-null strings of all ``columns`` (the code book)."""
    parts = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
    merged = pa.concat_arrays([p.cast(pa.string()) for p in parts]) if parts else pa.array([])
    return pc.unique(pc.drop_null(merged))


def encode(values: pa.Array | pa.ChunkedArray, dictionary: pa.Array) -> np.ndarray:
    """``[n]`` int64 code of each value in ``dictionary``; -1 for nulls and unknowns."""
    codes = pc.index_in(values.cast(pa.string()), value_set=dictionary)
    return np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def gather_strings(values: pa.Array, index: np.ndarray, *, pad: str) -> pa.Array:
    """Strings of ``values`` at ``index`` (``[rows, k]``, -1 = pad) as a list<string> column."""
    rows, k = index.shape
    flat = index.reshape(-1)
    if len(values) == 0:  # e.g. a data set without social links: every slot is padding
        taken = pa.nulls(len(flat), pa.string())
    else:
        taken = pc.take(values.cast(pa.string()), pa.array(np.where(flat < 0, 0, flat)))
    filled = pc.if_else(pa.array(flat < 0), pad, pc.fill_null(taken, pad))
    offsets = pa.array(np.arange(0, rows * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, filled)


def fixed_string_lists(values: pa.Array, k: int) -> pa.Array:
    """``[rows * k]`` strings (row-major) as a list<string> column of ``k`` per row."""
    offsets = pa.array(np.arange(0, len(values) + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values.cast(pa.string()))


def fixed_float_lists(matrix: np.ndarray) -> pa.Array:
    """``[rows, k]`` floats as a list<float32> column."""
    rows, k = matrix.shape
    offsets = pa.array(np.arange(0, rows * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=pa.float32()))


def micros(ts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Timestamps as int64 epoch microseconds (nulls as the smallest time: "always known")."""
    as_int = pc.cast(ts.cast(pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(pc.fill_null(as_int, np.iinfo(np.int64).min).to_numpy(zero_copy_only=False))
