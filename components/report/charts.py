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
class TableQuarantine:
    """One table's share of the quarantine and its most frequent reason."""

    table: str
    read: int
    quarantined: int
    reason: str | None
    reason_rows: int


def quarantine_breakdown(manifest: Mapping) -> list[TableQuarantine]:
    """Tables with quarantined rows, most first, each with its dominant reason (ties: by name)."""
    out = []
    for name, t in manifest.get("tables", {}).items():
        quarantined = int(t.get("quarantined", 0))
        if not quarantined:
            continue
        reasons = t.get("by_reason") or {}
        reason = min(reasons, key=lambda r: (-reasons[r], r)) if reasons else None
        rows = int(reasons[reason]) if reason else 0
        out.append(TableQuarantine(name, int(t.get("read", 0)), quarantined, reason, rows))
    return sorted(out, key=lambda q: (-q.quarantined, q.table))


@dataclasses.dataclass(frozen=True)
class PopularityCurve:
    """Items ranked by interactions: ``counts`` descending and the cumulative share they cover."""

    counts: np.ndarray
    cumulative_share: np.ndarray

    @property
    def interacted(self) -> int:
        """Items with at least one interaction."""
        return int((self.counts > 0).sum())

    def head_share(self, fraction: float) -> float:
        """Share of interactions on the top ``fraction`` of items (at least one item)."""
        if not len(self.counts):
            return 0.0
        n = max(1, int(np.ceil(fraction * len(self.counts))))
        return float(self.cumulative_share[n - 1])

    def interacted_head_share(self, fraction: float) -> float:
        """Share of interactions on the top ``fraction`` of the items that have any.

        Over the whole catalog the figure says nothing once fewer than ``fraction`` of the items
        have an interaction (it is then 100%); over the interacted items it measures the skew.
        """
        n = self.interacted
        if not n:
            return 0.0
        return float(self.cumulative_share[max(1, int(np.ceil(fraction * n))) - 1])


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
    is left out when it equals ``loss``; the validation-window ranking metrics
    (``validation_<metric>``, see ``validation_series``) and entries that are not one number
    per epoch too.
    """
    losses, metrics = [], []
    for name, values in history.items():
        if name.startswith(("val_", VALIDATION_PREFIX)) or not _numbers(values):
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


def _numbers(values: object) -> bool:
    return isinstance(values, Sequence) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


# The validation-window metrics drawn per epoch, when the trainer recorded them: as
# ``validation_<metric>`` curves (one number per epoch of the selection fit), or, from trainers
# before 2026-12-02, as one ``validation`` list of metric dicts.
VALIDATION_METRICS = ("recall@20", "ndcg@20")
VALIDATION_PREFIX = "validation_"


def validation_series(history: Mapping[str, object]) -> list[Series]:
    """The validation-window ranking metrics per epoch as validation-only curves."""
    curves = {
        name[len(VALIDATION_PREFIX) :]: [float(v) for v in values]
        for name, values in history.items()
        if name.startswith(VALIDATION_PREFIX) and _numbers(values) and values
    }
    epochs = history.get("validation")
    if not curves and isinstance(epochs, Sequence) and epochs and isinstance(epochs[0], Mapping):
        curves = {
            m: [float(e.get(m, np.nan)) for e in epochs]
            for m in VALIDATION_METRICS
            if any(m in e for e in epochs)
        }
    shown = [m for m in VALIDATION_METRICS if m in curves]
    shown += [m for m in curves if m not in shown]
    return [Series(m, [], curves[m]) for m in shown]


# Train and validation curves farther apart than this factor get an axis each.
OWN_AXIS_RATIO = 3.0


def level_ratio(series: Series) -> float | None:
    """How many times the validation curve's level is the train curve's (medians), or None."""
    if not series.train or not series.validation:
        return None
    train, val = np.median(np.abs(series.train)), np.median(np.abs(series.validation))
    if train == 0 or val == 0:
        return None
    return float(val / train)


def needs_own_axis(series: Series) -> bool:
    """Whether validation and train differ by more than ``OWN_AXIS_RATIO`` either way."""
    ratio = level_ratio(series)
    return ratio is not None and max(ratio, 1 / ratio) > OWN_AXIS_RATIO


def label_tiers(
    positions: Sequence[float], *, span: float, widths: Sequence[float] | None = None
) -> list[int]:
    """A vertical tier per label so that no two labels on one tier overlap.

    Args:
        positions: Where each label starts (any order, any unit).
        span: The axis length in that unit.
        widths: Each label's width as a share of ``span`` (default 0.12 each).

    Returns:
        Per label its tier, 0 the top line.
    """
    widths = widths if widths is not None else [0.12] * len(positions)
    order = sorted(range(len(positions)), key=lambda i: positions[i])
    tiers = [0] * len(positions)
    ends: dict[int, float] = {}  # tier -> where its last label ends
    for i in order:
        tier = 0
        while tier in ends and positions[i] < ends[tier]:
            tier += 1
        tiers[i] = tier
        ends[tier] = positions[i] + widths[i] * span
    return tiers


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
