"""Whole-catalog rankings from the serving model's top-K, completed from its embeddings.

The serving signature returns a fixed top-K (100 today). Once a user's seen items are removed,
fewer than K remain, so recall@100 would be cut short for every user with history. The export's
``query_embedding`` signature and ``embeddings/items.parquet`` give the same scores BruteForce
uses (query . item), so the list is the serving top-K (history removed) followed by the rest of
the catalog by those scores. The serving top-K is checked against the embeddings: the same items
with the same scores, and nothing outside it scoring higher. A mismatch means the index inside
the SavedModel and the exported embeddings disagree (a corrupt or mixed-up export).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from components.protocol import exclude_history

# Relative score tolerance of the consistency check (float32 matmul in TF vs numpy).
RELATIVE_ATOL = 1e-3


@dataclasses.dataclass(frozen=True)
class Rankings:
    """Per-user ranked lists and how well the serving top-K matched the embeddings.

    Attributes:
        ranked: Per user, item ids best first, history removed, at most ``depth`` long.
        inconsistent_users: Users whose serving top-K disagrees with the embedding scores.
        max_score_gap: Largest absolute score difference seen in the check.
        completed: Users whose list was extended past the serving top-K.
    """

    ranked: list[list[str]]
    inconsistent_users: int
    max_score_gap: float
    completed: int


def complete_rankings(
    top_ids: Sequence[Sequence[str]],
    top_scores: np.ndarray,
    queries: np.ndarray,
    item_ids: Sequence[str],
    item_embeddings: np.ndarray,
    history: Sequence[set[str]],
    *,
    depth: int,
    batch_size: int = 512,
) -> Rankings:
    """Serving top-K plus the embedding-scored rest of the catalog, history removed.

    Args:
        top_ids: Per user, the serving signature's item ids, best first (``[users][K]``).
        top_scores: Their scores ``[users, K]``.
        queries: Query embeddings ``[users, dim]`` (the ``query_embedding`` signature).
        item_ids: Catalog ids ``[n]`` of ``item_embeddings`` ``[n, dim]``.
        item_embeddings: Candidate embeddings the serving index holds.
        history: Per user, items seen before the cut-off (never recommended back).
        depth: List length wanted (max K of the metrics).
        batch_size: Users scored per matrix product (bounds memory to batch x catalog).
    """
    position = {item: i for i, item in enumerate(item_ids)}
    ids = np.asarray(item_ids, dtype=object)
    ranked: list[list[str]] = []
    inconsistent, gap, completed = 0, 0.0, 0
    for start in range(0, len(top_ids), batch_size):
        scores = queries[start : start + batch_size] @ item_embeddings.T
        for row, score in enumerate(scores):
            u = start + row
            served = list(top_ids[u])
            known = [position.get(item) for item in served]
            atol = RELATIVE_ATOL * max(1.0, float(np.abs(score).max(initial=0.0)))
            ok = None not in known
            if ok and served:
                diff = np.abs(score[known] - top_scores[u][: len(served)])
                outside = np.delete(score, known)
                worst = float(top_scores[u][len(served) - 1])
                above = float(outside.max(initial=-np.inf)) - worst
                gap = max(gap, float(diff.max()), above)
                ok = bool(diff.max() <= atol and above <= atol)
            inconsistent += not ok
            out = exclude_history(served, history[u], depth=depth)
            if len(out) < depth:
                completed += 1
                masked = score.copy()
                skip = [position[i] for i in (*history[u], *out) if i in position]
                masked[skip] = -np.inf
                need = min(depth - len(out), int(np.isfinite(masked).sum()))
                if need > 0:
                    best = np.argpartition(-masked, need - 1)[:need]
                    best = best[np.argsort(-masked[best], kind="stable")]
                    out.extend(ids[best].tolist())
            ranked.append(out)
    return Rankings(
        ranked=ranked, inconsistent_users=inconsistent, max_score_gap=gap, completed=completed
    )


def rank_scores(
    scores: np.ndarray,
    items: Sequence[str],
    history: Sequence[set[str]],
    *,
    depth: int,
) -> list[list[str]]:
    """Per row of ``scores`` ``[b, I]``, the ``depth`` best of ``items``, history removed.

    Ties are broken by catalog position, so every run ranks the same.
    """
    position = {item: i for i, item in enumerate(items)}
    ids = np.asarray(items, dtype=object)
    scores = np.array(scores, dtype=np.float64)
    for row, seen in enumerate(history):
        cols = [position[i] for i in seen if i in position]
        scores[row, cols] = -np.inf
    depth = min(depth, scores.shape[1])
    if depth == 0:
        return [[] for _ in range(len(scores))]
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    part = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -part), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    part = np.take_along_axis(part, order, axis=1)
    return [ids[r[np.isfinite(p)]].tolist() for r, p in zip(top, part, strict=True)]


def serving_disagreements(
    top_ids: Sequence[Sequence[str]],
    top_scores: np.ndarray,
    scores: np.ndarray,
    items: Sequence[str],
    request_history: Sequence[set[str]],
) -> tuple[int, float]:
    """Rows where the serving top-K is not the top of the catalog scores, and the worst gap.

    The serving signature leaves out the request's own history; every served item must have
    its catalog score, and no other item outside that history may score above the last served.

    Returns:
        ``(rows that disagree, largest absolute score gap)``.
    """
    position = {item: i for i, item in enumerate(items)}
    bad, gap = 0, 0.0
    for row, (served, served_scores) in enumerate(zip(top_ids, top_scores, strict=True)):
        score = np.asarray(scores[row], dtype=np.float64)
        known = [position.get(i) for i in served]
        atol = RELATIVE_ATOL * max(1.0, float(np.abs(score).max(initial=0.0)))
        if None in known:
            bad += 1
            continue
        if not served:
            continue
        diff = float(np.abs(score[known] - np.asarray(served_scores[: len(known)])).max())
        outside = np.delete(
            score, known + [position[i] for i in request_history[row] if i in position]
        )
        above = float(outside.max(initial=-np.inf)) - float(served_scores[len(known) - 1])
        gap = max(gap, diff, above)
        bad += not (diff <= atol and above <= atol)
    return bad, gap
