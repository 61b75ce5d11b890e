"""Ranking metrics over top-K lists (pure numpy).

Conventions (the same for every model and baseline in a run): Recall@K = hits in the top K /
number of targets, averaged over users; NDCG@K is binary with the ideal DCG over
min(targets, K); MRR uses the first hit within the longest list (0 when none); hit rate is the
share of users with at least one hit in the top K; coverage@K is the share of the catalog that
appears in anybody's top K.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_KS = (10, 20, 50, 100)


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


def ranking_metrics(
    ranked: Sequence[Sequence[str]],
    targets: Sequence[set[str]],
    *,
    catalog_size: int,
    ks: Sequence[int] = DEFAULT_KS,
) -> dict[str, float]:
    """Recall, NDCG, hit rate and coverage at each K, and MRR.

    Args:
        ranked: Per user, recommended item ids best first (history already removed).
        targets: Per user, the non-empty set of items that count as hits.
        catalog_size: Items that could have been recommended (coverage denominator).
        ks: Cut-offs.

    Returns:
        ``{"recall@10": ..., "ndcg@10": ..., "hit_rate@10": ..., "coverage@10": ..., "mrr": ...,
        "users": n}``; all 0 when there are no users.
    """
    if len(ranked) != len(targets):
        raise ValueError(f"{len(ranked)} ranked lists but {len(targets)} target sets")
    if any(not t for t in targets):
        raise ValueError("every evaluated user needs at least one target")
    depth = max(ks)
    users = len(ranked)
    out: dict[str, float] = {"users": float(users)}
    if users == 0:
        out.update(
            {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "hit_rate", "coverage")}
        )
        out["mrr"] = 0.0
        return out
    hits = hit_matrix(ranked, targets, depth=depth)
    n_targets = np.array([len(t) for t in targets], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, depth + 2))
    for k in ks:
        top = hits[:, :k]
        out[f"recall@{k}"] = float(np.mean(top.sum(axis=1) / n_targets))
        ideal = np.array([discounts[: int(min(n, k))].sum() for n in n_targets])
        out[f"ndcg@{k}"] = float(np.mean((top * discounts[:k]).sum(axis=1) / ideal))
        out[f"hit_rate@{k}"] = float(np.mean(top.any(axis=1)))
        shown = {item for items in ranked for item in items[:k]}
        out[f"coverage@{k}"] = len(shown) / catalog_size if catalog_size else 0.0
    first = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    out["mrr"] = float(np.mean(np.where(first > 0, 1.0 / np.maximum(first, 1), 0.0)))
    return out
