"""A damaged model root is shown and refused in one line, never a traceback; rollback stays
inside its root; push and list name what is wrong. Local roots and gs:// (emulator)."""

import datetime as dt
import shutil

import pytest

from components.push.__main__ import main
from components.registry import store
from components.registry.model_root import LATEST, ModelRoot

from .conftest import bless, night, push, swap_latest
from .test_latest_cas import cli_push

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
GARBAGE = bytes(range(250, 256)) + b"\x00\xff\xfe\x80" * 3


@pytest.fixture
def root(registry_root):
    return registry_root


def cli(*args: str) -> int:
    return main(list(args))


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("latest", "shown"),
    [
        (GARBAGE, "not text"),
        (b"../elsewhere/20260101T000000Z\n", "is not a version name"),
        (b"20990101T000000Z\n", "not a complete version of this root"),
        (None, "LATEST is missing"),
    ],
)
def test_list_shows_a_damaged_latest_instead_of_crashing(root, tmp_path, capsys, latest, shown):
    v1 = push(night(tmp_path / "n1", root, "1"), root, T0)["version"]
    if latest is None:
        if root.startswith("gs://"):
            store.open_store(root)._blob(f"m/{LATEST}").delete()
        else:
            (tmp_path / "root" / "m" / LATEST).unlink()
    else:
        swap_latest(root, latest)
    capsys.readouterr()

    assert cli("list", "--model-root", root, "--model-name", "m") == 1

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("! ") and shown in out[0], out
    assert out[1:] == [f"  {v1}"]  # listed, none marked as served


def test_a_binary_latest_refuses_push_in_one_line(root, tmp_path, capsys):
    push(night(tmp_path / "n1", root, "1"), root, T0)
    tonight = night(tmp_path / "n2", root, "2")  # evaluated while LATEST was fine
    swap_latest(root, GARBAGE)
    capsys.readouterr()

    assert cli_push(tonight, root) == 2

    line = one_line(capsys.readouterr().err)
    assert "LATEST moved since evaluate read it" in line and "damaged" in line


def test_a_first_night_bootstrap_on_a_damaged_latest_replaces_it_and_says_so(root, tmp_path):
    v1 = push(night(tmp_path / "n1", root, "1"), root, T0)["version"]
    swap_latest(root, GARBAGE)
    tonight = night(tmp_path / "n2", root, "2")
    who = {"by": "ana", "reason": "LATEST lost in a bucket migration"}
    bless(tonight, root, first_night=who)  # what evaluate writes with --first-night-by/-reason

    out = push(tonight, root, T0 + dt.timedelta(days=1))

    manifest = ModelRoot(root).verify_version("m", out["version"])
    assert ModelRoot(root).read_latest("m") == out["version"] != v1
    assert manifest["parent_version"] is None
    assert "not text" in manifest["replaced_latest_problem"]
    assert manifest["blessing"]["first_night"] == who


def test_rollback_accepts_only_versions_of_its_own_root(tmp_path, capsys):
    root, other = str(tmp_path / "root"), str(tmp_path / "other")
    v1 = push(night(tmp_path / "n1", root, "1"), root, T0)["version"]
    elsewhere = push(night(tmp_path / "o1", other, "o"), other, T0 + dt.timedelta(days=3))
    shutil.copytree(tmp_path / "other" / "m", tmp_path / "root" / "sibling")  # a neighbour
    capsys.readouterr()
    tries = [
        f"../../other/m/{elsewhere['version']}",
        f"../sibling/{elsewhere['version']}",
        elsewhere["version"],  # a name this root does not have
        "/etc",
    ]
    for target in tries:
        assert cli("rollback", "--to", target, "--model-root", root, "--model-name", "m") == 2
        line = one_line(capsys.readouterr().err)
        assert "not a version name" in line or "not a complete version of this root" in line
        assert ModelRoot(root).read_latest("m") == v1, target


def test_a_model_root_that_is_a_file_is_one_line(tmp_path, capsys):
    tonight = night(tmp_path / "n1", None, "1")
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    for command in (["list"], ["rollback", "--to", "20260101T000000Z"]):
        assert cli(*command, "--model-root", str(path)) == 2
        assert "is a file, not a directory" in one_line(capsys.readouterr().err)
    assert cli_push(tonight, str(path)) == 2
    assert "is a file, not a directory" in one_line(capsys.readouterr().err)


def test_a_missing_model_directory_says_it_is_missing(tmp_path, capsys):
    tonight = night(tmp_path / "n1", None, "1")
    shutil.rmtree(tonight["model"])
    assert cli_push(tonight, str(tmp_path / "root")) == 2
    line = one_line(capsys.readouterr().err)
    assert "model directory to push does not exist" in line
    assert "not the model being pushed" not in line
