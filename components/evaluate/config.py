"""Configuration of the evaluate stage."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from typing import ClassVar

from components.evaluate.gates import FirstNight, ForceBless, GateConfigError
from components.evaluate.slices import DIMENSION_VALUES
from components.ranking_metrics import DEFAULT_KS, metric_names

SLICE_DIMENSIONS = tuple(DIMENSION_VALUES)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Cut-offs, slices, gate thresholds and tolerances (see ``gates`` for the rule).

    Attributes:
        ks: Ranking cut-offs.
        thresholds: Minimum per metric (``{"recall@50": 0.05}``), on all targets.
        compared: Metrics that must not regress against the model in service (nor lose to
            most-popular).
        tolerance: Absolute drop the non-inferiority check allows (lower CI bound >= -tolerance).
        beat_peers: The candidate must not lose to the strongest peer (``peers``: the simple
            recommenders fitted on the train window, each tuned on validation) on any compared
            metric, by more than ``peer_tolerance``.
        peer_tolerance: Absolute shortfall against the strongest peer the gate allows.
        selection_metric: The validation-window figure each peer's own setting is chosen by
            (train chooses the candidate's epochs by the same kind of figure).
        protected_slices: Slices (``"activity=cold"``) that must not regress beyond
            ``slice_tolerance``.
        slice_tolerance: Mean drop allowed on a protected slice.
        min_slice_users: Protected slices with fewer users are reported, not judged.
        bootstrap_resamples: Paired bootstrap resamples over users.
        bootstrap_seed: Seeds the bootstrap.
        confidence: Two-sided coverage of the bootstrap intervals.
        cold_max: Users with at most this many train-window events are ``cold``.
        heavy_min: Users with at least this many are ``heavy``; between is ``warm``.
        infra_requests: Raw requests served in the fresh-process infra validation (0: skip).
        force_bless_by: Who forces the blessing (with ``force_bless_reason``; both or neither).
        force_bless_reason: Why.
        first_night_by: Who asks for a first-night bootstrap: judge the candidate without a
            model in service although the registry has served one that cannot be read (with
            ``first_night_reason``; both or neither). Never needed on an empty root.
        first_night_reason: Why.
        batch_size: Users per serving request.
        max_users: Users evaluated at most: a fixed sample (smallest CRC-32 of the id) of the
            users with eval-window events, the same for every model; 0 evaluates all. Bounds
            the stage's memory and time on large data (10M events: 1M users).
    """

    ks: tuple[int, ...] = DEFAULT_KS
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    compared: tuple[str, ...] = ("recall@50", "ndcg@50")
    tolerance: float = 0.005
    beat_peers: bool = True
    peer_tolerance: float = 0.0
    selection_metric: str = "recall@20"
    protected_slices: tuple[str, ...] = ("activity=cold",)
    slice_tolerance: float = 0.02
    min_slice_users: int = 30
    bootstrap_resamples: int = 1000
    bootstrap_seed: int = 7
    confidence: float = 0.95
    cold_max: int = 5
    heavy_min: int = 50
    infra_requests: int = 32
    force_bless_by: str = ""
    force_bless_reason: str = ""
    first_night_by: str = ""
    first_night_reason: str = ""
    batch_size: int = 512
    max_users: int = 100_000

    def __post_init__(self) -> None:
        if not self.ks or min(self.ks) < 1:
            raise GateConfigError(f"EvaluateConfig.ks must be positive cut-offs, got {self.ks}")
        if self.tolerance < 0 or self.slice_tolerance < 0 or self.peer_tolerance < 0:
            raise GateConfigError(
                f"EvaluateConfig tolerances must be >= 0, got {self.tolerance}, "
                f"{self.slice_tolerance}"
            )
        if not 0 < self.confidence < 1:
            raise GateConfigError(f"EvaluateConfig.confidence must be in (0, 1): {self.confidence}")
        if self.bootstrap_resamples < 1:
            raise GateConfigError(
                f"EvaluateConfig.bootstrap_resamples must be >= 1: {self.bootstrap_resamples}"
            )
        if self.max_users < 0:
            raise GateConfigError(f"EvaluateConfig.max_users must be >= 0: {self.max_users}")
        if not 0 <= self.cold_max < self.heavy_min:
            raise GateConfigError(
                f"EvaluateConfig needs 0 <= cold_max < heavy_min, got {self.cold_max}, "
                f"{self.heavy_min}"
            )
        measured = metric_names(self.ks)
        for what, names in (("threshold", sorted(self.thresholds)), ("compared", self.compared)):
            unknown = [n for n in names if n not in measured]
            if unknown:
                raise GateConfigError(
                    f"{what} metric(s) {unknown} are not measured; measured with ks "
                    f"{list(self.ks)}: {', '.join(measured)}"
                )
        if not self.compared:
            raise GateConfigError("EvaluateConfig.compared names no metric")
        for piece in self.protected_slices:
            dimension, sep, value = piece.partition("=")
            if not sep or not value or dimension not in SLICE_DIMENSIONS:
                raise GateConfigError(
                    f"protected slice {piece!r} is not '<dimension>=<value>' with dimension in "
                    f"{SLICE_DIMENSIONS}"
                )
            values = DIMENSION_VALUES[dimension]
            if values is not None and value not in values:
                raise GateConfigError(
                    f"protected slice {piece!r}: {dimension} is one of {list(values)}, not "
                    f"{value!r} (a slice that does not exist would switch protection off)"
                )
        for what in ("force_bless", "first_night"):
            by, why = getattr(self, f"{what}_by"), getattr(self, f"{what}_reason")
            if bool(by.strip()) != bool(why.strip()):
                flag = what.replace("_", "-")
                raise GateConfigError(
                    f"{flag} needs both who (--{flag}-by) and why (--{flag}-reason), got "
                    f"by={by!r} reason={why!r}"
                )

    @property
    def force(self) -> ForceBless | None:
        """The audited force-bless, when asked for."""
        if not self.force_bless_by.strip():
            return None
        return ForceBless(by=self.force_bless_by.strip(), reason=self.force_bless_reason.strip())

    @property
    def first_night(self) -> FirstNight | None:
        """The audited first-night bootstrap, when asked for."""
        if not self.first_night_by.strip():
            return None
        return FirstNight(by=self.first_night_by.strip(), reason=self.first_night_reason.strip())

    @classmethod
    def from_json(
        cls, thresholds_json: str, *, protected_slices: str | None = None, **fields: object
    ) -> EvaluateConfig:
        """Build from pipeline parameters (thresholds JSON, protected slices comma-separated).

        ``protected_slices`` None keeps the default; "" protects none. Other fields as is.

        Raises:
            GateConfigError: thresholds are not a JSON object of numbers, or a field is invalid.
        """
        try:
            thresholds = json.loads(thresholds_json or "{}")
        except json.JSONDecodeError as e:
            raise GateConfigError(f"thresholds are not a JSON object: {thresholds_json!r}") from e
        if not isinstance(thresholds, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in thresholds.values()
        ):
            raise GateConfigError(
                f"thresholds are not a JSON object of numbers: {thresholds_json!r}"
            )
        if protected_slices is not None:
            fields["protected_slices"] = tuple(
                s.strip() for s in protected_slices.split(",") if s.strip()
            )
        return cls(thresholds={str(k): float(v) for k, v in thresholds.items()}, **fields)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class GateOptions:
    """The gate's options as they travel: pipeline run parameters, kfp inputs, CLI flags.

    Declared once, with one set of defaults (``EvaluateConfig``'s): ``pipeline.py`` takes its
    run parameters' defaults and its ``run`` flags from here, evaluate's kfp wrapper and CLI
    pass them on as one value, and ``config`` turns them into the ``EvaluateConfig`` they mean
    (checked there). kfp reads a pipeline's and a component's parameters from their Python
    signatures, so those two list the names again; their defaults come from here.

    Attributes:
        thresholds: Minimum per metric on all targets, a JSON object (``'{"recall@50": 0.05}'``).
        tolerance: No regression against the model in service: the lower bound of the paired
            bootstrap interval of (candidate - in service) must be >= -tolerance.
        beat_peers: The candidate must not lose to the strongest peer on the compared metrics.
        protected_slices: Comma-separated ``dimension=value`` slices ("" protects none).
        slice_tolerance: A protected slice fails past this mean drop (and a CI all below 0).
        force_bless_by: Who forces the blessing of a model that fails the gate (audited).
        force_bless_reason: Why (both or neither).
        first_night_by: Who asks for a first-night bootstrap on a root whose model in service
            cannot be read (audited).
        first_night_reason: Why (both or neither).
        max_users: Users evaluated at most, a fixed CRC-32 sample (0: all).
    """

    thresholds: str = "{}"  # EvaluateConfig's: no absolute threshold
    tolerance: float = EvaluateConfig.tolerance
    beat_peers: bool = EvaluateConfig.beat_peers
    protected_slices: str = ",".join(EvaluateConfig.protected_slices)
    slice_tolerance: float = EvaluateConfig.slice_tolerance
    force_bless_by: str = EvaluateConfig.force_bless_by
    force_bless_reason: str = EvaluateConfig.force_bless_reason
    first_night_by: str = EvaluateConfig.first_night_by
    first_night_reason: str = EvaluateConfig.first_night_reason
    max_users: int = EvaluateConfig.max_users

    HELP: ClassVar[Mapping[str, str]] = {
        "thresholds": "minimum per metric on all targets, JSON, e.g. '{\"recall@50\": 0.05}'",
        "tolerance": "no-regression rule: the lower bound of the bootstrap interval of "
        "(candidate - model in service) must be >= -TOLERANCE on every compared metric",
        "beat_peers": "the candidate must not lose to the strongest peer (most-popular, "
        "recent-popular, item-kNN, EASE, relation-kNN, text-kNN, each tuned on the validation "
        "window) on any compared metric",
        "protected_slices": "comma-separated slices (dimension=value, e.g. "
        "activity=cold,has_social=no) that must not regress against the model in service; "
        "'' protects none",
        "slice_tolerance": "a protected slice fails when its mean drop exceeds this and its "
        "whole interval is below 0",
        "force_bless_by": "who forces the blessing of a model that fails the gate (audited in "
        "the blessing and the pushed manifest; never overrides infra validation); needs "
        "--force-bless-reason",
        "force_bless_reason": "why the blessing is forced (with --force-bless-by)",
        "first_night_by": "who asks for a first-night bootstrap: judge without a model in "
        "service although the model root has served one that cannot be read (a damaged "
        "LATEST, a missing version); audited like a force-bless; needs --first-night-reason",
        "first_night_reason": "why (with --first-night-by)",
        "max_users": "users evaluated at most: a fixed sample, the smallest CRC-32 of the id "
        "(0 = all)",
    }

    def config(self, **fields: object) -> EvaluateConfig:
        """The ``EvaluateConfig`` these options mean (``fields``: its other settings).

        Raises:
            GateConfigError: an option is invalid (bad thresholds JSON, unknown slice, ...).
        """
        return EvaluateConfig.from_json(
            self.thresholds,
            protected_slices=self.protected_slices,
            tolerance=self.tolerance,
            beat_peers=self.beat_peers,
            slice_tolerance=self.slice_tolerance,
            force_bless_by=self.force_bless_by,
            force_bless_reason=self.force_bless_reason,
            first_night_by=self.first_night_by,
            first_night_reason=self.first_night_reason,
            max_users=self.max_users,
            **fields,
        )

    @classmethod
    def add_arguments(cls, parser: argparse._ActionsContainer) -> None:
        """One flag per option (``--max-users``, ``--beat-peers/--no-beat-peers``, ...)."""
        for field in dataclasses.fields(cls):
            default = field.default
            if isinstance(default, bool):
                parser.add_argument(
                    _flag(field.name),
                    action=argparse.BooleanOptionalAction,
                    default=default,
                    help=cls.HELP[field.name],
                )
            else:
                parser.add_argument(
                    _flag(field.name),
                    type=type(default),
                    default=default,
                    help=f"{cls.HELP[field.name]} (default: %(default)s)",
                )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GateOptions:
        """The options ``add_arguments``' flags parsed into."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
