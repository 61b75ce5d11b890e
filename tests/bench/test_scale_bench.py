"""End to end at scale, stage by stage: wall time and peak RSS against the 4 GiB bound.

Opt-in (an hour or more here): ``BENCH_SCALE=1 .venv/bin/python -m pytest
tests/bench/test_scale_bench.py -m bench -s``. A generated shop of ``BENCH_SCALE_EVENTS`` events
(default 10M; users events/10, items ``BENCH_SCALE_ITEMS``, default 50k) goes through the stage
command lines in order (generate, ingest, transform, train for one epoch, evaluate), each
measured alone: wall time and peak RSS of the process and its children (``run_measured``). A
stage whose RSS passes ``BENCH_SCALE_RSS_CAP_GIB`` (default 12) is killed, so the machine
survives, and recorded as such; the later stages are then not run. Push and report are not
measured (push copies a model; report samples users).
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.tiny_shop import NOW

GIB = 1024**3
BOUND_GIB = 4.0
EVENTS = int(os.environ.get("BENCH_SCALE_EVENTS", "10000000"))
ITEMS = int(os.environ.get("BENCH_SCALE_ITEMS", "50000"))
CAP_GIB = float(os.environ.get("BENCH_SCALE_RSS_CAP_GIB", "12"))


def stages(work) -> list[tuple[str, list[str]]]:
    raw, data, examples, graph, model = (work / n for n in ("raw", "data", "ex", "tg", "model"))
    py = [sys.executable, "-m"]
    return [
        ("generate", [*py, "components.sources.generate", "--users", str(max(EVENTS // 10, 100)),
                      "--items", str(ITEMS), "--events", str(EVENTS), "--seed", "7",
                      "--out", str(raw)]),
        ("ingest", [*py, "components.ingest", "--input", str(raw), "--out", str(data),
                    "--now", NOW, "--quiet"]),
        ("transform", [*py, "components.transform", "--data", str(data),
                       "--examples", str(examples), "--transform-graph", str(graph)]),
        ("train", [*py, "components.train", "--examples", str(examples),
                   "--transform-graph", str(graph), "--model", str(model), "--epochs", "1"]),
        ("evaluate", [*py, "components.evaluate", "--data", str(data),
                      "--examples", str(examples), "--model", str(model),
                      "--model-root", str(work / "models"), "--out", str(work / "eval")]),
    ]  # fmt: skip


@pytest.mark.bench
@pytest.mark.skipif(os.environ.get("BENCH_SCALE") != "1", reason="opt-in: BENCH_SCALE=1")
def test_end_to_end_at_scale(tmp_path, bench_record, run_measured):
    results: dict[str, dict] = {}
    for name, cmd in stages(tmp_path):
        measured = run_measured(cmd, rss_cap_bytes=int(CAP_GIB * GIB))
        results[name] = {
            "wall_s": round(measured["wall_s"], 1),
            "peak_rss_gib": round(measured["peak_rss_bytes"] / GIB, 2),
            "under_bound": measured["peak_rss_bytes"] < BOUND_GIB * GIB,
            "killed_at_cap": measured["killed_at_cap"],
        }
        if measured["killed_at_cap"]:  # where it was: the stage's last log lines
            lines = [x for x in measured["stderr"].splitlines() if " INFO " in x or "rows" in x]
            results[name]["last_log_lines"] = lines[-5:]
        print(name, results[name], flush=True)
        if measured["killed_at_cap"]:
            break
    finished = all(not r["killed_at_cap"] for r in results.values()) and len(results) == len(
        stages(tmp_path)
    )
    peak = max(r["peak_rss_gib"] for r in results.values())
    record = bench_record(
        f"scale_{EVENTS}",
        {
            "events": EVENTS,
            "users": max(EVENTS // 10, 100),
            "items": ITEMS,
            "bound_gib": BOUND_GIB,
            "cap_gib": CAP_GIB,
            "stages": results,
            "finished": finished,
            "peak_rss_gib": peak,
            "under_bound": finished and peak < BOUND_GIB,
            "total_s": round(sum(r["wall_s"] for r in results.values()), 1),
        },
    )
    print(record)
    # A benchmark reports; it fails only when a stage failed outright (run_measured raises).
