"""The publish protocol: a new version under a model root, then LATEST; and rollback.

Publish: refuse if the version exists or is claimed; claim it (create-only, read back); upload
every file create-only; read each back and compare its sha256 with the source; check the claim
is still ours; write the manifest (create-only, read back); only then point LATEST at it, by a
compare-and-swap against what LATEST held when evaluate read it (``store.swap``): if another
push or a rollback moved LATEST meanwhile, the new version stays complete but unserved and
``LatestMoved`` says so. A version is complete iff its manifest exists, so a push killed at any
point leaves either no version or a complete one, and LATEST (written last, and only to a
complete, verified version) always names a complete version. A rerun picks a new version name
and finishes, or with the same name is refused as a conflict. Every read and write goes through
the ``ModelRoot``'s store (layout: ``components.registry``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping

from components.push.errors import PushError
from components.registry import model_root as layout
from components.registry import store as stores
from components.registry.errors import LatestMoved, VersionConflict
from components.registry.model_root import ModelRoot

logger = logging.getLogger(__name__)


def new_version(now: dt.datetime) -> str:
    """A sortable version name for a push at ``now`` (UTC seconds)."""
    return now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def publish(
    model_dir: str,
    *,
    root: ModelRoot,
    model: str,
    version: str,
    documents: Mapping[str, dict],
    manifest: dict,
    expected_latest: str | None,
    transform_dir: str | None = None,
) -> str:
    """Write a new version (see the module docstring for the protocol), then move LATEST.

    Args:
        model_dir: The train output; copied to ``<version>/model/``.
        root: The model root (local directory or gs://) and its store.
        model: Model name.
        version: New version name; must not exist.
        documents: JSON documents written as ``<version>/<name>.json``.
        manifest: Lineage fields; ``version`` and ``files`` (sha256 by path) are added.
        expected_latest: ``Latest.sha256`` of LATEST as evaluate read it (None: absent); LATEST
            is moved only if it still holds exactly that.
        transform_dir: The TFT graph; copied to ``<version>/transform_graph/`` when given.

    Returns:
        The version directory (path or URI).

    Raises:
        VersionConflict: the version exists or is claimed by another push.
        LatestMoved: LATEST changed since evaluate read it; the version is complete, unserved.
        PushError: a file read back differs from its source, or local storage failed; the
            version stays incomplete and LATEST is untouched.
    """
    if not layout.VERSION_PATTERN.match(version):
        raise PushError(f"bad version name {version!r}")
    try:
        return _publish(
            model_dir, root, model, version, documents, manifest, transform_dir, expected_latest
        )
    except OSError as e:  # local storage I/O (gs:// faults arrive as StorageUnavailable already)
        raise PushError(
            f"push of {root.version_dir(model, version)} failed, version left incomplete and "
            f"LATEST untouched: {e}"
        ) from e


def _publish(
    model_dir: str,
    root: ModelRoot,
    model: str,
    version: str,
    documents: Mapping[str, dict],
    manifest: dict,
    transform_dir: str | None,
    expected_latest: str | None,
) -> str:
    store = root.store
    base = f"{model}/{version}"
    final = root.version_dir(model, version)
    if store.exists(f"{base}/{layout.MANIFEST}") or store.exists(f"{base}/{layout.CLAIM}"):
        raise VersionConflict(f"{final} exists or is being written; versions are never overwritten")
    token = uuid.uuid4().hex.encode()
    store.create(f"{base}/{layout.CLAIM}", token)
    _check_claim(store, base, token, final)
    sources = {
        f"{layout.MODEL_SUBDIR}/{rel}": p for rel, p in stores.local_files(model_dir).items()
    }
    if transform_dir is not None:
        sources |= {
            f"{layout.TRANSFORM_SUBDIR}/{rel}": p
            for rel, p in stores.local_files(transform_dir).items()
        }
    expected = {rel: stores.sha256_file(p) for rel, p in sources.items()}
    for rel, path in sources.items():
        store.upload_file(path, f"{base}/{rel}")
    for name, document in documents.items():
        data = json.dumps(document, indent=2, sort_keys=True).encode()
        store.create(f"{base}/{name}.json", data)
        expected[f"{name}.json"] = stores.sha256_bytes(data)
    for rel, digest in expected.items():
        data = store.read_bytes(f"{base}/{rel}")
        if data is None or stores.sha256_bytes(data) != digest:
            raise PushError(f"{final}/{rel} does not match its source after writing")
    _check_claim(store, base, token, final)
    full = {**manifest, "version": version, "files": dict(sorted(expected.items()))}
    data = json.dumps(full, indent=2, sort_keys=True).encode()
    store.create(f"{base}/{layout.MANIFEST}", data)
    if store.read_bytes(f"{base}/{layout.MANIFEST}") != data:
        raise PushError(f"{final}/{layout.MANIFEST} does not match what was written")
    try:
        point_latest(root, model, version, expected=expected_latest)
    except LatestMoved as e:
        raise LatestMoved(
            f"{final} is complete but NOT served: LATEST changed while it was written ({e}); "
            "re-run evaluate against the model now in service"
        ) from e
    logger.info("published version=%s files=%d", version, len(expected))
    return final


def _check_claim(store: stores.Store, base: str, token: bytes, final: str) -> None:
    if store.read_bytes(f"{base}/{layout.CLAIM}") != token:
        raise VersionConflict(f"{final} is claimed by another push; not overwritten")


def point_latest(root: ModelRoot, model: str, version: str, *, expected: str | None) -> None:
    """Compare-and-swap LATEST to ``version`` (``expected``: sha256 read, None: absent).

    Raises:
        LatestMoved: LATEST no longer holds ``expected``; not written.
        PushError: LATEST does not name ``version`` when read back.
    """
    root.swap_latest(model, version, expected=expected)
    if root.latest(model).version != version:
        raise PushError(
            f"{root.store.path(model)}/{layout.LATEST} does not name {version} after writing"
        )


def write_latest(root: ModelRoot, model: str, version: str) -> None:
    """Point LATEST at ``version`` (rollback), after verifying every file of it.

    Only a complete version of this root is accepted; LATEST is swapped against what it held
    when the rollback read it, so a push landing meanwhile is never silently undone.

    Raises:
        UnknownVersion: not a version name, or not a complete version of this root.
        CorruptVersion: the version does not match its manifest.
        LatestMoved: LATEST changed while rolling back.
    """
    root.require_version(model, version)
    before = root.latest(model)
    root.verify_version(model, version)
    point_latest(root, model, version, expected=before.sha256)
