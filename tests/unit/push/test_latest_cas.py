"""LATEST moves only if it still names what evaluate compared against; a model is never pushed
twice. Local roots (flock + os.replace) and gs:// (a generation precondition, against the
emulator that enforces it: ``tests/gcs_strict_emulator.py``).

Each "night" is a model evaluated against what the root served at that moment (``night``).
"""

import datetime as dt

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from components.push.__main__ import main
from components.push.publish import write_latest
from components.registry import store
from components.registry.errors import LatestMoved
from components.registry.model_root import ModelRoot

from .conftest import night, push
from .faulty_store import FaultyStore

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture(params=["local", "gs"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "root")
    return f"gs://{request.getfixturevalue('gcs_strict_bucket')}/models"


def cli_push(inputs, root):
    return main(
        ["push", "--model", str(inputs["model"]), "--evaluation", str(inputs["ev"]),
         "--data", str(inputs["data"]), "--model-root", root, "--model-name", "m"]
    )  # fmt: skip


def test_a_replayed_push_never_puts_an_older_model_back(root, tmp_path, capsys):
    first = night(tmp_path / "n1", root, "night 1")  # evaluated against an empty root
    v1 = push(first, root, T0)["version"]
    v2 = push(night(tmp_path / "n2", root, "night 2"), root, T0 + DAY)["version"]
    capsys.readouterr()

    assert cli_push(first, root) == 2  # night 1's push again, after night 2 went live

    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "LATEST moved since evaluate read it" in err
    assert "nothing in service" in err and f"version {v2}" in err
    assert ModelRoot(root).read_latest("m") == v2
    assert ModelRoot(root).list_versions("m") == [v1, v2]


def test_of_two_pushes_against_the_same_version_the_later_one_is_refused(root, tmp_path):
    v1 = push(night(tmp_path / "n1", root, "night 1"), root, T0)["version"]
    slow = night(tmp_path / "slow", root, "slow")  # both compared against v1
    fast = night(tmp_path / "fast", root, "fast")
    done = {}

    def meanwhile(n: int, key: str) -> None:
        # The slow push has written its version whole; just before it moves LATEST, the
        # fast one (started 1.1 s later) runs start to end.
        if key.endswith("/LATEST") and not done:
            done["fast"] = push(fast, root, T0 + DAY + dt.timedelta(seconds=1.1))["version"]

    with pytest.raises(LatestMoved, match="is complete but NOT served"):
        push(slow, root, T0 + DAY, FaultyStore(store.open_store(root), meanwhile))

    assert ModelRoot(root).read_latest("m") == done["fast"]
    versions = ModelRoot(root).list_versions("m")
    assert v1 in versions and done["fast"] in versions and len(versions) == 3
    for version in versions:  # the refused one is complete, just never served
        ModelRoot(root).verify_version("m", version)


def test_the_generation_precondition_refuses_a_write_between_read_and_swap(
    gcs_strict_bucket, monkeypatch
):
    root = f"gs://{gcs_strict_bucket}/models"
    models = store.open_store(root)
    models.swap("m/LATEST", b"v1\n", expected=None)
    other = gcs.Client(project="test-project", credentials=AnonymousCredentials())
    download = gcs.Blob.download_as_bytes
    intruded = []

    def read_then_someone_writes(blob, *args, **kwargs):
        data = download(blob, *args, **kwargs)
        if blob.name == "models/m/LATEST" and not intruded:
            intruded.append(True)  # another writer lands right after our read
            other.bucket(gcs_strict_bucket).blob("models/m/LATEST").upload_from_string(b"v9\n")
        return data

    monkeypatch.setattr(gcs.Blob, "download_as_bytes", read_then_someone_writes)
    with pytest.raises(LatestMoved, match="written by someone else"):
        models.swap("m/LATEST", b"v2\n", expected=store.sha256_bytes(b"v1\n"))
    assert intruded and models.read_bytes("m/LATEST") == b"v9\n"


def test_the_same_model_pushed_twice_is_a_no_op(root, tmp_path, capsys):
    first = night(tmp_path / "n1", root, "model A")
    out = push(first, root, T0)
    assert not out["unchanged"]

    again = push(first, root, T0 + DAY)  # a retried push task
    same = push(night(tmp_path / "n2", root, "model A"), root, T0 + 2 * DAY)  # unchanged night

    assert again["unchanged"] and same["unchanged"]
    assert again["version"] == same["version"] == out["version"]
    assert ModelRoot(root).list_versions("m") == [out["version"]]
    assert cli_push(first, root) == 0
    assert ModelRoot(root).list_versions("m") == [out["version"]]


def test_a_model_that_is_already_a_version_is_served_again_not_copied(root, tmp_path):
    v1 = push(night(tmp_path / "n1", root, "model A"), root, T0)["version"]
    v2 = push(night(tmp_path / "n2", root, "model B"), root, T0 + DAY)["version"]
    write_latest(ModelRoot(root), "m", v1)  # rolled back

    out = push(night(tmp_path / "n3", root, "model B"), root, T0 + 2 * DAY)

    assert out["version"] == v2 and not out["unchanged"]
    assert ModelRoot(root).read_latest("m") == v2
    assert ModelRoot(root).list_versions("m") == [v1, v2]
