"""Ingest throughput and peak memory on generated Parquet events (1M; 10M with BENCH_BIG=1).

Ingest runs in a subprocess (the CLI) so its peak RSS is its own; RSS is polled with psutil.
Figures go to bench-results/ via ``bench_record``; nothing here asserts on time.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from schemas import tables as cols

SIZES = [1_000_000] + ([10_000_000] if os.environ.get("BENCH_BIG") == "1" else [])
EVENTS_LINE = re.compile(r"ingest events: ([\d,]+) rows.* in ([\d.]+) s")


def write_raw_events(out: pathlib.Path, *, users: int, items: int, events: int, seed: int) -> None:
    """Write a shop with the generator of components/sources (or a minimal local one)."""
    try:
        from components.sources.generate import generate_shop
    except ImportError:
        write_minimal_shop(out, users=users, items=items, events=events, seed=seed)
        return
    generate_shop(
        str(out),
        users=users,
        items=items,
        events=events,
        seed=seed,
        fmt="parquet",
        bad_fraction=0.01,
    )


def write_minimal_shop(
    out: pathlib.Path, *, users: int, items: int, events: int, seed: int
) -> None:
    """Clean users/items and events with ids, types, times and dwell (fallback writer)."""
    rng = np.random.default_rng(seed)
    user_ids = np.array([f"u{i}" for i in range(users)], dtype=object)
    item_ids = np.array([f"i{i}" for i in range(items)], dtype=object)
    (out / cols.EVENTS.name).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({cols.USER_ID: user_ids}), out / f"{cols.USERS.name}.parquet")
    pq.write_table(pa.table({cols.ITEM_ID: item_ids}), out / f"{cols.ITEMS.name}.parquet")
    start = 1_700_000_000_000_000
    for part, lo in enumerate(range(0, events, 1_000_000)):
        n = min(1_000_000, events - lo)
        table = pa.table(
            {
                cols.USER_ID: pa.array(user_ids[rng.integers(0, users, n)], pa.string()),
                cols.ITEM_ID: pa.array(item_ids[rng.integers(0, items, n)], pa.string()),
                cols.EVENT_TYPE: pa.array(
                    np.array(cols.EVENT_TYPES, dtype=object)[rng.integers(0, 4, n)], pa.string()
                ),
                cols.TS: pa.array(start + rng.integers(0, 10**13, n), pa.int64()).cast(
                    schemas.TIMESTAMP
                ),
                cols.DWELL_S: rng.exponential(30.0, n),
            }
        )
        pq.write_table(table, out / cols.EVENTS.name / f"part-{part:05d}.parquet")


@pytest.mark.parametrize("events", SIZES, ids=lambda n: f"{n // 1_000_000}M")
def test_ingest_parquet_events(
    events: int, tmp_path: pathlib.Path, bench_record, run_measured
) -> None:
    raw, out = tmp_path / "raw", tmp_path / "out"
    users, items = max(events // 50, 1_000), max(events // 200, 500)
    t0 = time.perf_counter()
    write_raw_events(raw, users=users, items=items, events=events, seed=7)
    generate_s = time.perf_counter() - t0
    measured = run_measured(
        [
            sys.executable,
            "-m",
            "components.ingest",
            "--input",
            str(raw),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    read_all = sum(t["read"] for t in manifest["tables"].values())
    ev = manifest["tables"][cols.EVENTS.name]
    assert ev["read"] == events
    assert ev["valid"] + ev["quarantined"] == ev["read"]
    match = EVENTS_LINE.search(measured["stderr"])
    events_pass_s = float(match.group(2)) if match else None
    results = {
        "events": events,
        "rows_all_tables": read_all,
        "generate_s": round(generate_s, 2),
        "wall_s": round(measured["wall_s"], 2),
        "events_per_s_end_to_end": round(events / measured["wall_s"]),
        "events_per_s_validation_pass": round(events / events_pass_s) if events_pass_s else None,
        "peak_rss_mib": round(measured["peak_rss_bytes"] / 2**20, 1),
        "quarantined_events": ev["quarantined"],
    }
    bench_record(f"ingest_parquet_{events // 1_000_000}M_events", results)
