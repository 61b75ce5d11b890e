"""Ranking metrics over top-K lists (pure numpy).

Conventions (the same for every model and baseline in a run): Recall@K = hits in the top K /
number of targets, averaged over users; NDCG@K is binary with the ideal DCG over
min(targets, K); MRR uses the first hit within the longest list (0 when none); hit rate is the
share of users with at least one hit in the top K; coverage@K is the share of the catalog that
appears in anybody's top K (a property of the whole list set, so it has no per-user value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_KS = (10, 20, 50, 100)
PER_USER = ("recall", "ndcg", "hit_rate")
MRR = "mrr"
USERS = "users"


def metric_names(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """The metric names ``ranking_metrics`` measures for ``ks`` (``users`` aside), sorted."""
    names = [f"{name}@{k}" for k in ks for name in (*PER_USER, "coverage")]
    return sorted([*names, MRR])


def hit_matrix(
    ranked: Sequence[Sequence[str]], targets: Sequence[set[str]], *, depth: int
) -> np.ndarray:
    """``[users, depth]`` bool: whether the item at each rank is one of the user's targets.

    Lists shorter than ``depth`` count as misses in the missing places.
    """
    hits = np.zeros((len(ranked), depth), dtype=bool)
    for u, (items, wanted) in enumerate(zip(ranked, targets, strict=True)):
        for j, item in enumerate(items[:depth]):
            hits[u, j] = item in wanted
    return hits


def per_user_metrics(
    ranked: Sequence[Sequence[str]], targets: Sequence[set[str]], *, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Recall, NDCG and hit rate at each K, and reciprocal rank, per user.

    Args:
        ranked: Per user, recommended item ids best first (history already removed).
        targets: Per user, the non-empty set of items that count as hits.
        ks: Cut-offs.

    Returns:
        ``{"recall@10": [users] float64, ..., "mrr": [users]}``; their means are the metrics.

    Raises:
        ValueError: the lists and target sets differ in number, or a target set is empty.
    """
    if len(ranked) != len(targets):
        raise ValueError(f"{len(ranked)} ranked lists but {len(targets)} target sets")
    if any(not t for t in targets):
        raise ValueError("every evaluated user needs at least one target")
    depth = max(ks)
    hits = hit_matrix(ranked, targets, depth=depth)
    n_targets = np.array([len(t) for t in targets], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    ideal_cum = np.cumsum(discounts)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        top = hits[:, :k]
        out[f"recall@{k}"] = top.sum(axis=1) / n_targets if len(ranked) else np.zeros(0)
        ideal = ideal_cum[np.minimum(n_targets, k).astype(int) - 1] if len(ranked) else 1.0
        out[f"ndcg@{k}"] = (top * discounts[:k]).sum(axis=1) / ideal
        out[f"hit_rate@{k}"] = top.any(axis=1).astype(np.float64)
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    out[MRR] = np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)
    return out


def coverage(ranked: Sequence[Sequence[str]], *, catalog_size: int, k: int) -> float:
    """Share of the catalog that appears in anybody's top ``k``."""
    shown = {item for items in ranked for item in items[:k]}
    return len(shown) / catalog_size if catalog_size else 0.0


def ranking_metrics(
    ranked: Sequence[Sequence[str]],
    targets: Sequence[set[str]],
    *,
    catalog_size: int,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Recall, NDCG, hit rate and coverage at each K, and MRR, averaged over users.

    Args:
        ranked: Per user, recommended item ids best first (history already removed).
        targets: Per user, the non-empty set of items that count as hits.
        catalog_size: Items that could have been recommended (coverage denominator).
        ks: Cut-offs.

    Returns:
        ``{"recall@10": ..., "ndcg@10": ..., "hit_rate@10": ..., "coverage@10": ..., "mrr": ...,
        "users": n}``; all 0 when there are no users.
    """
    per_user = per_user_metrics(ranked, targets, ks=ks)
    out: dict[str, float] = {USERS: float(len(ranked))}
    for k in ks:
        for name in PER_USER:
            values = per_user[f"{name}@{k}"]
            out[f"{name}@{k}"] = float(values.mean()) if len(values) else 0.0
        out[f"coverage@{k}"] = coverage(ranked, catalog_size=catalog_size, k=k) if ranked else 0.0
    out[MRR] = float(per_user[MRR].mean()) if len(ranked) else 0.0
    return out
