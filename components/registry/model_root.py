"""The model root's layout and its reader, for a local directory or gs://.

``ModelRoot`` is how evaluate finds and fetches the model in service and how push lists,
verifies and rolls back versions; push writes new versions through the same object
(``components.push.publish``), so a test can hand both a store that fails where it likes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re

from components.registry import store as stores
from components.registry.errors import CorruptVersion, DamagedLatest, UnknownVersion

LATEST = "LATEST"
MANIFEST = "manifest.json"
CLAIM = "_CLAIM"
MODEL_SUBDIR = "model"
TRANSFORM_SUBDIR = "transform_graph"
VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")


def file_checksums(directory: str) -> dict[str, str]:
    """sha256 of every file under a local ``directory``, by ``/``-separated relative path."""
    return {rel: stores.sha256_file(p) for rel, p in stores.local_files(directory).items()}


def tree_digest(directory: str) -> str:
    """One sha256 over a local directory's files and their checksums (identifies a model)."""
    text = json.dumps(file_checksums(directory), sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()


@dataclasses.dataclass(frozen=True)
class Latest:
    """What LATEST holds, as read (never an exception for its content).

    Attributes:
        raw: Its bytes, or None when there is no LATEST.
        version: The version it names, or None (absent or damaged).
        problem: Why it names no version although it exists (binary, not a version name).
    """

    raw: bytes | None
    version: str | None
    problem: str | None = None

    @property
    def sha256(self) -> str | None:
        """sha256 of the bytes read (what a compare-and-swap compares), None when absent."""
        return None if self.raw is None else stores.sha256_bytes(self.raw)


def parse_latest(raw: bytes | None, where: str) -> Latest:
    """LATEST's bytes -> the version they name, or the damage (``Latest.problem``)."""
    if raw is None:
        return Latest(None, None)
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Latest(raw, None, f"{where} is damaged: {len(raw)} bytes, not text ({raw[:16]!r})")
    if not VERSION_PATTERN.match(text):
        shown = text if len(text) <= 60 else text[:57] + "..."
        return Latest(raw, None, f"{where} is damaged: {shown!r} is not a version name")
    return Latest(raw, text)


class ModelRoot:
    """Versions of models under one root (see ``components.registry`` for the layout).

    Attributes:
        root: The local directory or ``gs://bucket/prefix``.
        store: What every read and write goes through (``store.open_store(root)`` unless given).
    """

    def __init__(self, root: str, *, store: stores.Store | None = None) -> None:
        self.root = root
        self.store = store if store is not None else stores.open_store(root)

    def version_dir(self, model: str, version: str) -> str:
        """``<root>/<model>/<version>`` (a local path or a gs:// URI)."""
        return self.store.path(f"{model}/{version}")

    def _versions_with(self, model: str, marker: str) -> set[str]:
        out = set()
        for key in self.store.list_keys(model):
            parts = key.split("/")
            if len(parts) == 3 and parts[2] == marker and VERSION_PATTERN.match(parts[1]):
                out.add(parts[1])
        return out

    def list_versions(self, model: str) -> list[str]:
        """Complete versions (those with a manifest), oldest first."""
        return sorted(self._versions_with(model, MANIFEST))

    def incomplete_versions(self, model: str) -> list[str]:
        """Claimed versions without a manifest (a push died or is running); never served."""
        return sorted(self._versions_with(model, CLAIM) - self._versions_with(model, MANIFEST))

    def latest(self, model: str) -> Latest:
        """What LATEST holds (absent, a version, or damaged); content never raises."""
        key = f"{model}/{LATEST}"
        return parse_latest(self.store.read_bytes(key), self.store.path(key))

    def read_latest(self, model: str) -> str | None:
        """The version LATEST names, or None when nothing was pushed.

        Raises:
            DamagedLatest: LATEST exists but names no version (binary, garbage, a path).
        """
        state = self.latest(model)
        if state.problem is not None:
            raise DamagedLatest(state.problem)
        return state.version

    def require_version(self, model: str, version: str) -> None:
        """Refuse a name that is not a complete version of this very root.

        Raises:
            UnknownVersion: not a version name (``../other/V``, a path, ...) or no complete
                version of that name under this root (the complete ones are listed).
        """
        if not VERSION_PATTERN.match(version):
            raise UnknownVersion(
                f"{version!r} is not a version name of {self.store.path(model)} (names are "
                "like 20260102T030405Z; paths and other roots are refused)"
            )
        versions = self.list_versions(model)
        if version not in versions:
            raise UnknownVersion(
                f"{self.version_dir(model, version)} is not a complete version of this root; "
                f"complete versions: {versions or 'none'}"
            )

    def swap_latest(self, model: str, version: str, *, expected: str | None) -> None:
        """Point LATEST at ``version`` if it still holds what was read (``Latest.sha256``).

        Raises:
            LatestMoved: LATEST changed since it was read; it was not written.
        """
        key = f"{model}/{LATEST}"
        self.store.swap(key, (version + "\n").encode(), expected=expected)

    def versions_with_digest(self, model: str, digest: str) -> list[str]:
        """Complete versions whose manifest records ``model_digest == digest``, oldest first."""
        out = []
        for version in self.list_versions(model):
            try:
                manifest = self.read_manifest(model, version)
            except CorruptVersion:
                continue
            if isinstance(manifest, dict) and manifest.get("model_digest") == digest:
                out.append(version)
        return out

    def read_manifest(self, model: str, version: str) -> dict:
        """A version's manifest.

        Raises:
            CorruptVersion: no manifest (incomplete or missing version) or unreadable JSON.
        """
        key = f"{model}/{version}/{MANIFEST}"
        data = self.store.read_bytes(key)
        if data is None:
            raise CorruptVersion(f"{self.version_dir(model, version)}: no {MANIFEST}; not complete")
        try:
            return json.loads(data)
        except json.JSONDecodeError as e:
            raise CorruptVersion(f"{self.store.path(key)}: not JSON") from e

    def verify_version(self, model: str, version: str) -> dict:
        """Re-read every file a version's manifest lists and compare checksums.

        Returns:
            The manifest.

        Raises:
            CorruptVersion: the manifest is missing, or a file is missing or differs (all of
                them are named).
        """
        manifest = self.read_manifest(model, version)
        problems = []
        for rel, expected in manifest.get("files", {}).items():
            data = self.store.read_bytes(f"{model}/{version}/{rel}")
            if data is None:
                problems.append(f"{rel} missing")
            elif stores.sha256_bytes(data) != expected:
                problems.append(f"{rel} checksum differs")
        if not manifest.get("files"):
            problems.append("manifest lists no files")
        if problems:
            raise CorruptVersion(f"{self.version_dir(model, version)}: {'; '.join(problems)}")
        return manifest

    def fetch_version(self, model: str, version: str, dest: str) -> str:
        """A verified local copy of a version (the version directory itself for a local root).

        Raises:
            CorruptVersion: as ``verify_version``, or the version changed while fetching.
        """
        manifest = self.verify_version(model, version)
        in_place = self.store.local_path(f"{model}/{version}")
        if in_place is not None:
            return in_place
        for rel in manifest["files"]:
            path = os.path.join(dest, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.store.download(f"{model}/{version}/{rel}", path)
        if file_checksums(dest) != manifest["files"]:
            raise CorruptVersion(f"{self.version_dir(model, version)}: changed while fetching")
        return dest
