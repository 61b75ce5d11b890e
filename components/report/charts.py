"""What the page's charts plot, computed from the run's documents (pure: no plotting here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class QuarantineMatrix:
    """Quarantined rows per table and reason: ``counts[t][r]`` for ``tables[t]``, ``reasons[r]``."""

    tables: list[str]
    reasons: list[str]
    counts: np.ndarray

    @property
    def total(self) -> int:
        """All quarantined rows."""
        return int(self.counts.sum())


def quarantine_matrix(manifest: Mapping) -> QuarantineMatrix:
    """Quarantine counts from the ingest manifest (``tables.<t>.by_reason``), reasons by total."""
    tables = list(manifest.get("tables", {}))
    totals: dict[str, int] = {}
    for t in tables:
        for reason, n in manifest["tables"][t].get("by_reason", {}).items():
            totals[reason] = totals.get(reason, 0) + int(n)
    reasons = sorted(totals, key=lambda r: (-totals[r], r))
    counts = np.zeros((len(tables), len(reasons)), dtype=np.int64)
    for i, t in enumerate(tables):
        for j, r in enumerate(reasons):
            counts[i, j] = int(manifest["tables"][t].get("by_reason", {}).get(r, 0))
    return QuarantineMatrix(tables, reasons, counts)


@dataclasses.dataclass(frozen=True)
class PopularityCurve:
    """Items ranked by interactions: ``counts`` descending and the cumulative share they cover."""

    counts: np.ndarray
    cumulative_share: np.ndarray

    def head_share(self, fraction: float) -> float:
        """Share of interactions on the top ``fraction`` of items (at least one item)."""
        if not len(self.counts):
            return 0.0
        n = max(1, int(np.ceil(fraction * len(self.counts))))
        return float(self.cumulative_share[n - 1])


def popularity_curve(counts: Sequence[int], *, catalog_size: int | None = None) -> PopularityCurve:
    """The popularity curve of ``counts`` (interactions per item).

    Catalog items never touched count as zeros when ``catalog_size`` is given.
    """
    arr = np.sort(np.asarray(counts, dtype=np.int64))[::-1]
    if catalog_size is not None and catalog_size > len(arr):
        arr = np.concatenate([arr, np.zeros(catalog_size - len(arr), dtype=np.int64)])
    total = arr.sum()
    share = np.cumsum(arr) / total if total else np.zeros(len(arr))
    return PopularityCurve(arr, share)


@dataclasses.dataclass(frozen=True)
class Series:
    """One curve per epoch: ``train`` values and the validation ones (or None)."""

    name: str
    train: list[float]
    validation: list[float] | None


def history_series(history: Mapping[str, Sequence[float]]) -> tuple[list[Series], list[Series]]:
    """The trainer's ``history.json`` as ``(losses, metrics)``, train paired with ``val_``.

    A curve that is zero at every epoch (e.g. no regularization) is left out; ``total_loss``
    is left out when it equals ``loss``.
    """
    losses, metrics = [], []
    for name, values in history.items():
        if name.startswith("val_"):
            continue
        train = [float(v) for v in values]
        if not any(train):
            continue
        if name == "total_loss" and train == [float(v) for v in history.get("loss", [])]:
            continue
        val = history.get(f"val_{name}")
        series = Series(name, train, None if val is None else [float(v) for v in val])
        (losses if "loss" in name else metrics).append(series)
    return losses, metrics


def daily_counts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events per UTC day, every day between the first and last present (zeros included).

    Args:
        days: ``[events]`` ``datetime64[D]`` (or anything numpy casts to it).

    Returns:
        ``(days [d] datetime64[D], counts [d])``.
    """
    days = np.asarray(days).astype("datetime64[D]")
    if not len(days):
        return days, np.zeros(0, dtype=np.int64)
    start, end = days.min(), days.max()
    span = np.arange(start, end + np.timedelta64(1, "D"), dtype="datetime64[D]")
    counts = np.bincount((days - start).astype(np.int64), minlength=len(span))
    return span, counts
