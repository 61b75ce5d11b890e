"""gs:// input through the real google-cloud-storage client against the loopback emulator."""

from __future__ import annotations

import json

import pytest

import schemas
from components.ingest import job, layout
from components.ingest.errors import InputNotFoundError
from schemas import tables as cols

from .ingest_rows import config, upload_tree, write_shop


def test_gs_input_gives_the_same_result_as_local(
    tmp_path, write_raw, users, items, events, gcs_bucket
) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "jsonl", users, items, events)
    bucket = upload_tree(raw, gcs_bucket, "shop")
    stray = json.dumps({cols.USER_ID: "stray"}).encode() + b"\n"
    bucket.blob(f"other/{cols.USERS.name}.jsonl").upload_from_string(stray)

    local = job.run(str(raw), str(tmp_path / "local"), config())
    remote = job.run(f"gs://{gcs_bucket}/shop", str(tmp_path / "remote"), config())

    assert remote["input"] == f"gs://{gcs_bucket}/shop"
    assert {k: v for k, v in remote.items() if k != "input"} == {
        k: v for k, v in local.items() if k != "input"
    }
    for t in schemas.TABLES:
        for split in layout.splits_of(t.name):
            assert layout.read_table(tmp_path / "remote", t.name, split) == layout.read_table(
                tmp_path / "local", t.name, split
            )


def test_gs_missing_prefix_is_a_clear_error(tmp_path, gcs_bucket) -> None:
    with pytest.raises(InputNotFoundError, match="no objects under this prefix"):
        job.run(f"gs://{gcs_bucket}/nothing", str(tmp_path / "out"), config())
