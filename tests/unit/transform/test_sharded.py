"""The sharded Beam feature build writes exactly the rows of the in-process reference.

Both run on the same ingested data (the tiny fixture, and a generated shop); rows are compared
sorted, since shards write in another order. With several shards, users follow users of other
shards and items get events from users of other shards, so the cross-shard questions (a
neighbour's last item, an item's popularity) are answered by another shard than the asker's;
the tests check that the data really has such rows.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pathlib
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.sources.generate import generate_shop
from components.transform import feature_pipeline, shards
from components.transform.examples import (
    build_catalog,
    build_examples,
    build_requests,
    example_times,
    request_users,
)
from components.transform.job import cutoffs, read_context, write_spans
from schemas.tables import DST_USER, ITEM_ID, SRC_USER, USER_ID
from tests.tiny_shop import NOW, stage


def test_a_key_s_shard_is_crc32_of_its_utf8_bytes() -> None:
    keys = pa.array(["u1", "é", None, "u1"])

    got = shards.shard_of(keys, 7)

    expected = [zlib.crc32(b"u1") % 7, zlib.crc32("é".encode()) % 7, 0, zlib.crc32(b"u1") % 7]
    assert got.tolist() == expected


def test_splitting_by_shard_keeps_every_row_once_in_its_shard() -> None:
    table = pa.table({"k": [f"u{i % 13}" for i in range(100)], "v": list(range(100))})

    parts = dict(shards.split_by_shard(table, "k", 4))

    assert sorted(v for t in parts.values() for v in t["v"].to_pylist()) == list(range(100))
    for shard, rows in parts.items():
        assert set(shards.shard_of(rows["k"], 4).tolist()) == {shard}
        assert rows["v"].to_pylist() == sorted(rows["v"].to_pylist())  # input order kept


def ingest(raw: pathlib.Path | str, out: pathlib.Path) -> str:
    stage("components.ingest", "--input", str(raw), "--out", str(out), "--now", NOW, "--quiet")
    return str(out)


def reference(data: str) -> dict[str, pa.Table]:
    ctx, windows = read_context(data)
    starts = cutoffs(data)
    out = {
        shards.TRAIN_EXAMPLES: build_examples(ctx, windows["train"]),
        shards.EVAL_EXAMPLES: build_examples(ctx, windows["eval"]),
        shards.CATALOG: build_catalog(ctx),
    }
    for split, key in (("eval", shards.EVAL_REQUESTS), ("test", shards.TEST_REQUESTS)):
        users = request_users(ctx, starts[split])
        out[key] = build_requests(ctx, users, starts[split])
    return out


def sorted_rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=repr)


def cross_shard_cases(data: str, count: int) -> dict[str, int]:
    """Links whose neighbour (with events) is in another shard; events of another item shard."""
    ctx, _ = read_context(data)
    active = set(ctx.events[USER_ID].to_pylist())
    links = ctx.user_links
    src, dst = shards.shard_of(links[SRC_USER], count), shards.shard_of(links[DST_USER], count)
    has_events = np.array([d in active for d in links[DST_USER].to_pylist()], dtype=bool)
    user_shard = shards.shard_of(ctx.events[USER_ID], count)
    item_shard = shards.shard_of(ctx.events[ITEM_ID], count)
    return {
        "friend_elsewhere": int(((src != dst) & has_events).sum()),
        "item_elsewhere": int((user_shard != item_shard).sum()),
    }


def assert_same_as_reference(
    data: str,
    out: pathlib.Path,
    count: int,
    *,
    span_days: int | None = None,
    by_reference: bool | None = None,
) -> dict:
    starts = cutoffs(data)
    counts = feature_pipeline.build_features(
        data,
        str(out),
        starts=starts,
        shard_count=count,
        span_days=span_days,
        by_reference=by_reference,
    )
    # Nothing but the outputs is left: no part or shuffle file.
    assert not (out / "raw" / feature_pipeline.PARTS_DIR).exists()
    assert not (out / "raw" / feature_pipeline.SHUFFLE_DIR).exists()
    expected = reference(data)
    if span_days is not None:  # the analyzer cache's spans: the reference's write_spans
        ctx, windows = read_context(data)
        spans = write_spans(
            expected[shards.TRAIN_EXAMPLES],
            example_times(ctx, windows["train"]),
            str(out / "reference"),
            days=span_days,
            cutoff_micros=starts["eval"],
        )
        assert sorted(counts.spans) == sorted(spans)
        for name, path in spans.items():
            written = pq.read_table(counts.spans[name])
            assert sorted_rows(written) == sorted_rows(pq.read_table(path)), name
    for key, rows in expected.items():
        written = pq.read_table(feature_pipeline.output_path(str(out), key))
        assert written.schema == rows.schema, key
        assert written.num_rows == rows.num_rows == counts.outputs[key]["rows"], key
        assert sorted_rows(written) == sorted_rows(rows), key
    return counts.outputs


@pytest.mark.slow
def test_the_tiny_fixture_in_four_shards_gives_the_reference_rows(tmp_path, tiny_data) -> None:
    data = str(tiny_data)
    cases = cross_shard_cases(data, 4)
    assert cases["friend_elsewhere"] > 0 and cases["item_elsewhere"] > 0, cases

    outputs = assert_same_as_reference(data, tmp_path / "ex", 4, span_days=30)

    assert outputs[shards.TRAIN_EXAMPLES]["rows"] > 0
    assert outputs[shards.EVAL_REQUESTS]["rows"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("by_reference", [True, False], ids=["by-reference", "by-value"])
def test_a_generated_shop_in_five_shards_gives_the_reference_rows(tmp_path, by_reference) -> None:
    raw = tmp_path / "raw"
    generate_shop(str(raw), users=400, items=150, events=20_000, seed=3)
    data = ingest(raw, tmp_path / "data")
    cases = cross_shard_cases(data, 5)
    assert cases["friend_elsewhere"] > 0 and cases["item_elsewhere"] > 0, cases

    assert_same_as_reference(data, tmp_path / "ex", 5, by_reference=by_reference)


def test_rows_go_by_reference_on_local_runners_and_by_value_through_a_cluster_s_shuffle() -> None:
    local = ([], ["--runner=DirectRunner"], ["--runner=PrismRunner"], ["--runner=FnApiRunner"])
    remote = (["--runner=DataflowRunner"], ["--runner=FlinkRunner"], ["--runner=SparkRunner"])

    assert all(feature_pipeline.is_local_runner(args) for args in local)
    assert not any(feature_pipeline.is_local_runner(args) for args in remote)


def test_an_exchange_by_reference_writes_a_file_that_reads_back_the_same_rows(tmp_path) -> None:
    rows = pa.table({"k": ["a", None, "é"], "v": pa.array([1.5, float("inf"), -0.0], "f4")})
    by_value = feature_pipeline.Exchange(str(tmp_path), by_reference=False)
    by_reference = feature_pipeline.Exchange(str(tmp_path), by_reference=True)

    value = by_value.put("stage", 3, "events", "events-0-1", rows)
    path = by_reference.put("stage", 3, "events", "events-0-1", rows)

    assert value is rows
    assert path == f"{tmp_path}/raw/shuffle/stage/00003/events-events-0-1.arrow"
    assert feature_pipeline.Exchange.get(path).equals(rows)
    # A retried bundle writes the same name again: the file is replaced, not appended to.
    by_reference.put("stage", 3, "events", "events-0-1", rows.slice(0, 1))
    assert feature_pipeline.Exchange.get(path).equals(rows.slice(0, 1))


@pytest.mark.slow
def test_one_shard_gives_the_reference_rows_too(tmp_path, tiny_data) -> None:
    data = str(tiny_data)

    assert_same_as_reference(data, tmp_path / "ex", 1)
