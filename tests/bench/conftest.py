"""Benchmark harness: ``bench_record`` writes results JSON with machine info and git commit.

Only collected when asked (see ``tests/conftest.py::pytest_ignore_collect``): ``pytest tests/bench``
or ``pytest -m bench``. Every test here carries the ``bench`` marker.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import psutil
import pytest

from tests.tiny_shop import REPO

RESULTS = REPO / "bench-results"  # results are not tests: kept outside tests/


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = pathlib.Path(__file__).parent.resolve()
    for item in items:
        if here in pathlib.Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.bench)


def _git(*args: str, timeout: float) -> str:
    """``git args...`` in the repo: its stripped output."""
    done = subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=timeout
    )
    return done.stdout.strip()


def git_commit() -> str:
    """Short sha of HEAD (``unknown`` outside a checkout), ``+dirty`` with local changes."""
    try:
        sha = _git("rev-parse", "--short", "HEAD", timeout=10)
        dirty = _git("status", "--porcelain", "--untracked-files=no", timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def machine() -> dict:
    """What the figures were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


@pytest.fixture(scope="session")
def bench_record() -> Callable[[str, dict], dict]:
    """``bench_record(name, results)``: merge results under ``name`` into bench-results/latest.json
    and write bench-results/<UTC timestamp>-<sha>.json; returns the entry written."""

    def record(name: str, results: dict) -> dict:
        RESULTS.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        commit = git_commit()
        entry = {
            "results": results,
            "measured_at": now.isoformat(timespec="seconds"),
            "commit": commit,
            "machine": machine(),
        }
        latest_path = RESULTS / "latest.json"
        latest = json.loads(latest_path.read_text()) if latest_path.exists() else {}
        latest[name] = entry
        latest_path.write_text(json.dumps(latest, indent=2, sort_keys=True) + "\n")
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        run_path = RESULTS / f"{stamp}-{commit.replace('+', '-')}.json"
        previous = json.loads(run_path.read_text()) if run_path.exists() else {}
        previous[name] = entry
        run_path.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
        return entry

    return record


POLL_S = 0.05


def measure(cmd: list[str], *, rss_cap_bytes: int | None = None) -> dict:
    """Run ``cmd`` from the repo root; wall time and peak RSS of it and its children (polled).

    ``rss_cap_bytes``: past it the command and its children are killed, and the result says
    ``"killed_at_cap": True`` (protects a shared machine from a run that would exhaust it).

    Raises:
        AssertionError: with the end of stderr, when the command fails (not when capped).
    """
    start = time.perf_counter()
    # stdout/stderr go to files: a long, chatty run must not block on a full pipe while polled.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = psutil.Popen(cmd, cwd=REPO, stdout=out, stderr=err, text=True)
        peak, capped = 0, False
        while proc.poll() is None:
            try:
                family = [proc, *proc.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in family)
            except psutil.NoSuchProcess:  # a child ended while being read
                time.sleep(POLL_S)
                continue
            peak = max(peak, rss)
            if rss_cap_bytes is not None and rss > rss_cap_bytes:
                for p in family:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
                capped = True
                break
            time.sleep(POLL_S)
        proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    wall = time.perf_counter() - start
    if proc.returncode != 0 and not capped:
        raise AssertionError(f"{cmd[2:4]} failed ({proc.returncode}): {stderr[-2000:]}")
    return {
        "wall_s": wall,
        "peak_rss_bytes": peak,
        "stdout": stdout,
        "stderr": stderr,
        "killed_at_cap": capped,
    }


@pytest.fixture(scope="session")
def run_measured() -> Callable[[list[str]], dict]:
    """``run_measured(cmd)``: wall time and peak RSS of a command (see ``measure``)."""
    return measure
