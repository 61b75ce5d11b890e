"""A model-root store that runs a hook before each of its writes: how push tests inject faults.

Plain module (no pytest): ``test_faults`` also imports it in a child process it SIGKILLs.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable


class FaultyStore:
    """Wraps a store; ``before_write(n, key)`` runs before its n-th write (1-based).

    Writes are ``create``, ``upload_file`` and ``swap`` (LATEST); everything else is the
    wrapped store's. ``keys`` lists the keys written (or about to be), in order.
    """

    def __init__(self, inner: object, before_write: Callable[[int, str], None]) -> None:
        self.inner = inner
        self.before_write = before_write
        self.keys: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def _write(self, key: str) -> None:
        self.keys.append(key)
        self.before_write(len(self.keys), key)

    def create(self, key: str, data: bytes) -> None:
        self._write(key)
        self.inner.create(key, data)

    def upload_file(self, path: str, key: str) -> None:
        self._write(key)
        self.inner.upload_file(path, key)

    def swap(self, key: str, data: bytes, *, expected: str | None) -> None:
        self._write(key)
        self.inner.swap(key, data, expected=expected)


def fail_at(point: int) -> Callable[[int, str], None]:
    """A hook that raises ``OSError`` just before write ``point``."""

    def hook(n: int, key: str) -> None:
        if n == point:
            raise OSError(f"injected storage failure at write {n} ({key})")

    return hook


def kill_at(point: int) -> Callable[[int, str], None]:
    """A hook that SIGKILLs this process just before write ``point``."""

    def hook(n: int, key: str) -> None:
        if n == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook
