"""The blessing gate: absolute thresholds, the strongest peer, no regression, protected slices.

The rule, in words (the same text goes into the README):

1. Thresholds: every configured ``metric >= minimum`` must hold (point values on all targets).
2. Peers: with ``beat_peers``, the candidate must not fall below the strongest peer on any
   compared metric by more than ``peer_tolerance`` (point values; default 0). The peers are
   the simple recommenders a platform team could write in ten lines (``peers``: popularity,
   recent popularity, item-kNN, EASE, relation-kNN, text-kNN), fitted on the train window and
   tuned on the validation window; a model that loses to one of them is not worth shipping,
   however noisy the figures. The paired bootstrap interval of candidate minus that peer is
   written beside each check.
3. No regression (non-inferiority): for each compared metric, a paired bootstrap over users
   gives a two-sided ``confidence`` interval of ``mean(candidate - in service)`` on the same
   users. The candidate passes only if the interval's LOWER bound is >= ``-tolerance``, i.e. the
   data rule out, at that confidence, a drop bigger than the tolerance. The burden of proof is on
   the candidate: an eval set too small to tell refuses the push (and says so), it does not
   wave it through. A refusal is called a ``regression`` only when the whole interval is below
   0 (the candidate is worse); otherwise it is ``inconclusive`` (the interval straddles the
   tolerance: a gain is possible, a drop beyond the tolerance is not ruled out), and the reason
   says which bound decided. Equal models on ~2,000 users give intervals of about +-0.005 on
   recall@50. The model in service is re-ranked on today's catalog (items delisted since it was
   trained are never counted in its lists), as it would serve after push keeps it
   (``components.push.keep``).
4. Protected slices (e.g. ``activity=cold``): a slice is refused only when the drop is both
   material and real: the mean difference is below ``-slice_tolerance`` AND the whole interval is
   below 0. Slices are small, so the non-inferiority rule of (3) would refuse almost every model
   on noise; slices with fewer than ``min_slice_users`` users are reported, not judged, and a
   protected slice with no user at all today says so (protection is never silently off).
5. Infra validation: the exported model must load and serve raw requests in a fresh process.

Blessed = all of the above pass. When nothing was ever pushed (an empty model root), (3) and (4)
are skipped with the reason written. A root that has served a model but whose model in service
cannot be read (LATEST damaged, missing, or naming a missing, incomplete or unloadable version)
is a refusal with that reason: the gate fails closed. Only an audited first-night bootstrap
(``first_night``: who + why, both required; for a first night on a damaged root) judges it on
(1), (2) and (5) alone, and is recorded in the blessing and the pushed manifest. A force-bless
(who + why, both required) blesses a model that failed (1)-(4), for a planned change; it never
overrides (5): a model that cannot serve is never pushed. The verdict and every reason are always
written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from components.evaluate.bootstrap import Interval

NOTHING_IN_SERVICE = "no model in service (nothing was ever pushed): judged on thresholds alone"
NO_EVAL_USERS = (
    "no eval users (nobody with history before the cut-off and a new item after it): "
    "nothing was measured, not blessed"
)


class GateConfigError(ValueError):
    """A gate names a metric that is not measured, or an invalid tolerance or force-bless."""


@dataclasses.dataclass(frozen=True)
class ForceBless:
    """An audited override: who asked and why (both required)."""

    by: str
    reason: str

    def __post_init__(self) -> None:
        if not self.by.strip() or not self.reason.strip():
            raise GateConfigError(
                "force-bless needs both who (--force-bless-by) and why (--force-bless-reason), "
                f"got by={self.by!r} reason={self.reason!r}"
            )


@dataclasses.dataclass(frozen=True)
class FirstNight:
    """An audited first-night bootstrap (``first_night``): who asked and why (both required).

    Judges the candidate without a model in service although the registry has versions whose
    model in service cannot be read (a damaged root being rebuilt, a migration).
    """

    by: str
    reason: str

    def __post_init__(self) -> None:
        if not self.by.strip() or not self.reason.strip():
            raise GateConfigError(
                "a first-night bootstrap needs both who (--first-night-by) and why "
                f"(--first-night-reason), got by={self.by!r} reason={self.reason!r}"
            )


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The candidate against the model in service, re-evaluated on the same users.

    Attributes:
        version: The in-service version.
        headline: Compared metric -> interval of ``candidate - in service`` over all eval users.
        slices: Protected slice -> compared metric -> interval over the slice's users.
    """

    version: str
    headline: Mapping[str, Interval]
    slices: Mapping[str, Mapping[str, Interval]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Blessing:
    """The gate's verdict and every reason for it (all reasons, not only the first).

    Attributes:
        blessed: The model may be pushed.
        gate_passed: The quality gates passed on their own (before any force-bless).
        reasons: One line per check, in the order checked.
        forced: The force-bless applied, if any.
        first_night: The first-night bootstrap applied (no readable model in service), if any.
    """

    blessed: bool
    reasons: tuple[str, ...]
    gate_passed: bool | None = None
    forced: ForceBless | None = None
    first_night: FirstNight | None = None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "blessed": self.blessed,
            "gate_passed": self.blessed if self.gate_passed is None else self.gate_passed,
            "forced": None if self.forced is None else dataclasses.asdict(self.forced),
            "first_night": None
            if self.first_night is None
            else dataclasses.asdict(self.first_night),
            "reasons": list(self.reasons),
        }


