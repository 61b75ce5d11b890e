"""Configuration of the evaluate stage."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

from components.evaluate.metrics import DEFAULT_KS


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Cut-offs, gate thresholds and tolerance.

    Attributes:
        ks: Ranking cut-offs.
        thresholds: Minimum per metric (``{"recall@50": 0.05}``).
        compared: Metrics that must not regress against the model in service.
        tolerance: Absolute drop allowed before it counts as a regression.
        beat_baseline: The candidate must not lose to most-popular on the compared metrics.
        batch_size: Users per serving request.
    """

    ks: tuple[int, ...] = DEFAULT_KS
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    compared: tuple[str, ...] = ("recall@50", "ndcg@50")
    tolerance: float = 0.005
    beat_baseline: bool = True
    batch_size: int = 512

    def __post_init__(self) -> None:
        if not self.ks or min(self.ks) < 1:
            raise ValueError(f"EvaluateConfig.ks must be positive cut-offs, got {self.ks}")
        if self.tolerance < 0:
            raise ValueError(f"EvaluateConfig.tolerance must be >= 0, got {self.tolerance}")

    @classmethod
    def from_json(cls, thresholds_json: str, **fields: object) -> EvaluateConfig:
        """Build from a JSON object of thresholds (as a pipeline parameter carries them)."""
        try:
            thresholds = json.loads(thresholds_json or "{}")
        except json.JSONDecodeError as e:
            raise ValueError(f"thresholds are not a JSON object: {thresholds_json!r}") from e
        if not isinstance(thresholds, dict):
            raise ValueError(f"thresholds are not a JSON object: {thresholds_json!r}")
        return cls(thresholds={str(k): float(v) for k, v in thresholds.items()}, **fields)
