"""The only module that touches a model root's files or gs://: a key-value view of it.

Keys are ``/``-separated paths relative to the root (a local directory or ``gs://bucket/prefix``).
Writes are create-only except ``swap`` (the LATEST pointer alone), a compare-and-swap: the new
bytes are written only if the object still holds what the caller read (its sha256, or absent),
else ``LatestMoved`` and nothing is written.

- local: the bytes go to a temporary file that is fsynced and then hard-linked to the key
  (``link`` fails if the key exists), so a key is either absent or complete. ``swap`` holds an
  exclusive ``flock`` on ``.<name>.lock`` beside the key while it reads, compares and
  ``os.replace``-s, so two swaps (two pushes, a push and a rollback) never interleave
  (processes on one host or one POSIX filesystem; not NFS).
- gs://: an existence check, then an upload with ``if_generation_match=0`` (GCS refuses to
  overwrite). ``swap`` reads the object's generation and bytes, compares, and uploads with
  ``if_generation_match=<that generation>`` (0 when absent): GCS refuses (412) if anybody wrote
  in between, which is the atomic step. The loopback emulator ignores every precondition, so
  callers also claim a version with a unique token and read every object back (see
  ``components.push.publish``); the tests of the swap itself run an emulator that enforces
  them. An object upload is atomic on GCS: readers see the old object or the new one.

gs:// outages: every client call (reads, listing, existence checks, create-only uploads and
the LATEST swap) retries transient faults (connection refused or reset, timeouts, 408, 429,
5xx; ``google.cloud.storage.retry.DEFAULT_RETRY``) with jittered exponential back-off for at
most ``$SHOPREC_GCS_RETRY_DEADLINE_S`` seconds (default 120); each HTTP request also times out
after ``min(60, deadline)`` s. The client stops as soon as its next sleep would pass the
deadline, so it may give up before the deadline, never long after it. Retrying is safe: a create
is create-only, and a retried create whose first attempt landed (GCS answers 412 to the retry)
is accepted only if the object holds exactly our bytes (sha256), otherwise it is a
``VersionConflict``; likewise a retried swap answered 412 is ours iff LATEST holds our bytes.
A fault left at the deadline raises ``StorageUnavailable`` (a ``RegistryError``) naming the
gs:// object and saying that LATEST was not moved (for the LATEST write itself: not confirmed
moved), never a raw client exception.

Fault injection is the caller's: tests pass a wrapped store (one that fails or kills the
process before a chosen write) wherever a ``Store`` is taken.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from components import gcs_retry
from components.registry.errors import (
    LatestMoved,
    RegistryError,
    StorageUnavailable,
    VersionConflict,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

GS = "gs://"
RETRY_DEADLINE_ENV = gcs_retry.RETRY_DEADLINE_ENV


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
        """A store over the directory ``root`` (created on the first write).

        Raises:
            RegistryError: ``root`` exists and is not a directory.
        """
        if os.path.exists(root) and not os.path.isdir(root):
            raise RegistryError(f"{root}: the model root is a file, not a directory")
        self.root = root

    def path(self, key: str) -> str:
        """The local path of ``key``."""
        return os.path.join(self.root, *key.split("/"))

    def local_path(self, key: str) -> str | None:
        """Where ``key`` can be read in place: its local path."""
        return self.path(key)

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
            VersionConflict: ``key`` exists.
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
                raise VersionConflict(f"{self.path(key)} exists; never overwritten") from e

    def swap(self, key: str, data: bytes, *, expected: str | None) -> None:
        """Replace ``key`` atomically if it still holds what was read (compare-and-swap).

        Args:
            key: The pointer (LATEST).
            data: Its new bytes.
            expected: sha256 of the bytes the caller read, or None if it was absent.

        Raises:
            LatestMoved: the object holds something else now; nothing was written.
        """
        final = self.path(key)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        lock = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.lock")
        with open(lock, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            current = self.read_bytes(key)
            _check_unchanged(self.path(key), current, expected)
            with self._staged(key, data, None) as temp:
                os.replace(temp, final)

    def download(self, key: str, path: str) -> None:
        """Copy an object to a local file."""
        data = self.read_bytes(key)
        if data is None:
            raise RegistryError(f"{self.path(key)} does not exist")
        with open(path, "wb") as f:
            f.write(data)

    @contextlib.contextmanager
    def _staged(self, key: str, data: bytes | None, source: str | None) -> Iterator[str]:
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
    selects the emulator. Every call retries with ``retry_deadline()`` (see the module
    docstring); what still fails becomes a ``StorageUnavailable`` (a ``RegistryError``) naming
    the object.
    """

    def __init__(self, root: str) -> None:
        from google.cloud import storage as gcs

        self.root = root.rstrip("/")
        bucket, _, prefix = self.root[len(GS) :].partition("/")
        self._prefix = f"{prefix}/" if prefix else ""
        self.deadline = retry_deadline()
        # Unconditional: every write here is create-only (checked below) or the LATEST pointer,
        # whose retry writes the same bytes again. The per-request timeout keeps a hung
        # connection from outliving the deadline.
        self._retry, self._timeout = gcs_retry.retry_and_timeout(self.deadline)
        self._bucket = gcs.Client().bucket(bucket)

    def path(self, key: str) -> str:
        """The ``gs://`` URI of ``key``."""
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> str | None:
        """None: an object must be downloaded to be read as a file."""
        return None

    def _blob(self, key: str):
        return self._bucket.blob(self._prefix + key)

    def _call(self, key: str, action: str, call: Callable[[], T]) -> T:
        """Run one client call; a storage fault left after retrying becomes a ``RegistryError``.

        ``NotFound`` and ``PreconditionFailed`` pass through: callers give them a meaning.
        """
        from google.api_core.exceptions import NotFound, PreconditionFailed

        started = time.monotonic()
        try:
            return call()
        except (NotFound, PreconditionFailed):
            raise
        except gcs_retry.faults() as e:
            spent = time.monotonic() - started
            raise StorageUnavailable(self._failure(key, action, e, spent)) from e

    def _failure(self, key: str, action: str, error: BaseException, spent: float) -> str:
        if key.rsplit("/", 1)[-1] == "LATEST":
            latest = (
                "LATEST was not confirmed moved: it names the previous version, or this new one "
                "(complete and verified) if the lost write landed; read it back to see which"
            )
        else:
            latest = "LATEST was not moved; any version being written stays incomplete"
        return (
            f"{self.path(key)}: storage unavailable or failed while {action} "
            f"(gave up after {spent:.1f} s of retries; deadline {self.deadline:g} s, "
            f"${RETRY_DEADLINE_ENV}): {type(error).__name__}: {error}; {latest}"
        )

    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when absent."""
        from google.api_core.exceptions import NotFound

        blob = self._blob(key)
        try:
            return self._call(
                key,
                "reading",
                lambda: blob.download_as_bytes(retry=self._retry, timeout=self._timeout),
            )
        except NotFound:
            return None

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        blob = self._blob(key)
        return self._call(
            key, "checking", lambda: blob.exists(retry=self._retry, timeout=self._timeout)
        )

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under ``prefix/`` (recursive), sorted."""
        start = len(self._prefix)

        def names() -> list[str]:
            blobs = self._bucket.list_blobs(
                prefix=f"{self._prefix}{prefix}/", retry=self._retry, timeout=self._timeout
            )
            return sorted(b.name[start:] for b in blobs)  # pages are fetched while iterating

        return self._call(f"{prefix}/", "listing", names)

    def create(self, key: str, data: bytes) -> None:
        """Write a new object; never overwrites (existence check + generation precondition).

        Raises:
            VersionConflict: ``key`` exists.
            StorageUnavailable: storage unreachable or failing until the retry deadline.
        """
        self._create(
            key,
            lambda blob: blob.upload_from_string(
                data, if_generation_match=0, retry=self._retry, timeout=self._timeout
            ),
            digest=sha256_bytes(data),
        )

    def upload_file(self, path: str, key: str) -> None:
        """Copy a local file to a new object (streamed); never overwrites."""
        self._create(
            key,
            lambda blob: blob.upload_from_filename(
                path, if_generation_match=0, retry=self._retry, timeout=self._timeout
            ),
            digest=sha256_file(path),
        )

    def _create(self, key: str, upload: Callable[[Any], object], *, digest: str) -> None:
        from google.api_core.exceptions import PreconditionFailed

        blob = self._blob(key)
        if self.exists(key):
            raise VersionConflict(f"{self.path(key)} exists; never overwritten")
        try:
            self._call(key, "writing", lambda: upload(blob))
        except PreconditionFailed as e:
            # On GCS a retried upload whose first attempt landed (response lost) gets 412. It
            # is ours iff it holds our bytes; anything else is someone else's object.
            found = self.read_bytes(key)
            if found is None or sha256_bytes(found) != digest:
                raise VersionConflict(f"{self.path(key)} exists; never overwritten") from e
            logger.info("create retried after it landed; same bytes key=%s", self.path(key))

    def swap(self, key: str, data: bytes, *, expected: str | None) -> None:
        """Replace ``key`` if it still holds what was read: a generation precondition.

        Args:
            key: The pointer (LATEST).
            data: Its new bytes.
            expected: sha256 of the bytes the caller read, or None if it was absent.

        Raises:
            LatestMoved: the object holds something else, or changed before the upload
                landed (GCS answered 412); nothing was written.
            StorageUnavailable: storage unreachable or failing until the retry deadline.
        """
        from google.api_core.exceptions import NotFound, PreconditionFailed

        name = self._prefix + key

        def current() -> tuple[bytes | None, int]:
            blob = self._bucket.get_blob(name, retry=self._retry, timeout=self._timeout)
            if blob is None:
                return None, 0
            generation = blob.generation  # read first: the download resets blob.generation
            if generation is None:
                raise LatestMoved(f"{self.path(key)}: no generation in its metadata; not written")
            found = blob.download_as_bytes(
                if_generation_match=generation, retry=self._retry, timeout=self._timeout
            )
            return found, generation

        try:
            found, generation = self._call(key, "reading", current)
        except (NotFound, PreconditionFailed) as e:  # replaced or deleted while being read
            raise LatestMoved(f"{self.path(key)} changed while being read; not written") from e
        _check_unchanged(self.path(key), found, expected)
        blob = self._blob(key)
        try:
            self._call(
                key,
                "writing",
                lambda: blob.upload_from_string(
                    data,
                    if_generation_match=generation,
                    retry=self._retry,
                    timeout=self._timeout,
                ),
            )
        except PreconditionFailed as e:
            # Also what a retried upload whose first attempt landed gets: ours iff our bytes.
            if self.read_bytes(key) == data:
                logger.info("swap retried after it landed; same bytes key=%s", self.path(key))
                return
            raise LatestMoved(
                f"{self.path(key)} was written by someone else (generation {generation} is "
                "gone); not written"
            ) from e

    def download(self, key: str, path: str) -> None:
        """Copy an object to a local file."""
        data = self.read_bytes(key)
        if data is None:
            raise RegistryError(f"{self.path(key)} does not exist")
        with open(path, "wb") as f:
            f.write(data)


def _check_unchanged(where: str, current: bytes | None, expected: str | None) -> None:
    """Raises ``LatestMoved`` unless ``current`` is what ``expected`` (a sha256, or None) says."""
    found = None if current is None else sha256_bytes(current)
    if found != expected:
        was = "absent" if expected is None else f"sha256 {expected[:12]}"
        now = "absent" if current is None else f"{current[:40]!r}"
        raise LatestMoved(f"{where} changed since it was read (was {was}, now {now}); not written")


def retry_deadline() -> float:
    """Seconds a gs:// call keeps retrying (``components.gcs_retry``).

    Raises:
        RegistryError: ``$SHOPREC_GCS_RETRY_DEADLINE_S`` is set but not a positive number.
    """
    return gcs_retry.retry_deadline(RegistryError)


# What the model root is read and written through. A test may pass any object with the same
# methods (e.g. one that fails or kills the process before a chosen write).
Store = LocalStore | GcsStore


def open_store(root: str) -> Store:
    """The store for a local directory or a ``gs://bucket/prefix`` root."""
    return GcsStore(root) if root.startswith(GS) else LocalStore(root)
