"""Time split: exact boundaries, conservation, quantile cut-offs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

import schemas
from components.ingest.layout import EVAL, TEST, TRAIN
from components.ingest.split import quantile_cutoffs, split_by_time, validation_cutoff
from schemas import tables as cols

TRAIN_END = dt.datetime(2024, 1, 5, tzinfo=dt.UTC)
EVAL_END = dt.datetime(2024, 1, 8, tzinfo=dt.UTC)
US = dt.timedelta(microseconds=1)


def batch(times: list[dt.datetime]) -> pa.Table:
    return pa.table(
        {
            cols.TS: pa.array(times, schemas.TIMESTAMP),
            cols.USER_ID: [str(i) for i in range(len(times))],
        }
    )


def test_boundaries_are_exact() -> None:
    times = [TRAIN_END - US, TRAIN_END, EVAL_END - US, EVAL_END, EVAL_END + US]
    parts = split_by_time(batch(times), time_column=cols.TS, train_end=TRAIN_END, eval_end=EVAL_END)
    assert parts[TRAIN].column(cols.USER_ID).to_pylist() == ["0"]
    assert parts[EVAL].column(cols.USER_ID).to_pylist() == ["1", "2"]
    assert parts[TEST].column(cols.USER_ID).to_pylist() == ["3", "4"]


def test_no_row_after_a_cutoff_in_an_earlier_window() -> None:
    rng = np.random.default_rng(0)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    times = [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 24 * 12, 500)]
    parts = split_by_time(batch(times), time_column=cols.TS, train_end=TRAIN_END, eval_end=EVAL_END)
    assert sum(p.num_rows for p in parts.values()) == 500
    assert all(t < TRAIN_END for t in parts[TRAIN].column(cols.TS).to_pylist())
    assert all(TRAIN_END <= t < EVAL_END for t in parts[EVAL].column(cols.TS).to_pylist())
    assert all(t >= EVAL_END for t in parts[TEST].column(cols.TS).to_pylist())


def test_reversed_cutoffs_and_null_times_raise() -> None:
    with pytest.raises(ValueError, match="after eval_end"):
        split_by_time(
            batch([TRAIN_END]), time_column=cols.TS, train_end=EVAL_END, eval_end=TRAIN_END
        )
    with pytest.raises(ValueError, match="null"):
        split_by_time(batch([None]), time_column=cols.TS, train_end=TRAIN_END, eval_end=EVAL_END)


def test_quantile_cutoffs_on_ten_values() -> None:
    # 0..9 seconds: the lower 0.8 quantile is 7 s, the 0.9 quantile 8 s.
    ts = np.arange(10, dtype=np.int64) * 1_000_000
    train_end, eval_end = quantile_cutoffs(ts, train_quantile=0.8, eval_quantile=0.9)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert (train_end - epoch, eval_end - epoch) == (
        dt.timedelta(seconds=7),
        dt.timedelta(seconds=8),
    )


def test_validation_cutoff_holds_the_last_share_of_train_events() -> None:
    # 0..7 seconds: the lower 0.875 quantile is 6 s, so the window holds 6 s and 7 s.
    ts = np.arange(8, dtype=np.int64) * 1_000_000
    start = validation_cutoff(ts, share=0.125)
    assert start - dt.datetime(1970, 1, 1, tzinfo=dt.UTC) == dt.timedelta(seconds=6)
    assert validation_cutoff(ts[:0], share=0.125) is None
