"""A push killed (SIGKILL) or failing at every write point never leaves LATEST on an incomplete
version, and a rerun finishes or cleanly refuses. Local root and gs:// (loopback emulator)."""

import datetime as dt
import os
import signal
import subprocess
import sys

import pytest

from components.push import registry, storage
from components.push.job import run

from .conftest import make_inputs

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# claim + 3 model files + 1 transform file + metrics + blessing + manifest + LATEST
WRITES_PER_PUSH = 9

CHILD = """
import datetime as dt, sys
from components.push.job import run
from components.push.errors import PushConflict
model, graph, ev, data, root, now = sys.argv[1:7]
try:
    run(model_dir=model, metrics_path=ev + "/metrics.json", blessing_path=ev + "/blessing.json",
        data_manifest_path=data + "/manifest.json", model_root=root, model_name="m",
        transform_dir=graph, now=dt.datetime.fromisoformat(now))
except PushConflict as e:
    print(e, file=sys.stderr)
    sys.exit(3)
"""


def push_in_process(inputs, root, now):
    return run(
        model_dir=str(inputs["model"]),
        metrics_path=str(inputs["ev"] / "metrics.json"),
        blessing_path=str(inputs["ev"] / "blessing.json"),
        data_manifest_path=str(inputs["data"] / "manifest.json"),
        model_root=root,
        model_name="m",
        transform_dir=str(inputs["graph"]),
        now=now,
    )


def push_in_child(inputs, root, now, fault):
    args = [str(inputs[k]) for k in ("model", "graph", "ev", "data")] + [root, now.isoformat()]
    env = {**os.environ, storage.FAULT_ENV: fault}
    return subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, check=False
    )


def assert_latest_is_complete(root, *, expected_versions):
    latest = registry.read_latest(root, "m")
    assert latest is not None
    registry.verify_version(root, "m", latest)  # raises if incomplete or changed
    for version in registry.list_versions(root, "m"):
        registry.verify_version(root, "m", version)
    assert latest in expected_versions


def run_kill_points(inputs, root):
    """Kill a push at each write; returns how many kill points were tried."""
    first = push_in_process(inputs, root, T0)["version"]
    tried = 0
    for point in range(1, WRITES_PER_PUSH + 2):
        now = T0 + dt.timedelta(days=point)
        done = push_in_child(inputs, root, now, f"kill:{point}")
        if done.returncode == 0:  # past the last write: nothing left to kill
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        tried += 1
        version = registry.new_version(now)
        before = registry.read_latest(root, "m")
        assert_latest_is_complete(root, expected_versions={before, version})
        # Same version again: finishes (nothing was claimed yet) or refuses cleanly.
        try:
            push_in_process(inputs, root, now)
        except registry.PushConflict as e:
            assert version in str(e)
            assert registry.read_latest(root, "m") == before
        # A rerun under a new name finishes and becomes LATEST.
        later = push_in_process(inputs, root, now + dt.timedelta(hours=1))["version"]
        assert_latest_is_complete(root, expected_versions={later})
    assert first in registry.list_versions(root, "m")
    return tried


def test_sigkill_at_every_write_point_local(tmp_path):
    tried = run_kill_points(make_inputs(tmp_path), str(tmp_path / "root"))
    assert tried == WRITES_PER_PUSH


@pytest.mark.slow
def test_sigkill_at_every_write_point_gcs(tmp_path, gcs_bucket):
    tried = run_kill_points(make_inputs(tmp_path), f"gs://{gcs_bucket}/models")
    assert tried == WRITES_PER_PUSH


def test_injected_storage_failure_at_every_write_point(tmp_path, monkeypatch):
    inputs = make_inputs(tmp_path)
    root = str(tmp_path / "root")
    first = push_in_process(inputs, root, T0)["version"]
    for point in range(1, WRITES_PER_PUSH + 1):
        monkeypatch.setattr(storage, "_writes", 0)
        monkeypatch.setenv(storage.FAULT_ENV, f"fail:{point}")
        now = T0 + dt.timedelta(days=point)
        with pytest.raises(registry.PushError, match="injected storage failure"):
            push_in_process(inputs, root, now)
        monkeypatch.delenv(storage.FAULT_ENV)
        assert_latest_is_complete(root, expected_versions={first})
        if 1 < point < WRITES_PER_PUSH:  # claimed, no LATEST: visible as incomplete only
            assert registry.new_version(now) in registry.incomplete_versions(root, "m")
    pushed = push_in_process(inputs, root, T0 + dt.timedelta(days=99))["version"]
    assert registry.read_latest(root, "m") == pushed
