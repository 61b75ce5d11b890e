"""Paired bootstrap over users: a confidence interval for the mean difference of two models.

Both models are scored on the same users, so the unit of resampling is the user and each
resample keeps a user's two scores together (paired): the per-user difference is resampled, which
removes the between-user variance that an unpaired comparison would carry.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Resample rows drawn per chunk: bounds memory to chunk x users int64 indices.
CHUNK = 100


@dataclasses.dataclass(frozen=True)
class Interval:
    """A bootstrap estimate of ``mean(a - b)``.

    Attributes:
        mean: The observed mean difference.
        low: Lower bound of the percentile interval.
        high: Upper bound.
        confidence: Two-sided coverage, e.g. 0.95.
        users: Users resampled.
    """

    mean: float
    low: float
    high: float
    confidence: float
    users: int

    def as_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return dataclasses.asdict(self)


def resample_means(
    values: np.ndarray, *, resamples: int, seed: int, chunk: int = CHUNK
) -> np.ndarray:
    """Means of ``values`` ``[users, m]`` over bootstrap resamples of its rows.

    Every column uses the same resampled rows, so metrics stay paired with each other too.

    Returns:
        ``[resamples, m]``.

    Raises:
        ValueError: no rows, or ``resamples < 1``.
    """
    if values.ndim != 2 or values.shape[0] == 0:
        raise ValueError(f"need a [users, metrics] array with users > 0, got {values.shape}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    users = values.shape[0]
    out = np.empty((resamples, values.shape[1]), dtype=np.float64)
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        picks = rng.integers(0, users, size=(rows, users))
        out[start : start + rows] = values[picks].mean(axis=1)
    return out


def paired_intervals(
    ours: dict[str, np.ndarray],
    theirs: dict[str, np.ndarray],
    names: tuple[str, ...],
    *,
    resamples: int,
    seed: int,
    confidence: float,
) -> dict[str, Interval]:
    """Percentile intervals of ``mean(ours[m] - theirs[m])`` for each metric ``m`` in ``names``.

    Args:
        ours: Per-user values ``[users]`` by metric (the candidate).
        theirs: The same users, in the same order (e.g. the model in service).
        names: Metrics to compare.
        resamples: Bootstrap resamples (e.g. 1000).
        seed: Seeds the resampling (a run is reproducible).
        confidence: Two-sided coverage in (0, 1).

    Raises:
        ValueError: users differ in number, there are none, or confidence is outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    diffs = np.stack([ours[n] - theirs[n] for n in names], axis=1)
    means = resample_means(diffs, resamples=resamples, seed=seed)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail], axis=0)
    return {
        n: Interval(
            mean=float(diffs[:, i].mean()),
            low=float(low[i]),
            high=float(high[i]),
            confidence=confidence,
            users=diffs.shape[0],
        )
        for i, n in enumerate(names)
    }
