"""The temporal evaluation protocol: who is evaluated, on what, with which history.

One global cut-off (the ingest split): every user with at least one new item after it is
evaluated, with or without history before it (a user with none is what a cold start looks
like; slices show them apart); their targets are the items they interacted with after the
cut-off that they had not interacted with before; their history is excluded from every ranking.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.tables import ITEM_ID, USER_ID


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """Users to evaluate with their history and targets (parallel by position)."""

    users: list[str]
    history: list[set[str]]
    targets: list[set[str]]


def sample_users(users: pa.Array | pa.ChunkedArray, max_users: int) -> pa.Array | None:
    """At most ``max_users`` of the distinct ``users``: those of smallest CRC-32 (then by id).

    The same ids give the same sample in every run and for every model (a paired comparison
    needs the same users), whatever their order.

    Returns:
        The sampled ids (string array), or None when ``max_users`` is 0 (no cap) or every user
        fits.
    """
    distinct = pc.unique(users.combine_chunks() if isinstance(users, pa.ChunkedArray) else users)
    distinct = distinct.drop_null().cast(pa.string())
    if max_users <= 0 or len(distinct) <= max_users:
        return None
    ids = np.asarray(distinct.to_pylist(), dtype=object)
    crc = np.fromiter((zlib.crc32(u.encode("utf-8")) for u in ids), np.int64, len(ids))
    order = np.lexsort((ids.astype(str), crc))  # by CRC-32, ties by id
    return pa.array(sorted(ids[order[:max_users]]), pa.string())


def items_by_user(events: pa.Table) -> dict[str, set[str]]:
    """Distinct items per user. Args: events with ``user_id``, ``item_id``."""
    pairs = events.select([USER_ID, ITEM_ID]).group_by([USER_ID, ITEM_ID]).aggregate([])
    out: dict[str, set[str]] = {}
    for user, item in zip(pairs[USER_ID].to_pylist(), pairs[ITEM_ID].to_pylist(), strict=True):
        out.setdefault(user, set()).add(item)
    return out


def build_eval_set(before: pa.Table, after: pa.Table) -> EvalSet:
    """Evaluation users, their history (before the cut-off; maybe empty) and targets (new items).

    Users are sorted by id so every model in a run sees the same order.
    """
    history = items_by_user(before)
    later = items_by_user(after)
    users, hist, targets = [], [], []
    for user in sorted(later):
        seen = history.get(user, set())
        new = later[user] - seen
        if new:
            users.append(user)
            hist.append(seen)
            targets.append(new)
    return EvalSet(users=users, history=hist, targets=targets)


def warm_only(eval_set: EvalSet, known_items: set[str]) -> EvalSet:
    """``eval_set`` with targets cut to ``known_items`` (items seen in the train window).

    Users left without a target are dropped: these are the figures that compare with
    collaborative-filtering peers, which cannot recommend an item they never saw.
    """
    users, hist, targets = [], [], []
    for user, seen, wanted in zip(eval_set.users, eval_set.history, eval_set.targets, strict=True):
        warm = wanted & known_items
        if warm:
            users.append(user)
            hist.append(seen)
            targets.append(warm)
    return EvalSet(users=users, history=hist, targets=targets)


def interaction_counts(events: pa.Table) -> dict[str, int]:
    """Events per user (every event row counts, repeats included)."""
    counts = pc.value_counts(events[USER_ID].combine_chunks())
    return dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )


def popularity(events: pa.Table) -> list[str]:
    """Item ids by interaction count, most popular first (ties by id, for determinism)."""
    counts = pc.value_counts(events[ITEM_ID].combine_chunks())
    ranked = sorted(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return [item for item, _ in ranked]


def exclude_history(ranked: Sequence[str], history: set[str], *, depth: int) -> list[str]:
    """The first ``depth`` items of ``ranked`` that are not in ``history``."""
    out = []
    for item in ranked:
        if item not in history:
            out.append(item)
            if len(out) == depth:
                break
    return out


def requests_for(requests: pa.Table, users: list[str]) -> pa.Table:
    """The rows of ``requests`` for ``users``, in that order.

    Raises:
        ValueError: a user has no request row (transform and ingest disagree).
    """
    position = {user: i for i, user in enumerate(requests[USER_ID].to_pylist())}
    missing = [u for u in users if u not in position]
    if missing:
        raise ValueError(f"{len(missing)} eval users have no serving request, e.g. {missing[:3]}")
    return requests.take(pa.array([position[u] for u in users], type=pa.int64()))
