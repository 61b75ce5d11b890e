"""User-user and item-item relations of a synthetic shop.

User edges are homophilous (relation users' friends share their cluster almost always, everyone
else's somewhat more often than chance); item edges are the most frequent co-purchases and
co-views counted while the events were drawn.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.sources.behavior import TOP_NEIGHBOURS, BehaviorState
from components.sources.seeding import Stream, rng_for
from components.sources.world import MODALITIES, Ragged, World, seconds_to_timestamps
from schemas import tables

MEAN_FRIENDS = 3.0
SAME_CLUSTER_RELATION_USER = 0.9
SAME_CLUSTER_OTHER = 0.35
FOLLOW_SHARE = 0.7  # the rest are 'trust' edges

_RELATION = MODALITIES.index("relation")
_FOLLOW, _TRUST = (
    tables.USER_RELATION_KINDS.index("follow"),
    tables.USER_RELATION_KINDS.index("trust"),
)
_ALSO_BOUGHT = tables.ITEM_RELATION_KINDS.index("also_bought")
_ALSO_VIEWED = tables.ITEM_RELATION_KINDS.index("also_viewed")


def user_edges(world: World) -> pa.Table:
    """Follow / trust edges with homophily; no self-loops, no repeated (src, dst) pair.

    Returns:
        Clean user_relations rows in the canonical schema.
    """
    rng = rng_for(world.seed, Stream.RELATIONS)
    n = world.n_users
    degree = rng.poisson(MEAN_FRIENDS, size=n)
    src = np.repeat(np.arange(n), degree)
    cluster = world.user_cluster[src]
    members = Ragged.from_lists(
        [np.flatnonzero(world.user_cluster == c) for c in range(world.clusters)]
    )
    same_rate = np.where(
        world.user_modality[src] == _RELATION, SAME_CLUSTER_RELATION_USER, SAME_CLUSTER_OTHER
    )
    same = rng.random(len(src)) < same_rate
    u = rng.random(len(src))
    dst = np.where(same, members.pick(cluster, u), np.minimum((u * n).astype(np.int64), n - 1))
    keep = src != dst
    src, dst = src[keep], dst[keep]
    codes = np.unique(src * n + dst)
    src, dst = codes // n, codes % n
    kind = np.where(rng.random(len(src)) < FOLLOW_SHARE, _FOLLOW, _TRUST)
    ts = rng.integers(world.start_s - 365 * 86_400, world.end_s, size=len(src))
    return pa.Table.from_pydict(
        {
            tables.SRC_USER: world.user_ids.take(pa.array(src)),
            tables.DST_USER: world.user_ids.take(pa.array(dst)),
            tables.KIND: pa.array(tables.USER_RELATION_KINDS).take(pa.array(kind)),
            tables.TS: seconds_to_timestamps(ts),
        },
        schema=tables.USER_RELATIONS.arrow_schema(),
    )


def item_edges(world: World, state: BehaviorState) -> pa.Table:
    """also_bought (consecutive purchases) and also_viewed (consecutive views) edges.

    Each source item keeps its ``TOP_NEIGHBOURS`` most frequent partners per kind.

    Returns:
        Clean item_relations rows in the canonical schema.
    """
    parts = []
    for counter, kind in ((state.also_bought, _ALSO_BOUGHT), (state.also_viewed, _ALSO_VIEWED)):
        src, dst = counter.top(TOP_NEIGHBOURS)
        parts.append((src, dst, np.full(len(src), kind)))
    src, dst, kind = (np.concatenate(x) for x in zip(*parts, strict=True))
    return pa.Table.from_pydict(
        {
            tables.SRC_ITEM: world.item_ids.take(pa.array(src)),
            tables.DST_ITEM: world.item_ids.take(pa.array(dst)),
            tables.KIND: pa.array(tables.ITEM_RELATION_KINDS).take(pa.array(kind)),
        },
        schema=tables.ITEM_RELATIONS.arrow_schema(),
    )
