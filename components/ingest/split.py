"""Time-based split into train / eval / test windows (pure, pyarrow in/out).

``train``: ts < train_end; ``eval``: train_end <= ts < eval_end; ``test``: ts >= eval_end.
A row lands in exactly one window, so no row after a cut-off reaches an earlier window.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import schemas
from components.ingest.layout import EVAL, TEST, TRAIN


def split_by_time(
    batch: pa.Table, *, time_column: str, train_end: dt.datetime, eval_end: dt.datetime
) -> dict[str, pa.Table]:
    """Split canonical rows into the three windows.

    Args:
        batch: Canonical rows; ``time_column`` must have no nulls.
        time_column: The table's time column (``schemas.table(name).time_column``).
        train_end: First instant of the eval window.
        eval_end: First instant of the test window (>= ``train_end``).

    Returns:
        ``{"train": ..., "eval": ..., "test": ...}``, each a filter of ``batch``.

    Raises:
        ValueError: if the cut-offs are reversed or a time is null.
    """
    if train_end > eval_end:
        raise ValueError(f"train_end {train_end} is after eval_end {eval_end}")
    ts = batch.column(time_column)
    if ts.null_count:
        raise ValueError(f"{ts.null_count} rows have a null {time_column!r}; they cannot be split")
    lo = pa.scalar(train_end, type=schemas.TIMESTAMP)
    hi = pa.scalar(eval_end, type=schemas.TIMESTAMP)
    before = pc.less(ts, lo)
    after = pc.greater_equal(ts, hi)
    return {
        TRAIN: batch.filter(before),
        EVAL: batch.filter(pc.and_(pc.invert(before), pc.invert(after))),
        TEST: batch.filter(after),
    }


def quantile_cutoffs(
    ts_us: np.ndarray, *, train_quantile: float, eval_quantile: float
) -> tuple[dt.datetime, dt.datetime]:
    """Cut-offs at quantiles of event times (the lower observed value at each quantile).

    Args:
        ts_us: ``[n]`` int64 microseconds since the epoch, n >= 1.
        train_quantile: Quantile for ``train_end`` (0.8 leaves ~80% of rows before it).
        eval_quantile: Quantile for ``eval_end``.

    Returns:
        ``(train_end, eval_end)`` as UTC datetimes.
    """
    if not len(ts_us):
        raise ValueError("no timestamps to take quantiles of")
    q = np.quantile(ts_us, [train_quantile, eval_quantile], method="lower")
    return tuple(
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(v)) for v in q
    )


def validation_cutoff(train_ts_us: np.ndarray, *, share: float) -> dt.datetime | None:
    """The start of a validation window holding the last ``share`` of the train window's events.

    Args:
        train_ts_us: ``[n]`` int64 microseconds of the train window's events.
        share: In (0, 1).

    Returns:
        The ``1 - share`` quantile of the times (the lower observed value), or None with no
        events.
    """
    if not len(train_ts_us):
        return None
    q = np.quantile(train_ts_us, 1.0 - share, method="lower")
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(q))