def _signed(x: float) -> str:
    return f"{x:+.4f}"


def describe_interval(interval: Interval) -> str:
    """``+0.0012, 95% CI [-0.0030, +0.0051] over 812 users``."""
    return (
        f"{_signed(interval.mean)}, {interval.confidence:.0%} CI "
        f"[{_signed(interval.low)}, {_signed(interval.high)}] over {interval.users} users"
    )


def strongest_peer(peers: Mapping[str, Mapping[str, float]], metric: str) -> str:
    """The peer with the highest ``metric`` (ties: the first by name)."""
    return max(sorted(peers), key=lambda name: peers[name][metric])


def no_regression(interval: Interval, *, tolerance: float) -> bool:
    """Non-inferiority: the interval's lower bound is at or above ``-tolerance``."""
    return interval.low >= -tolerance


def regression_verdict(interval: Interval, *, tolerance: float) -> tuple[bool, str]:
    """``(passed, words)`` of the non-inferiority check, saying which bound decided.

    ``no regression`` (lower bound >= -tolerance), ``regression`` (the whole interval below 0:
    the candidate is worse), else ``inconclusive``: the interval reaches below the tolerance
    but not wholly below 0, so the data neither rule out a drop nor show one.
    """
    if no_regression(interval, tolerance=tolerance):
        return True, f"lower bound {_signed(interval.low)} >= -{tolerance}: no regression"
    if interval.high < 0:
        return False, (
            f"whole interval below 0 (upper bound {_signed(interval.high)}): the candidate is "
            "worse: regression"
        )
    return False, (
        f"lower bound {_signed(interval.low)} < -{tolerance} but upper bound "
        f"{_signed(interval.high)} >= 0: inconclusive on {interval.users} users (a drop beyond "
        "the tolerance is not ruled out; refused because the candidate must show it is not "
        "worse)"
    )


def slice_regression(interval: Interval, *, slice_tolerance: float) -> bool:
    """A protected slice regressed: mean drop beyond ``slice_tolerance`` and CI all below 0."""
    return interval.mean < -slice_tolerance and interval.high < 0


