"""Push to gs:// through the real google-cloud-storage client against the loopback emulator."""

import datetime as dt

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from components.push import registry, storage
from components.push.__main__ import main

from .test_registry import T0, push


def test_push_list_rollback_and_fetch_on_gs(inputs, gcs_bucket, tmp_path, capsys):
    root = f"gs://{gcs_bucket}/models"
    v1 = push(inputs, root)["version"]
    v2 = push(inputs, root, now=T0 + dt.timedelta(days=1))["version"]
    assert registry.list_versions(root, "m") == [v1, v2]
    assert registry.read_latest(root, "m") == v2
    manifest = registry.verify_version(root, "m", v2)
    assert manifest["parent_version"] == v1
    local = registry.fetch_version(root, "m", v1, str(tmp_path / "fetched"))
    assert registry.file_checksums(local) == manifest["files"]
    assert main(["rollback", "--to", v1, "--model-root", root, "--model-name", "m"]) == 0
    assert main(["list", "--model-root", root, "--model-name", "m"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [f"* {v1}", f"  {v2}"]


def test_emulator_ignores_the_generation_precondition_so_push_checks_itself(inputs, gcs_bucket):
    bucket = gcs.Client(project="test-project", credentials=AnonymousCredentials()).bucket(
        gcs_bucket
    )
    bucket.blob("probe").upload_from_string(b"one")
    bucket.blob("probe").upload_from_string(b"two", if_generation_match=0)  # accepted here
    assert bucket.blob("probe").download_as_bytes() == b"two"
    root = f"gs://{gcs_bucket}/models"
    version = push(inputs, root)["version"]
    before = bucket.blob(f"models/m/{version}/{registry.MANIFEST}").download_as_bytes()
    with pytest.raises(registry.PushConflict, match="never overwritten"):
        push(inputs, root)
    with pytest.raises(registry.PushConflict, match="never overwritten"):
        storage.open_store(root).create(f"m/{version}/metrics.json", b"{}")
    assert bucket.blob(f"models/m/{version}/{registry.MANIFEST}").download_as_bytes() == before


def test_a_version_claimed_by_another_push_is_refused(inputs, gcs_bucket):
    root = f"gs://{gcs_bucket}/models"
    version = registry.new_version(T0)
    storage.open_store(root).create(f"m/{version}/{registry.CLAIM}", b"someone-else")
    with pytest.raises(registry.PushConflict, match="being written"):
        push(inputs, root)
    assert registry.read_latest(root, "m") is None
    assert registry.incomplete_versions(root, "m") == [version]
