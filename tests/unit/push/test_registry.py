import datetime as dt
import json
import os

import pytest

from components.push import registry


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "model"
    (d / "serving").mkdir(parents=True)
    (d / "serving" / "saved_model.pb").write_bytes(b"graph")
    (d / "history.json").write_text("{}")
    return str(d)


def push(model_dir, root, version):
    return registry.publish(
        model_dir,
        root=root,
        model="m",
        version=version,
        documents={"metrics": {"recall@50": 0.3}},
        manifest={"who": "test"},
    )


def test_publish_writes_complete_version_then_latest(model_dir, tmp_path):
    root = str(tmp_path / "root")
    final = push(model_dir, root, "v1")
    assert registry.read_latest(root, "m") == "v1"
    with open(os.path.join(final, registry.MANIFEST)) as f:
        manifest = json.load(f)
    assert manifest["version"] == "v1"
    assert set(manifest["files"]) == {
        "model/serving/saved_model.pb",
        "model/history.json",
        "metrics.json",
    }
    assert registry.file_checksums(final).items() >= manifest["files"].items()


def test_a_version_is_never_overwritten(model_dir, tmp_path):
    root = str(tmp_path / "root")
    push(model_dir, root, "v1")
    with pytest.raises(registry.PushConflict, match="never overwritten"):
        push(model_dir, root, "v1")
    assert registry.list_versions(root, "m") == ["v1"]


def test_latest_moves_forward_and_can_roll_back(model_dir, tmp_path):
    root = str(tmp_path / "root")
    push(model_dir, root, "v1")
    push(model_dir, root, "v2")
    assert registry.read_latest(root, "m") == "v2"
    registry.write_latest(root, "m", "v1")
    assert registry.read_latest(root, "m") == "v1"


def test_latest_cannot_name_an_incomplete_version(model_dir, tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "m", "half"))  # no manifest: not complete
    with pytest.raises(registry.PushError, match="not a complete version"):
        registry.write_latest(root, "m", "half")
    assert registry.read_latest(root, "m") is None


def test_staging_directories_are_not_versions(tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "m", registry.STAGING_PREFIX + "v9-abc"))
    assert registry.list_versions(root, "m") == []


def test_version_names_sort_by_time():
    a = registry.new_version(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    b = registry.new_version(dt.datetime(2026, 1, 10, 0, 0, 0, tzinfo=dt.UTC))
    assert a == "20260102T030405Z" and a < b
