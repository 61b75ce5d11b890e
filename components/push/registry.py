"""The model root's layout: ``<root>/<model>/<version>/`` directories and a ``LATEST`` pointer.

A version directory appears under its final name only once complete (written under a hidden
staging name, verified, then renamed), is never overwritten, and LATEST is written last
(temp file + atomic replace), so LATEST always names a complete version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid

LATEST = "LATEST"
MANIFEST = "manifest.json"
MODEL_SUBDIR = "model"
STAGING_PREFIX = ".staging-"


class PushError(RuntimeError):
    """Base of push failures."""


class PushConflict(PushError):
    """The version being pushed exists already; versions are never overwritten."""


def model_home(root: str, model: str) -> str:
    """``<root>/<model>``."""
    return os.path.join(root, model)


def version_dir(root: str, model: str, version: str) -> str:
    """``<root>/<model>/<version>``."""
    return os.path.join(root, model, version)


def new_version(now: dt.datetime) -> str:
    """A sortable version name for a push at ``now`` (UTC seconds)."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def list_versions(root: str, model: str) -> list[str]:
    """Complete versions, oldest first (staging directories are not versions)."""
    home = model_home(root, model)
    if not os.path.isdir(home):
        return []
    return sorted(
        v
        for v in os.listdir(home)
        if not v.startswith(".") and os.path.isfile(os.path.join(home, v, MANIFEST))
    )


def read_latest(root: str, model: str) -> str | None:
    """The version LATEST names, or None when nothing was pushed."""
    path = os.path.join(model_home(root, model), LATEST)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read().strip() or None


def file_checksums(directory: str) -> dict[str, str]:
    """sha256 of every file under ``directory``, by relative path."""
    sums = {}
    for base, _, files in os.walk(directory):
        for name in sorted(files):
            path = os.path.join(base, name)
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            sums[os.path.relpath(path, directory)] = digest.hexdigest()
    return dict(sorted(sums.items()))


def publish(
    model_dir: str,
    *,
    root: str,
    model: str,
    version: str,
    documents: dict[str, dict],
    manifest: dict,
) -> str:
    """Stage a new version, verify it, rename it into place, then move LATEST.

    Layout: ``<version>/model/`` (a copy of ``model_dir``), one JSON file per ``documents``
    entry (metrics, blessing, ...), and ``manifest.json`` with the checksum of every file.

    Returns:
        The version directory.

    Raises:
        PushConflict: the version exists already.
        PushError: the copy does not match the source.
    """
    home = model_home(root, model)
    final = version_dir(root, model, version)
    if os.path.exists(final):
        raise PushConflict(f"{final} exists; versions are never overwritten")
    os.makedirs(home, exist_ok=True)
    staging = os.path.join(home, f"{STAGING_PREFIX}{version}-{uuid.uuid4().hex[:8]}")
    try:
        shutil.copytree(model_dir, os.path.join(staging, MODEL_SUBDIR))
        if file_checksums(os.path.join(staging, MODEL_SUBDIR)) != file_checksums(model_dir):
            raise PushError(f"copy of {model_dir} to {staging} does not match its source")
        for name, document in documents.items():
            with open(os.path.join(staging, f"{name}.json"), "w") as f:
                json.dump(document, f, indent=2)
        full = {**manifest, "version": version, "files": file_checksums(staging)}
        with open(os.path.join(staging, MANIFEST), "w") as f:
            json.dump(full, f, indent=2)
        os.rename(staging, final)  # atomic; fails if `final` appeared meanwhile and is non-empty
    except OSError as e:
        shutil.rmtree(staging, ignore_errors=True)
        if os.path.exists(final):
            raise PushConflict(f"{final} appeared while pushing; not overwritten") from e
        raise PushError(f"could not stage {model_dir} as {final}: {e}") from e
    except PushError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    write_latest(root, model, version)
    return final


def write_latest(root: str, model: str, version: str) -> None:
    """Point LATEST at ``version`` atomically (the version must be complete)."""
    if version not in list_versions(root, model):
        raise PushError(f"{version_dir(root, model, version)} is not a complete version")
    path = os.path.join(model_home(root, model), LATEST)
    temp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with open(temp, "w") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)
