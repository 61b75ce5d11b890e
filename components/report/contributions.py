"""Which modality contributed most to a recommendation (pure numpy; the model is passed in).

The score of a (user, item) pair is the dot product of the query and candidate embeddings the
exported model computes from raw features. A modality's contribution is how much that score
drops when the modality's raw inputs are blanked on both sides: strings to the padding value,
numbers to 0, history ages to ``NO_AGE``, images to "" (no image), exactly what a user or an
item without that data sends. The biggest drop names the modality the recommendation leans on.
A negative drop means the modality pulled the score down.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from schemas import features as fs
from schemas.contract import Modality
from schemas.feeds import Feed

Embed = Callable[[Feed], np.ndarray]


def blank_value(feature: fs.Feature) -> object:
    """What a row without this feature's data carries (see ``schemas.features``)."""
    if feature.is_string:
        return fs.PAD.encode()
    if feature.name == fs.HIST_AGE_DAYS:
        return fs.NO_AGE
    return 0.0


def blank(feed: Feed, modality: Modality, side: fs.Side) -> Feed:
    """``feed`` with every ``side`` feature of ``modality`` blanked (a copy; others shared)."""
    out = dict(feed)
    for feature in fs.features(side):
        if feature.modality is modality and feature.name in feed:
            values = np.empty_like(feed[feature.name])
            values[...] = blank_value(feature)
            out[feature.name] = values
    return out


def pair_scores(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Row-wise dot products of ``[n, dim]`` and ``[n, dim]`` -> ``[n]``."""
    return np.einsum("nd,nd->n", queries, candidates)


def score_drops(
    *,
    embed_queries: Embed,
    embed_candidates: Embed,
    queries: Feed,
    candidates: Feed,
    modalities: Sequence[Modality],
) -> tuple[np.ndarray, dict[Modality, np.ndarray]]:
    """The score of each (query row i, candidate row i) pair and its drop per blanked modality.

    Args:
        embed_queries: Raw query features -> ``[n, dim]`` (the ``query_embedding`` signature).
        embed_candidates: Raw candidate features -> ``[n, dim]``.
        queries: ``n`` query rows.
        candidates: ``n`` candidate rows, paired with ``queries`` by position.
        modalities: The modalities to blank, one at a time, on both sides.

    Returns:
        ``(scores [n], {modality: score - score with it blanked, [n]})``.
    """
    base = pair_scores(embed_queries(queries), embed_candidates(candidates))
    drops = {}
    for modality in modalities:
        blanked = pair_scores(
            embed_queries(blank(queries, modality, fs.Side.QUERY)),
            embed_candidates(blank(candidates, modality, fs.Side.CANDIDATE)),
        )
        drops[modality] = base - blanked
    return base, drops


def top_modality(drops: Mapping[Modality, float], *, min_drop: float = 1e-6) -> Modality | None:
    """The modality whose blanking drops the score most; None when none drops it by min_drop.

    Ties go to the modality listed first.
    """
    best, best_drop = None, min_drop
    for modality, drop in drops.items():
        if drop > best_drop:
            best, best_drop = modality, float(drop)
    return best


def modalities_in_model(enabled: Sequence[str]) -> list[Modality]:
    """The modalities a trained model uses: ids always, plus the content ones it was trained on.

    Args:
        enabled: The trainer's ``config.modalities`` (e.g. ``["behavior", "text"]``).
    """
    wanted = {Modality.ID, *(Modality(m) for m in enabled)}
    return [m for m in Modality if m in wanted]
