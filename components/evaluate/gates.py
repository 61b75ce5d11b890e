"""The blessing gate: absolute thresholds and no regression against the model in service."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

NOTHING_IN_SERVICE = "no model in service: judged on thresholds alone"


class GateConfigError(ValueError):
    """A gate names a metric that is not measured, or an invalid tolerance."""


@dataclasses.dataclass(frozen=True)
class Blessing:
    """The gate's verdict and every reason for it (all reasons, not only the first)."""

    blessed: bool
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"blessed": self.blessed, "reasons": list(self.reasons)}


def decide_blessing(
    candidate: Mapping[str, float],
    *,
    thresholds: Mapping[str, float],
    in_service: Mapping[str, float] | None,
    compared: tuple[str, ...],
    tolerance: float,
    baseline: Mapping[str, float] | None = None,
) -> Blessing:
    """Bless ``candidate`` if it meets every threshold and does not regress.

    Args:
        candidate: The candidate's metrics.
        thresholds: Minimum value per metric name (higher is better for every metric here).
        in_service: Metrics of the model in service on the same window, or None.
        compared: Metrics that must not regress against ``in_service``.
        tolerance: Absolute drop allowed before a difference counts as a regression.
        baseline: Metrics of a simple baseline (most-popular) on the same window; when given,
            the candidate must not fall below it on any ``compared`` metric (no tolerance).

    Raises:
        GateConfigError: a threshold or compared metric is not in ``candidate``, or a negative
            tolerance.
    """
    if tolerance < 0:
        raise GateConfigError(f"tolerance must be >= 0, got {tolerance}")
    unknown = sorted({*thresholds, *compared} - set(candidate))
    if unknown:
        raise GateConfigError(
            f"gate names unmeasured metrics {unknown}; measured: {sorted(candidate)}"
        )
    passed, reasons = True, []
    for name, minimum in sorted(thresholds.items()):
        value = candidate[name]
        ok = value >= minimum
        passed &= ok
        reasons.append(f"{name} {value:.4f} {'>=' if ok else '<'} threshold {minimum:.4f}")
    if not thresholds:
        reasons.append("no absolute threshold configured")
    if baseline is not None:
        for name in compared:
            ok = candidate[name] >= baseline[name]
            passed &= ok
            relation = ">=" if ok else "<"
            ours, theirs = candidate[name], baseline[name]
            reasons.append(f"{name} {ours:.4f} {relation} most-popular baseline {theirs:.4f}")
    if in_service is None:
        reasons.append(NOTHING_IN_SERVICE)
    else:
        for name in compared:
            ours, theirs = candidate[name], in_service.get(name)
            if theirs is None:
                reasons.append(f"{name}: the model in service has no such metric; not compared")
                continue
            ok = ours >= theirs - tolerance
            passed &= ok
            verdict = "no regression" if ok else "regression"
            reasons.append(
                f"{name} {ours:.4f} vs in service {theirs:.4f} (tolerance {tolerance}): {verdict}"
            )
    return Blessing(blessed=bool(passed), reasons=tuple(reasons))
