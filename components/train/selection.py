"""Model selection on the validation window: never on the eval window.

The validation window is the end of the train window (``validation_start`` to the train
cut-off, from ingest). Selection trains on the examples before it, scores the window's users
with the evaluate stage's protocol after each epoch (their history before the window excluded,
targets the new items they took in it, Recall/NDCG as in ``components.ranking_metrics``) and
keeps the epoch count with the best ``selection_metric``; the final model then trains on the
whole train window for that many epochs. Nothing here reads the eval window, so changing its
events changes no choice (``tests/unit/train/test_selection.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import tensorflow as tf

from components.ranking_metrics import per_user_metrics
from schemas import features as fs
from schemas import feeds
from schemas.tables import ITEM_ID, USER_ID

logger = logging.getLogger(__name__)

DAY_US = 86_400 * 1_000_000
SELECTION_FILE = "selection.json"


@dataclasses.dataclass(frozen=True)
class ValidationSet:
    """The validation window's users, as the protocol judges them (parallel by position).

    Attributes:
        users: User ids, sorted.
        history: Catalog positions each user took before the window (never ranked).
        targets: Catalog positions each took first in the window (non-empty).
    """

    users: list[str]
    history: list[set[int]]
    targets: list[set[int]]


def validation_set(
    examples: pa.Table, catalog_ids: np.ndarray, *, start_day: float, end_day: float
) -> ValidationSet:
    """Who the validation window judges, from the train examples (first interactions).

    A train example is a user's first interaction with an item, so the items of a user's
    examples before ``start_day`` are their whole history, and those in ``[start_day,
    end_day)`` are new items: the targets. Users with targets and no history are judged too.

    Args:
        examples: Raw train examples: ``user_id``, ``item_id``, ``event_day`` (one-element
            lists, as the transform writes them, or plain columns).
        catalog_ids: ``[I]`` raw item ids, catalog order (items outside it are not ranked).
        start_day: The validation window's start (days since the epoch).
        end_day: Its end (the train cut-off).
    """
    position = {item: i for i, item in enumerate(catalog_ids)}
    users = feeds.flat_values(examples[USER_ID]).cast(pa.string()).to_pylist()
    items = feeds.flat_values(examples[ITEM_ID]).cast(pa.string()).to_pylist()
    days = feeds.flat_values(examples[fs.EVENT_DAY]).to_numpy()
    history: dict[str, set[int]] = {}
    targets: dict[str, set[int]] = {}
    for user, item, day in zip(users, items, days, strict=True):
        where = position.get(item)
        if where is None or day >= end_day:
            continue
        (history if day < start_day else targets).setdefault(user, set()).add(where)
    chosen = sorted(targets)
    return ValidationSet(
        users=chosen,
        history=[history.get(u, set()) for u in chosen],
        targets=[targets[u] for u in chosen],
    )


def rank_positions(scores: np.ndarray, history: list[set[int]], *, depth: int) -> list[list[int]]:
    """Per row, the ``depth`` best catalog positions of ``scores`` ``[B, I]``, history removed."""
    scores = np.array(scores, dtype=np.float64)
    for row, seen in enumerate(history):
        if seen:
            scores[row, list(seen)] = -np.inf
    depth = min(depth, scores.shape[1])
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    part = np.take_along_axis(scores, top, axis=1)
    order = np.lexsort((top, -part), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    part = np.take_along_axis(part, order, axis=1)
    return [
        [int(i) for i, v in zip(r, p, strict=True) if v > -np.inf]
        for r, p in zip(top, part, strict=True)
    ]


def blended_metrics(
    score: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]],
    vset: ValidationSet,
    *,
    ks: tuple[int, ...],
    weights: tuple[float, ...],
    batch_size: int = 512,
) -> dict[float, dict[str, float]]:
    """The protocol's metrics of ``base + w * extra`` on ``vset``, for every blend weight ``w``.

    Args:
        score: Row indices of ``vset`` -> (``[b, I]`` model scores, ``[b, I]`` blend term or
            None). Called once per batch, whatever the number of weights.
        vset: Who is judged.
        ks: Cut-offs.
        weights: Blend weights tried (only 0 when there is no blend term).
        batch_size: Users scored per call.

    Returns:
        ``{w: {metric: mean}}``.
    """
    if not vset.users:
        return {}
    ranked: dict[float, list[list[int]]] = {}
    for start in range(0, len(vset.users), batch_size):
        rows = np.arange(start, min(start + batch_size, len(vset.users)))
        base, extra = score(rows)
        history = [vset.history[r] for r in rows]
        for w in weights if extra is not None else (0.0,):
            scores = base if extra is None or w == 0 else base + w * extra
            ranked.setdefault(w, []).extend(rank_positions(scores, history, depth=max(ks)))
    return {
        w: {name: float(v.mean()) for name, v in per_user_metrics(r, vset.targets, ks=ks).items()}
        for w, r in ranked.items()
    }


def best_blend(figures: dict[float, dict[str, float]], metric: str) -> tuple[float, dict]:
    """The blend weight with the best ``metric`` (ties: the smallest weight) and its figures."""
    best = min(figures, key=lambda w: (-figures[w].get(metric, 0.0), w))
    return best, figures[best]


class EpochSelection(tf.keras.callbacks.Callback):
    """After each epoch: the validation metrics; stops ``patience`` epochs after the best.

    Args:
        evaluate: ``() -> metrics`` of the model as it is now.
        metric: The figure that chooses (higher is better).
        patience: Epochs without improvement before training stops.
    """

    def __init__(
        self, evaluate: Callable[[], dict[str, float]], *, metric: str, patience: int
    ) -> None:
        super().__init__()
        self._evaluate = evaluate
        self.metric = metric
        self.patience = patience
        self.curve: list[dict[str, float]] = []
        self.best_epoch = 0  # 1-based; 0 until an epoch is scored

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Score the epoch, remember the best, stop once patience runs out."""
        figures = self._evaluate()
        self.curve.append({k: round(v, 6) for k, v in figures.items()})
        value = figures.get(self.metric, 0.0)
        best = self.curve[self.best_epoch - 1].get(self.metric, 0.0) if self.best_epoch else None
        if best is None or value > best:
            self.best_epoch = epoch + 1
        logger.info(
            "validation epoch=%d %s=%.5f best_epoch=%d",
            epoch + 1,
            self.metric,
            value,
            self.best_epoch,
        )
        if epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True


def read_selection(model_dir: str, key: dict) -> dict | None:
    """The selection a killed trainer finished before (same ``key``), or None."""
    path = os.path.join(model_dir, SELECTION_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    return doc if doc.get("key") == key else None


def write_selection(model_dir: str, doc: dict) -> None:
    """Keep the selection, so a restarted trainer goes straight to the final fit."""
    os.makedirs(model_dir, exist_ok=True)
    tmp = os.path.join(model_dir, SELECTION_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
    os.replace(tmp, os.path.join(model_dir, SELECTION_FILE))


def days(micros: int) -> float:
    """Days since the epoch of epoch microseconds (``EVENT_DAY``'s unit)."""
    return micros / DAY_US
