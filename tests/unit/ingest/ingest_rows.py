"""Helpers shared by the ingest unit tests: times, images, a small raw shop, a config.

A plain module (not conftest), imported relatively by the tests of this package.
"""

from __future__ import annotations

import datetime as dt
import io
import pathlib

from PIL import Image

from components.ingest.config import IngestConfig
from schemas import tables as cols

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def ts(day: int, hour: int = 0) -> dt.datetime:
    """A January 2024 timestamp."""
    return dt.datetime(2024, 1, day, hour, tzinfo=dt.UTC)


def png_bytes(size: int = 8) -> bytes:
    """A real PNG image."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(size: int = 8) -> bytes:
    """A real JPEG image."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (10, 200, 30)).save(buf, format="JPEG")
    return buf.getvalue()


FORMATS = ("parquet", "jsonl", "csv")
EXT = {"parquet": "parquet", "jsonl": "jsonl.gz", "csv": "csv"}


def write_shop(write_raw, root: pathlib.Path, fmt: str, users, items, events) -> pathlib.Path:
    ext = EXT[fmt]
    write_raw(root / f"{cols.USERS.name}.{ext}", users, fmt)
    write_raw(root / f"{cols.ITEMS.name}.{ext}", items, fmt)
    # Events in two part files; the last row of part 2 duplicates the first of part 1.
    write_raw(root / cols.EVENTS.name / f"part-00000.{ext}", events[:6], fmt)
    write_raw(root / cols.EVENTS.name / f"part-00001.{ext}", [*events[6:], events[0]], fmt)
    write_raw(root / "_meta.json", [{"note": "ignored"}], "jsonl")
    return root


def config(**kw) -> IngestConfig:
    return IngestConfig(now=NOW, progress=False, **kw)


def upload_tree(local: pathlib.Path, bucket_name: str, prefix: str):
    """Copy every file under ``local`` to ``gs://bucket_name/prefix/`` (the emulator's client).

    Returns:
        The bucket (google-cloud-storage), for more uploads.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    bucket = client.bucket(bucket_name)
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        bucket.blob(f"{prefix}/{path.relative_to(local).as_posix()}").upload_from_filename(
            str(path)
        )
    return bucket
