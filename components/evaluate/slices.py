"""Slices of the evaluation set: by user activity, target category and modality availability.

Two kinds of slice:
- user slices keep a subset of users with all their targets (activity, has reviews, has social
  links);
- target slices keep, for each user, only the targets with a property (the target's top-level
  category, whether the target item has an image); users with no such target are left out.
  The ranked lists stay whole-catalog rankings: a target slice asks "how well are items of this
  kind found", not "how well does a ranking restricted to them do".

Activity tiers count a user's events in the train window: ``new`` for none (a cold start: the
user is judged all the same), ``cold`` from 1 up to ``cold_max`` events,
``heavy`` from ``heavy_min`` on, ``warm`` between (defaults in ``EvaluateConfig``: 5 and 50; on
the generated 100k-event shop the median user has ~40 train events).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from components.protocol import EvalSet
from components.ranking_metrics import per_user_metrics
from schemas.tables import (
    CATEGORY,
    DST_USER,
    IMAGE_BYTES,
    IMAGE_EMBEDDING,
    IMAGE_URI,
    ITEM_ID,
    SRC_USER,
    USER_ID,
)

NEW, COLD, WARM, HEAVY = "new", "cold", "warm", "heavy"
YES, NO = "yes", "no"
UNKNOWN_CATEGORY = "(none)"
ACTIVITY, CATEGORY_SLICE = "activity", "category"
HAS_REVIEWS, HAS_SOCIAL, TARGET_IMAGE = "has_reviews", "has_social", "target_has_image"
# The values each slice dimension can take; None: the data's own (top-level categories).
DIMENSION_VALUES: dict[str, tuple[str, ...] | None] = {
    ACTIVITY: (NEW, COLD, WARM, HEAVY),
    CATEGORY_SLICE: None,
    HAS_REVIEWS: (YES, NO),
    HAS_SOCIAL: (YES, NO),
    TARGET_IMAGE: (YES, NO),
}


@dataclasses.dataclass(frozen=True)
class Slice:
    """A part of the evaluation set.

    Attributes:
        name: ``"<dimension>=<value>"``, e.g. ``"activity=cold"``.
        users: ``[n]`` int positions into ``EvalSet.users``.
        targets: Per kept user (same order), the targets that count; None keeps every target.
    """

    name: str
    users: np.ndarray
    targets: list[set[str]] | None = None

    def targets_of(self, eval_set: EvalSet) -> list[set[str]]:
        """The target sets that count in this slice, one per kept user."""
        if self.targets is not None:
            return self.targets
        return [eval_set.targets[u] for u in self.users]


def activity_tier(count: int, *, cold_max: int, heavy_min: int) -> str:
    """``new`` (no train event), ``cold`` (<= cold_max), ``heavy`` (>= heavy_min) or ``warm``."""
    if count == 0:
        return NEW
    if count <= cold_max:
        return COLD
    return HEAVY if count >= heavy_min else WARM


def top_category(path: str | None) -> str:
    """The first level of a ``/``-joined category path; ``(none)`` when absent."""
    if not path:
        return UNKNOWN_CATEGORY
    return path.split("/", 1)[0] or UNKNOWN_CATEGORY


def items_with_image(items: pa.Table) -> set[str]:
    """Ids of items with image bytes, an image URI or a precomputed image embedding."""
    ids = items[ITEM_ID].to_pylist()
    columns = [items[c].to_pylist() for c in (IMAGE_BYTES, IMAGE_URI, IMAGE_EMBEDDING)]
    return {i for i, *values in zip(ids, *columns, strict=True) if any(v for v in values)}


def item_categories(items: pa.Table) -> dict[str, str]:
    """Item id -> top-level category."""
    return {
        i: top_category(c)
        for i, c in zip(items[ITEM_ID].to_pylist(), items[CATEGORY].to_pylist(), strict=True)
    }


def linked_users(relations: pa.Table) -> set[str]:
    """Users at either end of a social link."""
    return set(relations[SRC_USER].to_pylist()) | set(relations[DST_USER].to_pylist())


def users_of(table: pa.Table) -> set[str]:
    """Distinct ``user_id`` values of a table (e.g. the reviews of the train window)."""
    return set(table[USER_ID].to_pylist())


def user_slices(
    eval_set: EvalSet,
    *,
    activity: Mapping[str, int],
    reviewers: set[str],
    linked: set[str],
    cold_max: int,
    heavy_min: int,
) -> list[Slice]:
    """Activity tiers, has-reviews and has-social-links slices (empty ones are omitted)."""
    groups: dict[str, list[int]] = {}
    for position, user in enumerate(eval_set.users):
        tier = activity_tier(activity.get(user, 0), cold_max=cold_max, heavy_min=heavy_min)
        for name in (
            f"{ACTIVITY}={tier}",
            f"{HAS_REVIEWS}={YES if user in reviewers else NO}",
            f"{HAS_SOCIAL}={YES if user in linked else NO}",
        ):
            groups.setdefault(name, []).append(position)
    return [Slice(name, np.asarray(groups[name], dtype=np.int64)) for name in sorted(groups)]


def target_slices(
    eval_set: EvalSet, *, category: Mapping[str, str], with_image: set[str]
) -> list[Slice]:
    """Target-category and target-has-image slices (empty ones are omitted)."""
    groups: dict[str, tuple[list[int], list[set[str]]]] = {}
    for position, wanted in enumerate(eval_set.targets):
        by_value: dict[str, set[str]] = {}
        for item in wanted:
            by_value.setdefault(
                f"{CATEGORY_SLICE}={category.get(item, UNKNOWN_CATEGORY)}", set()
            ).add(item)
            by_value.setdefault(f"{TARGET_IMAGE}={YES if item in with_image else NO}", set()).add(
                item
            )
        for name, items in by_value.items():
            users, targets = groups.setdefault(name, ([], []))
            users.append(position)
            targets.append(items)
    return [
        Slice(name, np.asarray(groups[name][0], dtype=np.int64), groups[name][1])
        for name in sorted(groups)
    ]


def slice_per_user(
    ranked: Sequence[Sequence[str]], eval_set: EvalSet, piece: Slice, *, ks: Sequence[int]
) -> dict[str, np.ndarray]:
    """Per-user metrics of ``ranked`` (one list per eval user) on the users of ``piece``."""
    return per_user_metrics([ranked[u] for u in piece.users], piece.targets_of(eval_set), ks=ks)
