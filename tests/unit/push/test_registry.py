import datetime as dt
import json
import os

import pytest

from components.push.errors import StaleInput
from components.push.job import NotBlessed, run
from components.push.publish import new_version, write_latest
from components.registry import model_root
from components.registry.errors import CorruptVersion, UnknownVersion, VersionConflict
from components.registry.model_root import ModelRoot

from .conftest import night

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def push(inputs, root, *, now=T0, model_dir=None, transform=True):
    return run(
        model_dir=str(model_dir or inputs["model"]),
        metrics_path=str(inputs["ev"] / "metrics.json"),
        blessing_path=str(inputs["ev"] / "blessing.json"),
        data_manifest_path=str(inputs["data"] / "manifest.json"),
        model_root=str(root),
        model_name="m",
        transform_dir=str(inputs["graph"]) if transform else None,
        now=now,
    )


def test_push_writes_a_complete_verified_version_then_latest(inputs, tmp_path):
    root = tmp_path / "root"
    out = push(inputs, root)
    version = out["version"]
    assert ModelRoot(str(root)).read_latest("m") == version == "20260102T030405Z"
    manifest = ModelRoot(str(root)).verify_version("m", version)
    assert set(manifest["files"]) == {
        "model/serving/saved_model.pb",
        "model/serving/variables/variables.data",
        "model/history.json",
        "transform_graph/transform_fn/saved_model.pb",
        "metrics.json",
        "blessing.json",
    }
    assert manifest["data"] == {"input": "x", "train_end": "t1", "eval_end": "t2", "now": "t3"}
    assert manifest["parent_version"] is None and manifest["code_version"]
    second = push(night(tmp_path / "n2", root, "2"), root, now=T0 + dt.timedelta(hours=1))
    assert second["parent_version"] == version


def test_a_version_is_never_overwritten(inputs, tmp_path):
    root = tmp_path / "root"
    push(inputs, root)
    before = model_root.file_checksums(str(root))
    with pytest.raises(VersionConflict, match="never overwritten"):
        push(night(tmp_path / "n2", root, "2"), root)  # another model, the same version name
    assert model_root.file_checksums(str(root)) == before


def test_latest_moves_forward_and_rolls_back_to_verified_versions_only(inputs, tmp_path):
    root = str(tmp_path / "root")
    v1 = push(inputs, root)["version"]
    v2 = push(night(tmp_path / "n2", root, "2"), root, now=T0 + dt.timedelta(days=1))["version"]
    assert ModelRoot(root).list_versions("m") == [v1, v2]
    write_latest(ModelRoot(root), "m", v1)
    assert ModelRoot(root).read_latest("m") == v1
    with open(os.path.join(root, "m", v2, "model", "history.json"), "w") as f:
        f.write('{"tampered": 1}')
    with pytest.raises(CorruptVersion, match=r"history\.json checksum differs"):
        write_latest(ModelRoot(root), "m", v2)
    with pytest.raises(UnknownVersion, match="not a complete version of this root"):
        write_latest(ModelRoot(root), "m", "20990101T000000Z")
    assert ModelRoot(root).read_latest("m") == v1


def test_unblessed_model_is_refused_and_nothing_is_written(tmp_path):
    from .conftest import make_inputs

    inputs = make_inputs(tmp_path, blessed=False)
    with pytest.raises(NotBlessed, match="not blessed"):
        push(inputs, tmp_path / "root")
    assert not (tmp_path / "root").exists()


def test_stale_or_foreign_documents_are_refused(inputs, tmp_path):
    root = tmp_path / "root"
    metrics = inputs["ev"] / "metrics.json"
    good = metrics.read_text()
    metrics.write_text(json.dumps({"models": {}}))  # the skeleton's file had no schema field
    with pytest.raises(StaleInput, match="metrics schema None"):
        push(inputs, root)
    metrics.write_text(good)
    other = tmp_path / "other-model"
    other.mkdir()
    (other / "x").write_text("another model")
    with pytest.raises(StaleInput, match="is not the model being pushed"):
        push(inputs, root, model_dir=other)
    assert ModelRoot(str(root)).list_versions("m") == []


def test_forced_blessing_is_recorded_in_the_manifest(tmp_path):
    from .conftest import make_inputs

    forced = {"by": "ana", "reason": "planned catalog change"}
    out = push(make_inputs(tmp_path, forced=forced), tmp_path / "root")
    manifest = ModelRoot(str(tmp_path / "root")).read_manifest("m", out["version"])
    assert manifest["blessing"]["forced"] == forced
    assert manifest["blessing"]["gate_passed"] is False


def test_cli_lists_and_rolls_back(inputs, tmp_path, capsys):
    from components.push.__main__ import main

    root = str(tmp_path / "root")
    v1 = push(inputs, root)["version"]
    push(night(tmp_path / "n2", root, "2"), root, now=T0 + dt.timedelta(days=1))
    assert main(["rollback", "--to", v1, "--model-root", root, "--model-name", "m"]) == 0
    assert main(["list", "--model-root", root, "--model-name", "m"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [f"* {v1}", "  20260103T030405Z"]
    assert main(["rollback", "--to", "nope", "--model-root", root, "--model-name", "m"]) == 2


def test_version_names_sort_by_time():
    a = new_version(T0)
    b = new_version(dt.datetime(2026, 1, 10, tzinfo=dt.UTC))
    assert a == "20260102T030405Z" and a < b
