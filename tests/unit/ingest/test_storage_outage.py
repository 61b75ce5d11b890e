"""gs:// input while storage is down: a clear ``InputUnavailableError``, no manifest.

"Down" is a loopback port nothing listens on (connection refused, as when the emulator
process has stopped), reached through the real google-cloud-storage client and its retries.
"""

from __future__ import annotations

import contextlib
import socket

import pytest
from google.api_core.exceptions import RetryError

from components.ingest import job, layout, listing
from components.ingest.errors import IngestConfigError, InputUnavailableError

from .ingest_rows import config, upload_tree, write_shop

DEADLINE_S = 1.0


def dead_url() -> str:
    """``http://127.0.0.1:PORT`` with nothing listening (the port was just free)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_storage_down_while_listing(tmp_path, gcs_bucket, monkeypatch) -> None:
    monkeypatch.setenv(listing.RETRY_DEADLINE_ENV, str(DEADLINE_S))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead_url())
    root = f"gs://{gcs_bucket}/shop"
    with pytest.raises(InputUnavailableError) as info:
        job.run(root, str(tmp_path / "out"), config())
    message = str(info.value)
    assert message.startswith(f"{root}: storage unavailable or failed while listing objects")
    assert "this run wrote no manifest" in message
    assert isinstance(info.value.__cause__, RetryError)
    assert not (tmp_path / "out" / layout.MANIFEST).exists()


def test_storage_down_between_listing_and_download(
    tmp_path, write_raw, users, items, events, gcs_bucket, monkeypatch
) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "jsonl", users, items, events)
    upload_tree(raw, gcs_bucket, "shop")
    monkeypatch.setenv(listing.RETRY_DEADLINE_ENV, str(DEADLINE_S))
    scan_inputs = listing.scan_inputs

    def listed_then_down(*args, **kwargs):
        found = scan_inputs(*args, **kwargs)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", dead_url())  # storage stops here
        return found

    monkeypatch.setattr(listing, "scan_inputs", listed_then_down)
    root = f"gs://{gcs_bucket}/shop"
    with pytest.raises(InputUnavailableError) as info:
        job.run(root, str(tmp_path / "out"), config())
    assert str(info.value).startswith(f"{root}/")
    assert "storage unavailable or failed while downloading" in str(info.value)
    assert isinstance(info.value.__cause__, RetryError)
    assert not (tmp_path / "out" / layout.MANIFEST).exists()


def test_a_bad_retry_deadline_is_refused(monkeypatch) -> None:
    monkeypatch.setenv(listing.RETRY_DEADLINE_ENV, "never")
    with pytest.raises(IngestConfigError, match=listing.RETRY_DEADLINE_ENV):
        listing.retry_deadline()
