"""Push to gs:// through the real google-cloud-storage client against the loopback emulator."""

import datetime as dt

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage as gcs

from components.push.__main__ import main
from components.push.publish import new_version
from components.registry import model_root, store
from components.registry.errors import VersionConflict
from components.registry.model_root import ModelRoot

from .conftest import night
from .test_registry import T0, push


def test_push_list_rollback_and_fetch_on_gs(inputs, gcs_bucket, tmp_path, capsys):
    root = f"gs://{gcs_bucket}/models"
    v1 = push(inputs, root)["version"]
    v2 = push(night(tmp_path / "n2", root, "2"), root, now=T0 + dt.timedelta(days=1))["version"]
    assert ModelRoot(root).list_versions("m") == [v1, v2]
    assert ModelRoot(root).read_latest("m") == v2
    manifest = ModelRoot(root).verify_version("m", v2)
    assert manifest["parent_version"] == v1
    local = ModelRoot(root).fetch_version("m", v1, str(tmp_path / "fetched"))
    assert model_root.file_checksums(local) == ModelRoot(root).verify_version("m", v1)["files"]
    assert main(["rollback", "--to", v1, "--model-root", root, "--model-name", "m"]) == 0
    assert main(["list", "--model-root", root, "--model-name", "m"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [f"* {v1}", f"  {v2}"]


def test_emulator_ignores_the_generation_precondition_so_push_checks_itself(
    inputs, gcs_bucket, tmp_path
):
    bucket = gcs.Client(project="test-project", credentials=AnonymousCredentials()).bucket(
        gcs_bucket
    )
    bucket.blob("probe").upload_from_string(b"one")
    bucket.blob("probe").upload_from_string(b"two", if_generation_match=0)  # accepted here
    assert bucket.blob("probe").download_as_bytes() == b"two"
    root = f"gs://{gcs_bucket}/models"
    version = push(inputs, root)["version"]
    before = bucket.blob(f"models/m/{version}/{model_root.MANIFEST}").download_as_bytes()
    with pytest.raises(VersionConflict, match="never overwritten"):
        push(night(tmp_path / "n2", root, "2"), root)  # the same version name
    with pytest.raises(VersionConflict, match="never overwritten"):
        store.open_store(root).create(f"m/{version}/metrics.json", b"{}")
    assert bucket.blob(f"models/m/{version}/{model_root.MANIFEST}").download_as_bytes() == before


def test_a_version_claimed_by_another_push_is_refused(inputs, gcs_bucket):
    root = f"gs://{gcs_bucket}/models"
    version = new_version(T0)
    store.open_store(root).create(f"m/{version}/{model_root.CLAIM}", b"someone-else")
    with pytest.raises(VersionConflict, match="being written"):
        push(inputs, root)
    assert ModelRoot(root).read_latest("m") is None
    assert ModelRoot(root).incomplete_versions("m") == [version]
