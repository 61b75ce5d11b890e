"""A stage's manifest is written whole or not at all, locally and on gs://."""

import json

import pytest

from components import completion


def test_a_manifest_replaces_the_earlier_one_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out" / "manifest.json"
    completion.write_manifest(str(path), {"rows": 1})

    completion.write_manifest(str(path), {"rows": 2, "seconds": 0.5})

    assert json.loads(path.read_text()) == {"rows": 2, "seconds": 0.5}
    assert sorted(p.name for p in path.parent.iterdir()) == ["manifest.json"]
    assert completion.require(str(path.parent), "manifest.json", stage="x") == str(path)


def test_no_manifest_means_an_incomplete_output_with_a_clear_error(tmp_path):
    with pytest.raises(completion.IncompleteOutput, match="incomplete transform output"):
        completion.require(str(tmp_path), "manifest.json", stage="transform")


def test_a_manifest_on_gcs_is_one_object_written_whole(gcs_bucket):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    path = f"gs://{gcs_bucket}/examples/manifest.json"
    completion.write_manifest(path, {"rows": 3})

    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    blob = client.bucket(gcs_bucket).blob("examples/manifest.json")
    assert json.loads(blob.download_as_bytes()) == {"rows": 3}
    assert completion.exists(path)
    completion.remove(path)
    assert not completion.exists(path)


def test_a_missing_directory_is_named_missing_not_unfinished(tmp_path):
    with pytest.raises(completion.MissingOutput, match="does not exist") as info:
        completion.require(str(tmp_path / "exampels"), "manifest.json", stage="transform")
    assert "did not finish" not in str(info.value) and "mistyped" in str(info.value)
    (tmp_path / "afile").write_text("")
    with pytest.raises(completion.MissingOutput, match="is a file"):
        completion.require(str(tmp_path / "afile"), "manifest.json", stage="transform")
