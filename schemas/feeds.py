"""Arrow rows -> feeds: each declared raw feature as a numpy array ``[rows, *shape]``.

The one converter between the Arrow tables the pipeline writes and what a model takes: training
(``components.train.catalog.raw_tensors``), the exported model's client
(``components.exported_model``) and the report's blanked inputs all feed through it. It reads
both layouts: serving requests (a plain column per feature, lists for sequences) and feature
rows (``example_arrow_schema``: every column a large list of one or ``length`` values).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas import features as fs

# A raw feature batch: feature name -> ``[rows, *shape]`` (object arrays of bytes for strings).
Feed = dict[str, np.ndarray]


def to_feed(
    rows: pa.Table, side: fs.Side | None = None, *, names: Collection[str] | None = None
) -> Feed:
    """The declared raw features of ``side`` (all sides: None) in ``rows``, as numpy arrays.

    Strings become object arrays of bytes (null: ``b""``, the padding value); numbers float32
    (or int64 for integer features). A sequence that is null or empty on a row becomes padding
    there (a request without an item's image embedding: zeros, which the model flags missing).

    Args:
        rows: Serving requests or feature rows.
        side: Whose features; None for every declared feature.
        names: Only these features (of ``side``); None for all.

    Raises:
        KeyError: ``rows`` lacks a wanted feature.
        FeedError: a row's sequence is neither empty nor of the declared length.
    """
    out = {}
    for feature in fs.features(side):
        if names is not None and feature.name not in names:
            continue
        column = rows[feature.name].combine_chunks()
        lengths = None
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            if feature.length is not None:
                lengths = _sequence_lengths(column, feature)
            column = column.flatten()
        if feature.is_string:
            column = pc.fill_null(column.cast(pa.large_binary()), b"")
        values = column.to_numpy(zero_copy_only=False)
        if not feature.is_string:
            values = values.astype(np.float32 if feature.dtype.is_floating else np.int64)
        if lengths is not None and (lengths == 0).any():
            values = _padded(values, lengths, feature)
        out[feature.name] = values.reshape([rows.num_rows, *feature.shape])
    return out


class FeedError(ValueError):
    """A row's sequence has another length than its feature declares (names row and length)."""


def _sequence_lengths(column: pa.Array, feature: fs.Feature) -> np.ndarray:
    """``[rows]`` values per row of a sequence column (null: 0); 0 or ``length`` only.

    Raises:
        FeedError: naming the first rows of another length, and the declared length.
    """
    lengths = np.asarray(
        pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False), np.int64
    )
    wrong = np.flatnonzero((lengths != 0) & (lengths != feature.length))
    if len(wrong):
        shown = ", ".join(f"row {r}: {lengths[r]}" for r in wrong[:5])
        raise FeedError(
            f"feature {feature.name!r}: {len(wrong)} rows have another length than the declared "
            f"{feature.length} ({shown}); sequences are never padded or cut here"
        )
    return lengths


def _padded(values: np.ndarray, lengths: np.ndarray, feature: fs.Feature) -> np.ndarray:
    """``[rows * length]`` values with padding for rows that had none (null or empty)."""
    fill = feature.padding.encode() if feature.is_string else feature.padding
    out = np.full((len(lengths), feature.length), fill, dtype=values.dtype)
    out[lengths == feature.length] = values.reshape(-1, feature.length)
    return out.reshape(-1)


def take(feed: Feed, rows: np.ndarray | list[int]) -> Feed:
    """The rows ``rows`` of every feature of ``feed`` (repeats allowed)."""
    index = np.asarray(rows, dtype=np.int64)
    return {name: values[index] for name, values in feed.items()}


def rows_in(feed: Feed) -> int:
    """How many rows ``feed`` holds (0 for an empty feed)."""
    return len(next(iter(feed.values()))) if feed else 0


def flat_values(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A feature column's values, one per row for scalars: feature rows wrap each in a list."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        return pc.list_flatten(array)
    return array
