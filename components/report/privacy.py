"""k-anonymity for the page: a cell counting fewer than k users is never shown (pure).

A "cell" is anything the page reports about a group of users: a cluster, a slice, a bucket of a
histogram, one value in a persona (a category, a word, a brand, counted in distinct users).
Suppressed cells are kept as markers, so the page can say that something was hidden and why.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping


@dataclasses.dataclass(frozen=True)
class Suppressed:
    """A cell hidden because fewer than ``k`` users are in it (the count itself is not kept)."""

    k: int

    def __str__(self) -> str:
        return f"suppressed (<{self.k} users)"


def is_shown(users: int, *, k: int) -> bool:
    """True when a cell of ``users`` users may be shown (``users >= k``)."""
    return users >= k


def suppress_counts(counts: Mapping[Hashable, int], *, k: int) -> dict[Hashable, int | Suppressed]:
    """Each count, or a ``Suppressed`` marker in its place when it is below ``k``.

    Zero counts are kept: an empty cell says nothing about anybody.

    Example:
        ``suppress_counts({"a": 12, "b": 3, "c": 0}, k=10)`` ->
        ``{"a": 12, "b": Suppressed(10), "c": 0}``.
    """
    return {key: n if n == 0 or is_shown(n, k=k) else Suppressed(k) for key, n in counts.items()}


def count_suppressed(cells: Mapping[Hashable, object]) -> int:
    """How many cells of ``cells`` are suppressed."""
    return sum(isinstance(v, Suppressed) for v in cells.values())
