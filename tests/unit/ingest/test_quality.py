"""Quality figures on hand-worked numbers."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

import schemas
from components.ingest.quality import (
    TableQuality,
    ValueCounts,
    activity_histogram,
    entropy_bits,
    gini,
    interaction_figures,
)
from schemas import tables as cols


def test_gini_hand_computed() -> None:
    # x = [0, 0, 0, 4]: G = 2*(4*4)/(4*4) - 5/4 = 0.75
    assert gini(np.array([4, 0, 0, 0])) == pytest.approx(0.75)
    # x = [1, 2, 3]: G = 2*(1+4+9)/(3*6) - 4/3 = 28/18 - 24/18 = 2/9
    assert gini(np.array([3, 1, 2])) == pytest.approx(2 / 9)
    assert gini(np.array([5, 5, 5])) == pytest.approx(0.0)


def test_entropy_hand_computed() -> None:
    assert entropy_bits(np.array([1, 1, 1, 1])) == pytest.approx(2.0)
    # p = [1/2, 1/4, 1/4]: 0.5*1 + 2 * 0.25*2 = 1.5 bits
    assert entropy_bits(np.array([2, 1, 1, 0])) == pytest.approx(1.5)
    assert entropy_bits(np.array([7])) == 0.0


def test_activity_histogram_buckets() -> None:
    hist = activity_histogram(np.array([1, 1, 3, 5, 100, 250]), zero=2)
    assert hist == {
        "0": 2,
        "1": 2,
        "2-4": 1,
        "5-9": 1,
        "10-19": 0,
        "20-49": 0,
        "50-99": 0,
        "100+": 2,
    }


def test_value_counts_merge_across_batches() -> None:
    counts = ValueCounts(pa.string())
    counts.add(pa.array(["a", "b", None, "a"]))
    counts.add(pa.array(["a", "c"]))
    got = dict(
        zip(*(counts.table().column(c).to_pylist() for c in ("value", "count")), strict=True)
    )
    assert got == {"a": 3, "b": 1, "c": 1}


def test_table_quality_report_on_a_small_events_table() -> None:
    q = TableQuality(schemas.EVENTS)
    rows = pa.table(
        {
            cols.USER_ID: ["u1", "u1", "u2", "u1"],
            cols.ITEM_ID: ["i1", "i1", "i1", "i2"],
            cols.EVENT_TYPE: ["view", "view", "click", "cart"],
            cols.TS: pa.array([0, 10, 20, 30], pa.int64()).cast(schemas.TIMESTAMP),
            cols.VALUE: pa.array([None, None, None, 4.0], pa.float64()),
            cols.DWELL_S: pa.array([1.0, 2.0, 3.0, 4.0]),
            cols.SESSION_ID: pa.array([None] * 4, pa.string()),
            cols.QUERY: pa.array([None] * 4, pa.string()),
        }
    )
    q.add(rows.slice(0, 2))
    q.add(rows.slice(2))
    report = q.report(
        read=6,
        by_reason={"unknown_user": 2},
        all_reasons={cols.USER_ID: {"unknown_user": 2}},
        splits={"train": 4},
    )
    assert report["rows"] == {"read": 6, "valid": 4, "quarantined": 2}
    assert report["completeness"][cols.VALUE] == {"nulls": 3, "null_rate": 0.75}
    # event types 2/1/1 of 4: entropy 1.5 bits
    assert report["diversity"][cols.EVENT_TYPE]["entropy_bits"] == pytest.approx(1.5)
    assert report["diversity"][cols.USER_ID]["distinct"] == 2
    assert report["consistency"] == {cols.USER_ID: {"unknown_user": 2}}
    assert report["time_range"][cols.TS]["max"] == "1970-01-01T00:00:00.000030+00:00"
    figures = interaction_figures(
        item_counts=q.values[cols.ITEM_ID].table(),
        user_counts=q.values[cols.USER_ID].table(),
        items=4,
        users=3,
    )
    # item counts [3, 1, 0, 0]: G = 2*(3*1 + 4*3)/(4*4) - 5/4 = 30/16 - 20/16 = 0.625
    assert figures["item_popularity_gini"] == pytest.approx(0.625)
    assert figures["user_activity_histogram"]["0"] == 1
    assert figures["user_activity_histogram"]["2-4"] == 1
    assert not math.isnan(report["diversity"][cols.ITEM_ID]["distinct"])


def _items(titles: list[str | None]) -> pa.Table:
    n = len(titles)
    columns = {cols.ITEM_ID: [f"i{j}" for j in range(n)], cols.TITLE: titles}
    return pa.table(
        {
            f.name: pa.array(columns[f.name], f.type) if f.name in columns else pa.nulls(n, f.type)
            for f in schemas.ITEMS.arrow_schema()
        },
        schema=schemas.ITEMS.arrow_schema(),
    )


def test_text_column_dominated_by_one_unclosed_tag_is_flagged() -> None:
    junk = '<span class="a-size-medium a-color-secondary"'
    q = TableQuality(schemas.ITEMS)
    q.add(_items([junk, junk, "Mug", None]))
    q.add(_items([junk, "Tea"]))
    text = q.report(read=6, by_reason={}, all_reasons={}, splits={})["text"]
    title = text[cols.TITLE]
    # 5 filled titles: the tag on 3 (60% > 50%), markup on the same 3.
    assert (title["rows"], title["top_value"], title["markup_rows"]) == (5, junk, 3)
    assert title["flags"] == [
        f"dominated by one value (60.0% of filled rows: {junk!r})",
        "markup (HTML tags or entities) in 60.0% of filled rows",
    ]
    assert text[cols.DESCRIPTION]["flags"] == []  # never filled: nothing to flag


def test_varied_plain_titles_are_not_flagged() -> None:
    q = TableQuality(schemas.ITEMS)
    q.add(_items(["Mug", "Tea", "Mug", "5 < 6 cups", "Pot"]))
    title = q.report(read=5, by_reason={}, all_reasons={}, splits={})["text"][cols.TITLE]
    assert title["flags"] == [] and title["top_share"] == pytest.approx(0.4)


def test_value_counts_keep_bounds_the_distinct_values() -> None:
    counts = ValueCounts(pa.string(), keep=2)
    counts.add(pa.array(["a", "a", "b", "c", "c", "c"]))
    counts.add(pa.array(["d"]))
    kept = counts.table().sort_by("value")
    assert kept.column("value").to_pylist() == ["a", "c"]  # the two most frequent (2, 3)