def decide_blessing(
    candidate: Mapping[str, float],
    *,
    thresholds: Mapping[str, float],
    compared: tuple[str, ...],
    tolerance: float,
    peers: Mapping[str, Mapping[str, float]] | None = None,
    peer_tolerance: float = 0.0,
    peer_intervals: Mapping[str, Interval] | None = None,
    comparison: Comparison | None = None,
    in_service_problem: str | None = None,
    in_service_note: str | None = None,
    first_night: FirstNight | None = None,
    protected: Sequence[str] = (),
    slice_users: Mapping[str, int] | None = None,
    slice_tolerance: float = 0.0,
    min_slice_users: int = 0,
    infra: tuple[bool, str] | None = None,
    force: ForceBless | None = None,
    eval_users: int | None = None,
) -> Blessing:
    """Bless ``candidate`` if it meets every check of the module docstring.

    Args:
        candidate: The candidate's metrics (all targets).
        thresholds: Minimum value per metric name (higher is better for every metric here).
        compared: Metrics that must not regress against the model in service nor lose to the
            strongest peer.
        tolerance: Absolute drop allowed before a difference counts as a regression.
        peers: Each peer's metrics on the same users; None (or empty) skips that check.
        peer_tolerance: Absolute shortfall against the strongest peer allowed.
        peer_intervals: Compared metric -> interval of candidate minus the strongest peer on
            that metric (written beside the check), when computed.
        comparison: Bootstrap intervals against the model in service; None when nothing is in
            service or it could not be evaluated.
        in_service_problem: Why a registry that has served a model has none that could be
            compared (damaged LATEST, missing or unloadable version): a refusal, unless
            ``first_night``; the regression checks are skipped either way.
        in_service_note: Written instead of the no-model-in-service line when nothing was
            compared for a reason that is not the registry's (the candidate is unusable).
        first_night: An audited first-night bootstrap: ``in_service_problem`` is reported,
            not refused.
        protected: The protected slices asked for (one absent from the comparison says so).
        slice_users: Users per protected slice (a slice absent here had no users).
        slice_tolerance: Mean drop allowed on a protected slice.
        min_slice_users: Smaller protected slices are reported, not judged.
        infra: ``(ok, detail)`` of the infra validation; None when not run.
        force: An audited force-bless; overrides every check but infra.
        eval_users: Users evaluated; 0 refuses (nothing was measured), None skips the check.

    Raises:
        GateConfigError: a threshold or compared metric is not in ``candidate``, or a negative
            tolerance.
    """
    if tolerance < 0 or slice_tolerance < 0 or peer_tolerance < 0:
        raise GateConfigError(f"tolerances must be >= 0, got {tolerance}, {slice_tolerance}")
    unknown = sorted({*thresholds, *compared} - set(candidate))
    if unknown:
        raise GateConfigError(
            f"gate names unmeasured metrics {unknown}; measured: {sorted(candidate)}"
        )
    passed, reasons = True, []
    if eval_users == 0:
        passed = False
        reasons.append(NO_EVAL_USERS)
    for name, minimum in sorted(thresholds.items()):
        value = candidate[name]
        ok = value >= minimum
        passed &= ok
        reasons.append(f"{name} {value:.4f} {'>=' if ok else '<'} threshold {minimum:.4f}")
    if not thresholds:
        reasons.append("no absolute threshold configured")
    if peers:
        for name in compared:
            best = strongest_peer(peers, name)
            ours, theirs = candidate[name], peers[best][name]
            ok = ours >= theirs - peer_tolerance
            passed &= ok
            relation = ">=" if ok else "<"
            allowed = f" - {peer_tolerance}" if peer_tolerance else ""
            interval = (peer_intervals or {}).get(name)
            detail = f" (candidate - {best}: {describe_interval(interval)})" if interval else ""
            reasons.append(
                f"{name} {ours:.4f} {relation} strongest peer {best} {theirs:.4f}{allowed}{detail}"
            )
    applied = None
    if comparison is None and in_service_problem is not None:
        if first_night is None:
            passed = False
            reasons.append(
                f"{in_service_problem}: refused: the registry has served a model and none can "
                "be compared (the gate fails closed; repair LATEST or roll back, or for a "
                "first night on this root: --first-night-by WHO --first-night-reason WHY)"
            )
        else:
            applied = first_night
            reasons.append(
                f"{in_service_problem}: FIRST-NIGHT BOOTSTRAP by {first_night.by}: "
                f"{first_night.reason}: judged without a model in service"
            )
    elif comparison is None:
        reasons.append(in_service_note or NOTHING_IN_SERVICE)
    else:
        for name in compared:
            interval = comparison.headline[name]
            ok, verdict = regression_verdict(interval, tolerance=tolerance)
            passed &= ok
            reasons.append(
                f"{name} vs in service {comparison.version} (candidate - in service): "
                f"{describe_interval(interval)}; {verdict}"
            )
        for piece in protected:
            if piece not in comparison.slices:
                reasons.append(
                    f"protected slice {piece}: no eval user in this slice today (no such "
                    "value in the data): not judged"
                )
        for piece, intervals in sorted(comparison.slices.items()):
            users = (slice_users or {}).get(piece, 0)
            if users < max(min_slice_users, 1):
                reasons.append(
                    f"protected slice {piece}: {users} users < {min_slice_users}; not judged"
                )
                continue
            for name in compared:
                interval = intervals[name]
                bad = slice_regression(interval, slice_tolerance=slice_tolerance)
                passed &= not bad
                reasons.append(
                    f"protected slice {piece} {name} vs in service: {describe_interval(interval)}"
                    f"; {'regression beyond' if bad else 'within'} tolerance {slice_tolerance}"
                )
    gate_passed = bool(passed)
    if infra is not None:
        ok, detail = infra
        reasons.append(f"infra validation {'passed' if ok else 'FAILED'}: {detail}")
    infra_ok = infra is None or infra[0]
    if force is not None:
        reasons.append(
            f"FORCE-BLESSED by {force.by}: {force.reason}"
            + ("" if infra_ok else " (refused: infra validation failed; never overridden)")
        )
    blessed = infra_ok and (gate_passed or force is not None)
    return Blessing(
        blessed=blessed,
        reasons=tuple(reasons),
        gate_passed=gate_passed,
        forced=force if force is not None and infra_ok else None,
        first_night=applied,
    )
