"""The only push module that touches files or gs://: a key-value view of a model root.

Keys are ``/``-separated paths relative to the root (a local directory or ``gs://bucket/prefix``).
Writes are create-only except ``replace`` (used for the LATEST pointer alone):

- local: the bytes go to a temporary file that is fsynced and then hard-linked to the key
  (``link`` fails if the key exists), so a key is either absent or complete; ``replace`` is a
  temporary file plus ``os.replace``.
- gs://: an existence check, then an upload with ``if_generation_match=0`` (GCS refuses to
  overwrite). The loopback emulator ignores that precondition, so callers also claim a version
  with a unique token and read every object back (see ``registry.publish``). An object upload is
  atomic on GCS: readers see the old object or the new one, never a mix.

Fault hook for tests only: ``SHOPREC_PUSH_FAULT=kill:N`` sends SIGKILL to this process just
before its N-th write (1-based), ``fail:N`` raises ``OSError`` there. Read at each write, never
set outside tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import uuid
from collections.abc import Iterator

from components.push.errors import PushConflict, PushError

GS = "gs://"
FAULT_ENV = "SHOPREC_PUSH_FAULT"

_writes = 0


def _fault_point(key: str) -> None:
    """Count a write; kill or fail here when the test hook asks for it."""
    global _writes  # one counter per process is the point of the hook
    _writes += 1
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    mode, _, at = spec.partition(":")
    if int(at) != _writes:
        return
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "fail":
        raise OSError(f"injected storage failure at write {_writes} ({key})")


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    """Hex sha256 of a local file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def local_files(directory: str) -> dict[str, str]:
    """Every file under a local ``directory``: ``/``-separated relative path -> absolute path."""
    out = {}
    for base, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(base, name)
            out[os.path.relpath(path, directory).replace(os.sep, "/")] = path
    return dict(sorted(out.items()))


class LocalStore:
    """A model root on the local filesystem."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, key: str) -> str:
        """The local path of ``key``."""
        return os.path.join(self.root, *key.split("/"))

    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""
        try:
            with open(self.path(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return os.path.isfile(self.path(key))

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix/`` (recursive), sorted."""
        base = self.path(prefix)
        return [f"{prefix}/{rel}" for rel in local_files(base)] if os.path.isdir(base) else []

    def create(self, key: str, data: bytes) -> None:
        """Write a new object; never overwrites.

        Raises:
            PushConflict: ``key`` exists.
        """
        self._create(key, data=data)

    def upload_file(self, path: str, key: str) -> None:
        """Copy a local file to a new object (streamed); never overwrites."""
        self._create(key, source=path)

    def _create(self, key: str, *, data: bytes | None = None, source: str | None = None) -> None:
        with self._staged(key, data, source) as temp:
            try:
                os.link(temp, self.path(key))
            except FileExistsError as e:
                raise PushConflict(f"{self.path(key)} exists; never overwritten") from e

    def replace(self, key: str, data: bytes) -> None:
        """Write or atomically replace an object (the LATEST pointer)."""
        with self._staged(key, data, None) as temp:
            os.replace(temp, self.path(key))

    def download(self, key: str, path: str) -> None:
        """Copy an object to a local file."""
        data = self.read_bytes(key)
        if data is None:
            raise PushError(f"{self.path(key)} does not exist")
        with open(path, "wb") as f:
            f.write(data)

    @contextlib.contextmanager
    def _staged(self, key: str, data: bytes | None, source: str | None) -> Iterator[str]:
        _fault_point(key)
        final = self.path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        temp = f"{os.path.dirname(final)}/.tmp-{uuid.uuid4().hex}"
        try:
            with open(temp, "wb") as f:
                if source is None:
                    f.write(data or b"")
                else:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, f, 1 << 20)
                f.flush()
                os.fsync(f.fileno())
            yield temp
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)


class GcsStore:
    """A model root under ``gs://bucket/prefix``.

    The google-cloud-storage client comes from the environment, so ``STORAGE_EMULATOR_HOST``
    selects the emulator.
    """

    def __init__(self, root: str) -> None:
        from google.cloud import storage as gcs

        self.root = root.rstrip("/")
        bucket, _, prefix = self.root[len(GS) :].partition("/")
        self._prefix = f"{prefix}/" if prefix else ""
        self._bucket = gcs.Client().bucket(bucket)

    def path(self, key: str) -> str:
        """The ``gs://`` URI of ``key``."""
        return f"{self.root}/{key}"

    def _blob(self, key: str):
        return self._bucket.blob(self._prefix + key)

    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""
        from google.api_core.exceptions import NotFound

        try:
            return self._blob(key).download_as_bytes()
        except NotFound:
            return None

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        return self._blob(key).exists()

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix/`` (recursive), sorted."""
        start = len(self._prefix)
        blobs = self._bucket.list_blobs(prefix=f"{self._prefix}{prefix}/")
        return sorted(b.name[start:] for b in blobs)

    def create(self, key: str, data: bytes) -> None:
        """Write a new object; never overwrites (existence check + generation precondition).

        Raises:
            PushConflict: ``key`` exists.
        """
        self._create(key, lambda blob: blob.upload_from_string(data, if_generation_match=0))

    def upload_file(self, path: str, key: str) -> None:
        """Copy a local file to a new object (streamed); never overwrites."""
        self._create(key, lambda blob: blob.upload_from_filename(path, if_generation_match=0))

    def _create(self, key: str, upload) -> None:
        from google.api_core.exceptions import PreconditionFailed

        _fault_point(key)
        blob = self._blob(key)
        if blob.exists():
            raise PushConflict(f"{self.path(key)} exists; never overwritten")
        try:
            upload(blob)
        except PreconditionFailed as e:
            raise PushConflict(f"{self.path(key)} exists; never overwritten") from e

    def replace(self, key: str, data: bytes) -> None:
        """Write or replace an object (the LATEST pointer; an upload is atomic)."""
        _fault_point(key)
        self._blob(key).upload_from_string(data)

    def download(self, key: str, path: str) -> None:
        """Copy an object to a local file."""
        data = self.read_bytes(key)
        if data is None:
            raise PushError(f"{self.path(key)} does not exist")
        with open(path, "wb") as f:
            f.write(data)


Store = LocalStore | GcsStore


def open_store(root: str) -> Store:
    """The store for a local directory or a ``gs://bucket/prefix`` root."""
    return GcsStore(root) if root.startswith(GS) else LocalStore(root)
