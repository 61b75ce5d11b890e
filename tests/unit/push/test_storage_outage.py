"""A real gs:// outage in the middle of a push: the emulator process itself is SIGKILLed.

Each test runs its own gcp-storage-emulator on disk (not in memory), so a restart on the same
port and data directory keeps every object: what the push left behind can be inspected after the
outage. The emulator is killed just before a chosen write of the second push (an injected
``faulty_store.FaultyStore``). Either it stays down past the retry deadline (the push must raise
``StorageUnavailable`` naming the object, LATEST must still name the first version, and a rerun
must finish), or it comes back within the deadline (the push must finish by retrying).
"""

import contextlib
import datetime as dt
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from google.api_core.exceptions import PreconditionFailed, RetryError
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from components.push.publish import new_version
from components.registry import store
from components.registry.errors import RegistryError, StorageUnavailable, VersionConflict
from components.registry.model_root import ModelRoot

from .conftest import make_inputs
from .faulty_store import FaultyStore
from .test_faults import T0, push_in_process

# Write number (1-based, as FaultyStore counts) -> the key it writes (see test_faults).
STOP_POINTS = {
    1: "_CLAIM",  # the first write
    3: "model/serving/saved_model.pb",  # a model file in the middle
    8: "manifest.json",  # the last write of the version itself
    9: "LATEST",  # the pointer
}
SHORT_DEADLINE_S = 3.0
LONG_DEADLINE_S = 60.0
RESTART_AFTER_S = 1.5
START_S = 30.0


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulator:
    """gcp-storage-emulator as a subprocess on a fixed port and data directory."""

    def __init__(self, data_dir: pathlib.Path, log: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.restarter: threading.Thread | None = None

    def start(self) -> None:
        """Start (or restart) and wait until the JSON API answers."""
        exe = pathlib.Path(sys.executable).parent / "gcp-storage-emulator"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    *(str(exe), "--data-dir", str(self.data_dir), "start"),
                    *("--host", "127.0.0.1", "--port", str(self.port), "--quiet"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"emulator exited {self.proc.returncode}: {self.log.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"emulator not answering at {self.url}") from err
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the process (no clean shutdown) and reap it."""
        assert self.proc is not None and self.proc.poll() is None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """Terminate if running (teardown), after a pending restart has run."""
        if self.restarter is not None:
            self.restarter.join(RESTART_AFTER_S + START_S)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def emulator(tmp_path, monkeypatch):
    """An on-disk emulator of this test alone, with a bucket; ``STORAGE_EMULATOR_HOST`` set."""
    emu = Emulator(tmp_path / "gcs-data", tmp_path / "emulator.log")
    emu.start()
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", emu.url)
        client = gcs.Client(project="test-project", credentials=AnonymousCredentials())
        emu.bucket = f"outage-{uuid.uuid4().hex[:8]}"
        client.create_bucket(emu.bucket)
        yield emu
    finally:
        emu.stop()


def kill_at_write(root: str, emu: Emulator, point: int, *, restart_after: float | None):
    """A store of ``root`` that kills the emulator just before write ``point``, and a state.

    The store's ``keys`` are the keys written, in order. With ``restart_after``, a background
    thread (``emu.restarter``) restarts the emulator that many seconds later; its outcome is
    ``state["restarted"]`` (None until it has run, else True or the exception).
    """
    state: dict = {"restarted": None}

    def restart() -> None:
        try:
            time.sleep(restart_after)
            emu.start()
            state["restarted"] = True
        except Exception as err:  # reported by the test
            state["restarted"] = err

    def hook(n: int, key: str) -> None:
        if n == point:
            emu.kill()
            if restart_after is not None:
                emu.restarter = threading.Thread(target=restart, daemon=True)
                emu.restarter.start()

    return FaultyStore(store.open_store(root), hook), state


@pytest.mark.slow
@pytest.mark.parametrize("point", sorted(STOP_POINTS))
def test_outage_past_the_deadline_is_a_clear_error_and_latest_stays(
    point, emulator, tmp_path, monkeypatch, record_property
):
    root = f"gs://{emulator.bucket}/models"
    inputs = make_inputs(tmp_path / "in")
    v1 = push_in_process(inputs, root, T0)["version"]
    assert ModelRoot(root).read_latest("m") == v1

    monkeypatch.setenv(store.RETRY_DEADLINE_ENV, str(SHORT_DEADLINE_S))
    failing, _ = kill_at_write(root, emulator, point, restart_after=None)
    keys = failing.keys
    now = T0 + dt.timedelta(days=1)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as info:
        push_in_process(inputs, root, now, failing)
    elapsed = time.monotonic() - started
    record_property("stop_point", point)
    record_property("seconds_to_error", round(elapsed, 1))

    assert keys[point - 1].endswith(f"/{STOP_POINTS[point]}")
    assert len(keys) == point  # nothing was written after the outage
    message = str(info.value)
    assert message.startswith(f"{root}/{keys[point - 1]}: storage unavailable or failed")
    assert f"deadline {SHORT_DEADLINE_S:g} s, ${store.RETRY_DEADLINE_ENV}" in message
    assert ("not confirmed moved" if point == 9 else "LATEST was not moved") in message
    assert isinstance(info.value.__cause__, RetryError)  # retried, not a raw ConnectionError

    emulator.start()  # the hook never kills again: len(keys) only grows
    assert ModelRoot(root).read_latest("m") == v1
    ModelRoot(root).verify_version("m", v1)
    v2 = new_version(now)
    if point == 9:  # the version was complete and verified; only the pointer write was lost
        assert ModelRoot(root).list_versions("m") == [v1, v2]
        ModelRoot(root).verify_version("m", v2)
    else:
        assert ModelRoot(root).list_versions("m") == [v1]
        assert ModelRoot(root).incomplete_versions("m") == ([] if point == 1 else [v2])

    v3 = push_in_process(inputs, root, now + dt.timedelta(hours=1))["version"]
    assert ModelRoot(root).read_latest("m") == v3
    assert ModelRoot(root).verify_version("m", v3)["parent_version"] == v1


@pytest.mark.slow
@pytest.mark.parametrize("point", [1, 3, 9])
def test_outage_within_the_deadline_is_retried_to_completion(
    point, emulator, tmp_path, monkeypatch, record_property
):
    root = f"gs://{emulator.bucket}/models"
    inputs = make_inputs(tmp_path / "in")
    v1 = push_in_process(inputs, root, T0)["version"]

    monkeypatch.setenv(store.RETRY_DEADLINE_ENV, str(LONG_DEADLINE_S))
    failing, state = kill_at_write(root, emulator, point, restart_after=RESTART_AFTER_S)
    keys = failing.keys
    v2 = push_in_process(inputs, root, T0 + dt.timedelta(days=1), failing)["version"]
    emulator.restarter.join(START_S)
    record_property("stop_point", point)

    assert state["restarted"] is True, state["restarted"]
    assert len(keys) == 9 and keys[point - 1].endswith(STOP_POINTS[point])
    assert ModelRoot(root).read_latest("m") == v2
    assert ModelRoot(root).verify_version("m", v2)["parent_version"] == v1
    ModelRoot(root).verify_version("m", v1)
    assert ModelRoot(root).list_versions("m") == [v1, v2]
    assert ModelRoot(root).incomplete_versions("m") == []


def test_a_retried_create_that_had_landed_is_accepted_only_with_our_bytes(gcs_bucket, monkeypatch):
    # Real GCS answers 412 to the retry of a create whose first attempt landed but whose
    # response was lost. The emulator ignores the precondition, so the client is made to act
    # that way: the first attempt's bytes land, then the 412.
    models = store.open_store(f"gs://{gcs_bucket}/models")
    landed = {"models/ours": b"same bytes", "models/theirs": b"someone else's bytes"}
    upload = gcs.Blob.upload_from_string

    def landed_then_412(blob, data, **kwargs):
        upload(blob, landed[blob.name], **kwargs)
        raise PreconditionFailed("412 conditionNotMet (retry of a landed create)")

    monkeypatch.setattr(gcs.Blob, "upload_from_string", landed_then_412)
    models.create("ours", b"same bytes")
    with pytest.raises(VersionConflict, match="theirs exists; never overwritten"):
        models.create("theirs", b"same bytes")
    monkeypatch.undo()
    assert models.read_bytes("theirs") == b"someone else's bytes"


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_a_bad_retry_deadline_is_refused(value, monkeypatch):
    monkeypatch.setenv(store.RETRY_DEADLINE_ENV, value)
    with pytest.raises(RegistryError, match=store.RETRY_DEADLINE_ENV):
        store.retry_deadline()
