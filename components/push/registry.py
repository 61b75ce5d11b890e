"""The model root's layout and the publish protocol, for a local directory or gs://.

```
<root>/<model>/LATEST                      the version in service (one line)
<root>/<model>/<version>/_CLAIM            who is writing this version (a unique token)
<root>/<model>/<version>/model/...         the train output (serving/, embeddings/, ...)
<root>/<model>/<version>/transform_graph/  the TFT graph (when given)
<root>/<model>/<version>/<document>.json   metrics, blessing, ...
<root>/<model>/<version>/manifest.json     lineage + sha256 of every file; written last
```

Publish: refuse if the version exists or is claimed; claim it (create-only, read back); upload
every file create-only; read each back and compare its sha256 with the source; check the claim
is still ours; write the manifest (create-only, read back); only then point LATEST at it. A
version is complete iff its manifest exists, so a push killed at any point leaves either no
version or a complete one, and LATEST (written last, and only to a complete, verified version)
always names a complete version. A rerun picks a new version name and finishes, or with the same
name is refused as a conflict. All storage goes through ``storage``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping

from components.push import storage
from components.push.errors import CorruptVersion, PushConflict, PushError, StaleInput

__all__ = [
    "CLAIM",
    "LATEST",
    "MANIFEST",
    "MODEL_SUBDIR",
    "TRANSFORM_SUBDIR",
    "CorruptVersion",
    "PushConflict",
    "PushError",
    "StaleInput",
    "fetch_version",
    "file_checksums",
    "incomplete_versions",
    "list_versions",
    "new_version",
    "publish",
    "read_latest",
    "read_manifest",
    "tree_digest",
    "verify_version",
    "version_dir",
    "write_latest",
]

logger = logging.getLogger(__name__)

LATEST = "LATEST"
MANIFEST = "manifest.json"
CLAIM = "_CLAIM"
MODEL_SUBDIR = "model"
TRANSFORM_SUBDIR = "transform_graph"
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")


def _join(root: str, *parts: str) -> str:
    if root.startswith(storage.GS):
        return "/".join([root.rstrip("/"), *parts])
    return os.path.join(root, *parts)


def version_dir(root: str, model: str, version: str) -> str:
    """``<root>/<model>/<version>`` (a local path or a gs:// URI)."""
    return _join(root, model, version)


def new_version(now: dt.datetime) -> str:
    """A sortable version name for a push at ``now`` (UTC seconds)."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def file_checksums(directory: str) -> dict[str, str]:
    """sha256 of every file under a local ``directory``, by ``/``-separated relative path."""
    return {rel: storage.sha256_file(p) for rel, p in storage.local_files(directory).items()}


def tree_digest(directory: str) -> str:
    """One sha256 over a local directory's files and their checksums (identifies a model)."""
    text = json.dumps(file_checksums(directory), sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()


def _versions_with(store: storage.Store, model: str, marker: str) -> set[str]:
    out = set()
    for key in store.list_keys(model):
        parts = key.split("/")
        if len(parts) == 3 and parts[2] == marker and VERSION_PATTERN.match(parts[1]):
            out.add(parts[1])
    return out


def list_versions(root: str, model: str) -> list[str]:
    """Complete versions (those with a manifest), oldest first."""
    return sorted(_versions_with(storage.open_store(root), model, MANIFEST))


def incomplete_versions(root: str, model: str) -> list[str]:
    """Claimed versions without a manifest (a push died or is running); never served."""
    store = storage.open_store(root)
    return sorted(_versions_with(store, model, CLAIM) - _versions_with(store, model, MANIFEST))


def read_latest(root: str, model: str) -> str | None:
    """The version LATEST names, or None when nothing was pushed."""
    data = storage.open_store(root).read_bytes(f"{model}/{LATEST}")
    return (data.decode().strip() or None) if data is not None else None


def read_manifest(root: str, model: str, version: str) -> dict:
    """A version's manifest.

    Raises:
        CorruptVersion: no manifest (incomplete or missing version) or unreadable JSON.
    """
    store = storage.open_store(root)
    data = store.read_bytes(f"{model}/{version}/{MANIFEST}")
    if data is None:
        raise CorruptVersion(f"{version_dir(root, model, version)}: no {MANIFEST}; not complete")
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise CorruptVersion(f"{store.path(f'{model}/{version}/{MANIFEST}')}: not JSON") from e


def verify_version(root: str, model: str, version: str) -> dict:
    """Re-read every file a version's manifest lists and compare checksums.

    Returns:
        The manifest.

    Raises:
        CorruptVersion: the manifest is missing, or a file is missing or differs (all of them
            are named).
    """
    store = storage.open_store(root)
    manifest = read_manifest(root, model, version)
    problems = []
    for rel, expected in manifest.get("files", {}).items():
        data = store.read_bytes(f"{model}/{version}/{rel}")
        if data is None:
            problems.append(f"{rel} missing")
        elif storage.sha256_bytes(data) != expected:
            problems.append(f"{rel} checksum differs")
    if not manifest.get("files"):
        problems.append("manifest lists no files")
    if problems:
        raise CorruptVersion(f"{version_dir(root, model, version)}: {'; '.join(problems)}")
    return manifest


def fetch_version(root: str, model: str, version: str, dest: str) -> str:
    """A verified local copy of a version (the version directory itself for a local root).

    Raises:
        CorruptVersion: as ``verify_version``.
    """
    manifest = verify_version(root, model, version)
    if not root.startswith(storage.GS):
        return version_dir(root, model, version)
    store = storage.open_store(root)
    for rel in manifest["files"]:
        path = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        store.download(f"{model}/{version}/{rel}", path)
    if file_checksums(dest) != manifest["files"]:
        raise CorruptVersion(f"{version_dir(root, model, version)}: changed while fetching")
    return dest


def publish(
    model_dir: str,
    *,
    root: str,
    model: str,
    version: str,
    documents: Mapping[str, dict],
    manifest: dict,
    transform_dir: str | None = None,
) -> str:
    """Write a new version (see the module docstring for the protocol), then move LATEST.

    Args:
        model_dir: The train output; copied to ``<version>/model/``.
        root: Model root (local directory or gs://).
        model: Model name.
        version: New version name; must not exist.
        documents: JSON documents written as ``<version>/<name>.json``.
        manifest: Lineage fields; ``version`` and ``files`` (sha256 by path) are added.
        transform_dir: The TFT graph; copied to ``<version>/transform_graph/`` when given.

    Returns:
        The version directory (path or URI).

    Raises:
        PushConflict: the version exists or is claimed by another push.
        PushError: a file read back differs from its source; the version stays incomplete and
            LATEST is untouched.
    """
    if not VERSION_PATTERN.match(version):
        raise PushError(f"bad version name {version!r}")
    try:
        return _publish(model_dir, root, model, version, documents, manifest, transform_dir)
    except OSError as e:  # local storage I/O (gs:// faults arrive as StorageUnavailable already)
        raise PushError(
            f"push of {version_dir(root, model, version)} failed, version left incomplete and "
            f"LATEST untouched: {e}"
        ) from e


def _publish(
    model_dir: str,
    root: str,
    model: str,
    version: str,
    documents: Mapping[str, dict],
    manifest: dict,
    transform_dir: str | None,
) -> str:
    store = storage.open_store(root)
    base = f"{model}/{version}"
    final = version_dir(root, model, version)
    if store.exists(f"{base}/{MANIFEST}") or store.exists(f"{base}/{CLAIM}"):
        raise PushConflict(f"{final} exists or is being written; versions are never overwritten")
    token = uuid.uuid4().hex.encode()
    store.create(f"{base}/{CLAIM}", token)
    _check_claim(store, base, token, final)
    sources = {f"{MODEL_SUBDIR}/{rel}": p for rel, p in storage.local_files(model_dir).items()}
    if transform_dir is not None:
        sources |= {
            f"{TRANSFORM_SUBDIR}/{rel}": p for rel, p in storage.local_files(transform_dir).items()
        }
    expected = {rel: storage.sha256_file(p) for rel, p in sources.items()}
    for rel, path in sources.items():
        store.upload_file(path, f"{base}/{rel}")
    for name, document in documents.items():
        data = json.dumps(document, indent=2, sort_keys=True).encode()
        store.create(f"{base}/{name}.json", data)
        expected[f"{name}.json"] = storage.sha256_bytes(data)
    for rel, digest in expected.items():
        data = store.read_bytes(f"{base}/{rel}")
        if data is None or storage.sha256_bytes(data) != digest:
            raise PushError(f"{final}/{rel} does not match its source after writing")
    _check_claim(store, base, token, final)
    full = {**manifest, "version": version, "files": dict(sorted(expected.items()))}
    data = json.dumps(full, indent=2, sort_keys=True).encode()
    store.create(f"{base}/{MANIFEST}", data)
    if store.read_bytes(f"{base}/{MANIFEST}") != data:
        raise PushError(f"{final}/{MANIFEST} does not match what was written")
    _point_latest(store, model, version)
    logger.info("published version=%s files=%d", version, len(expected))
    return final


def _check_claim(store: storage.Store, base: str, token: bytes, final: str) -> None:
    if store.read_bytes(f"{base}/{CLAIM}") != token:
        raise PushConflict(f"{final} is claimed by another push; not overwritten")


def _point_latest(store: storage.Store, model: str, version: str) -> None:
    key = f"{model}/{LATEST}"
    store.replace(key, (version + "\n").encode())
    if (store.read_bytes(key) or b"").decode().strip() != version:
        raise PushError(f"{store.path(key)} does not name {version} after writing")


def write_latest(root: str, model: str, version: str) -> None:
    """Point LATEST at ``version`` (rollback), after verifying every file of it.

    Raises:
        CorruptVersion: the version is incomplete, missing or does not match its manifest.
    """
    verify_version(root, model, version)
    _point_latest(storage.open_store(root), model, version)
