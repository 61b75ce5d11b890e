"""A push killed (SIGKILL) or failing at every write point never leaves LATEST on an incomplete
version, and a rerun finishes or cleanly refuses. Local root and gs:// (loopback emulator).

Faults come from an injected store (``faulty_store``), in this process or in a child process
that kills itself just before its N-th write. Every push is a night of its own: another model
(named by the night), blessed against what the root served when it was evaluated."""

import datetime as dt
import pathlib
import signal
import subprocess
import sys

import pytest

from components.push.errors import PushError
from components.push.publish import new_version
from components.registry import store
from components.registry.errors import VersionConflict
from components.registry.model_root import ModelRoot

from .conftest import make_inputs, push, renew
from .faulty_store import FaultyStore, fail_at

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# claim + 3 model files + 1 transform file + metrics + blessing + manifest + LATEST
WRITES_PER_PUSH = 9
HERE = pathlib.Path(__file__).parent

CHILD = """
import datetime as dt, sys
sys.path.insert(0, sys.argv[8])
from faulty_store import FaultyStore, kill_at
from components.push.job import run
from components.registry.errors import VersionConflict
from components.registry.store import open_store
model, graph, ev, data, root, now, point = sys.argv[1:8]
try:
    run(model_dir=model, metrics_path=ev + "/metrics.json", blessing_path=ev + "/blessing.json",
        data_manifest_path=data + "/manifest.json", model_root=root, model_name="m",
        transform_dir=graph, now=dt.datetime.fromisoformat(now),
        store=FaultyStore(open_store(root), kill_at(int(point))))
except VersionConflict as e:
    print(e, file=sys.stderr)
    sys.exit(3)
"""


def push_in_process(inputs, root, now, store=None):
    renew(inputs, root, now.isoformat())
    return push(inputs, root, now, store)


def push_in_child(inputs, root, now, kill_at_write):
    """Push in a child process that SIGKILLs itself just before write ``kill_at_write``."""
    renew(inputs, root, now.isoformat())
    args = [str(inputs[k]) for k in ("model", "graph", "ev", "data")]
    args += [root, now.isoformat(), str(kill_at_write), str(HERE)]
    return subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False
    )


def assert_latest_is_complete(root, *, expected_versions):
    versions = ModelRoot(root)
    latest = versions.read_latest("m")
    assert latest is not None
    versions.verify_version("m", latest)  # raises if incomplete or changed
    for version in versions.list_versions("m"):
        versions.verify_version("m", version)
    assert latest in expected_versions


def run_kill_points(inputs, root):
    """Kill a push at each write; returns how many kill points were tried."""
    first = push_in_process(inputs, root, T0)["version"]
    tried = 0
    for point in range(1, WRITES_PER_PUSH + 2):
        now = T0 + dt.timedelta(days=point)
        done = push_in_child(inputs, root, now, point)
        if done.returncode == 0:  # past the last write: nothing left to kill
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        tried += 1
        version = new_version(now)
        before = ModelRoot(root).read_latest("m")
        assert_latest_is_complete(root, expected_versions={before, version})
        # Same version again: finishes (nothing was claimed yet) or refuses cleanly.
        try:
            push_in_process(inputs, root, now)
        except VersionConflict as e:
            assert version in str(e)
            assert ModelRoot(root).read_latest("m") == before
        # A rerun under a new name finishes and becomes LATEST.
        later = push_in_process(inputs, root, now + dt.timedelta(hours=1))["version"]
        assert_latest_is_complete(root, expected_versions={later})
    assert first in ModelRoot(root).list_versions("m")
    return tried


def test_sigkill_at_every_write_point_local(tmp_path):
    tried = run_kill_points(make_inputs(tmp_path), str(tmp_path / "root"))
    assert tried == WRITES_PER_PUSH


@pytest.mark.slow
def test_sigkill_at_every_write_point_gcs(tmp_path, gcs_bucket):
    tried = run_kill_points(make_inputs(tmp_path), f"gs://{gcs_bucket}/models")
    assert tried == WRITES_PER_PUSH


def test_injected_storage_failure_at_every_write_point(tmp_path):
    inputs = make_inputs(tmp_path)
    root = str(tmp_path / "root")
    first = push_in_process(inputs, root, T0)["version"]
    for point in range(1, WRITES_PER_PUSH + 1):
        now = T0 + dt.timedelta(days=point)
        failing = FaultyStore(store.open_store(root), fail_at(point))
        with pytest.raises(PushError, match="injected storage failure"):
            push_in_process(inputs, root, now, failing)
        assert_latest_is_complete(root, expected_versions={first})
        if 1 < point < WRITES_PER_PUSH:  # claimed, no LATEST: visible as incomplete only
            assert new_version(now) in ModelRoot(root).incomplete_versions("m")
    pushed = push_in_process(inputs, root, T0 + dt.timedelta(days=99))["version"]
    assert ModelRoot(root).read_latest("m") == pushed
