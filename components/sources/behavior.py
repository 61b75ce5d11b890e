"""The event log of a synthetic shop, drawn block by block from the world.

Each block of ``BLOCK_EVENTS`` events has its own random stream and time window, so the log is the
same whatever chunk size the writer uses, and never more than one block is in memory. The only
state carried between blocks is per user (chain position, last purchase) and the co-occurrence
counts that become item relations.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.sources.seeding import Stream, rng_for
from components.sources.world import MODALITIES, World, seconds_to_timestamps
from schemas import tables

BLOCK_EVENTS = 50_000
# Funnel stages are the contract's event types in order: view, click, cart, purchase, rating.
VIEW, CLICK, CART, PURCHASE, RATING = range(5)
STAGE_GAP_S = 40  # each funnel step comes 40-69 s after the previous one
RATING_LAG_S = (3_600, 3 * 86_400)
REVIEW_LAG_S = (3_600, 5 * 86_400)
QUERY_RATE = 0.35
REVIEW_RATE = 0.15
JUMP_RATE = 0.03  # a session that leaves the user's item chain for a random spot on it
TOP_NEIGHBOURS = 10

_TEXT = MODALITIES.index("text")
_IMAGE = MODALITIES.index("image")
_RELATION = MODALITIES.index("relation")
_ID = MODALITIES.index("id")


class PairCounter:
    """Counts directed item pairs (``src * n_items + dst`` codes) without holding every event."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items
        self._codes: list[np.ndarray] = []
        self._counts: list[np.ndarray] = []
        self._pending = 0

    def add(self, src: np.ndarray, dst: np.ndarray) -> None:
        """Count pairs ``src[i] -> dst[i]`` (self-pairs are skipped)."""
        keep = src != dst
        codes, counts = np.unique(src[keep] * self.n_items + dst[keep], return_counts=True)
        self._codes.append(codes)
        self._counts.append(counts)
        self._pending += 1
        if self._pending >= 16:
            self._compact()

    def _compact(self) -> None:
        codes = np.concatenate(self._codes) if self._codes else np.zeros(0, np.int64)
        counts = np.concatenate(self._counts) if self._counts else np.zeros(0, np.int64)
        unique, inverse = np.unique(codes, return_inverse=True)
        self._codes = [unique]
        self._counts = [np.bincount(inverse, weights=counts, minlength=len(unique)).astype(int)]
        self._pending = 0

    def top(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(src, dst)`` of each source's ``k`` most frequent pairs (ties: smaller dst first)."""
        self._compact()
        codes, counts = self._codes[0], self._counts[0]
        src, dst = codes // self.n_items, codes % self.n_items
        order = np.lexsort((dst, -counts, src))
        src, dst = src[order], dst[order]
        first = np.r_[0, np.flatnonzero(src[1:] != src[:-1]) + 1] if len(src) else src
        rank = np.arange(len(src)) - np.repeat(first, np.diff(np.r_[first, len(src)]))
        keep = rank < k
        return src[keep], dst[keep]


@dataclasses.dataclass
class BehaviorState:
    """What carries over from one block to the next.

    Attributes:
        chain_pos: ``[users]`` each user's position on their cluster's item chain.
        last_purchase: ``[users]`` item index of each user's latest purchase, -1 for none.
        also_bought: Consecutive purchases of one user.
        also_viewed: Consecutive views within one session.
    """

    chain_pos: np.ndarray
    last_purchase: np.ndarray
    also_bought: PairCounter
    also_viewed: PairCounter

    @classmethod
    def start(cls, world: World) -> BehaviorState:
        """The state before the first block."""
        return cls(
            chain_pos=world.chain_start.astype(np.int64).copy(),
            last_purchase=np.full(world.n_users, -1, dtype=np.int64),
            also_bought=PairCounter(world.n_items),
            also_viewed=PairCounter(world.n_items),
        )


@dataclasses.dataclass(frozen=True)
class Block:
    """One block of clean rows: ``events`` has exactly the quota; ``reviews`` as many as drawn."""

    events: pa.Table
    reviews: pa.Table


def block_count(events: int) -> int:
    """Blocks needed for ``events`` events."""
    return max(1, -(-events // BLOCK_EVENTS))


def block_quota(events: int, block: int) -> int:
    """Events in block ``block`` (all full except maybe the last)."""
    return min(BLOCK_EVENTS, events - block * BLOCK_EVENTS)


def _group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal keys in ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.r_[0, np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1]


def advance_chains(
    state: BehaviorState, rng: np.random.Generator, users: np.ndarray, bought: np.ndarray
) -> np.ndarray:
    """Chain position each session's intent item comes from; updates ``state.chain_pos``.

    A user moves one step along their cluster's chain after each session that bought its intent
    item (so the next purchase is likely the successor of the last), and sometimes jumps.

    Args:
        state: Holds ``chain_pos`` ``[users]``; updated to the position after the block.
        rng: Draws the jumps.
        users: ``[sessions]`` user of each session, sessions in time order.
        bought: ``[sessions]`` whether the session bought its intent item.

    Returns:
        ``[sessions]`` chain position used by each session.
    """
    n = len(users)
    jumps = np.where(rng.random(n) < JUMP_RATE, rng.integers(2, 1 << 20, n), 0)
    order = np.argsort(users, kind="stable")
    su, jump, step = users[order], jumps[order], bought[order].astype(np.int64)
    # position of session j = start + jumps up to and including j + purchases before j
    moves = np.cumsum(jump + step)
    starts = _group_starts(su)
    sizes = np.diff(np.r_[starts, n])
    before = np.repeat(moves[starts] - jump[starts] - step[starts], sizes)
    used_sorted = state.chain_pos[su] + moves - before - step
    ends = np.r_[starts[1:], n] - 1 if n else starts
    state.chain_pos[su[ends]] = used_sorted[ends] + step[ends]
    used = np.empty_like(used_sorted)
    used[order] = used_sorted
    return used


def _draw_views(
    world: World, state: BehaviorState, rng: np.random.Generator, sessions: int, t0: int, t1: int
) -> dict[str, np.ndarray]:
    """Sessions and their page views with funnel flags; arrays are per view."""
    users = np.searchsorted(world.user_cdf, rng.random(sessions), side="right")
    users = np.minimum(users, world.n_users - 1)
    starts_s = np.sort(rng.integers(t0, max(t0 + 1, t1), size=sessions))
    n_views = 1 + np.minimum(rng.poisson(1.2, size=sessions), 7)
    n = int(n_views.sum())
    sess = np.repeat(np.arange(sessions), n_views)
    first = np.r_[0, np.cumsum(n_views)[:-1]]
    k = np.arange(n) - np.repeat(first, n_views)
    intent = k == 0
    # The funnel does not depend on the item, so it is drawn first: chains move on purchases.
    click = rng.random(n) < np.where(intent, 0.55, 0.2)
    cart = click & (rng.random(n) < np.where(intent, 0.5, 0.2))
    purchase = cart & (rng.random(n) < 0.7)
    rating = purchase & (rng.random(n) < 0.35)
    review = purchase & (rng.random(n) < REVIEW_RATE)
    chain_used = advance_chains(state, rng, users, purchase[first])
    user = users[sess]
    cluster = world.user_cluster[user]
    modality = world.user_modality[user]
    pre = starts_s[sess] < world.history_cut_s
    noisy = pre & ((modality == _TEXT) | (modality == _RELATION))
    imagey = pre & (modality == _IMAGE)

    u = rng.random(n)
    preferred = np.where(imagey, world.plain_chain.pick(cluster, u), world.chain.pick(cluster, u))
    popular = np.minimum(np.searchsorted(world.item_cdf, rng.random(n)), world.n_items - 1)
    anything = rng.integers(0, world.n_items, size=n)
    chained = world.chain.at(cluster, chain_used[sess])
    browse = np.where(rng.random(n) < 0.6, preferred, popular)
    intent_item = np.where(pre & (modality == _ID), preferred, chained)
    intent_item = np.where(imagey, preferred, intent_item)
    item = np.where(intent, intent_item, browse)
    item = np.where(noisy, anything, item)

    likes = world.item_cluster(item) == cluster
    liked_value = rng.choice([3, 4, 5], size=n, p=[0.1, 0.35, 0.55])
    other_value = rng.choice([1, 2, 3, 4], size=n, p=[0.3, 0.3, 0.3, 0.1])
    gaps = np.where(intent, 0, rng.integers(20, 240, size=n))
    cum = np.cumsum(gaps)
    view_s = starts_s[sess] + cum - np.repeat(cum[first], n_views)
    dwell = np.round(rng.lognormal(np.log(25.0), 0.8, size=n) * np.where(intent, 2.0, 1.0), 1)
    has_query = intent & (rng.random(n) < QUERY_RATE)
    query_pick = rng.random(n)
    return {
        "sess": sess,
        "k": k,
        "user": user,
        "cluster": cluster,
        "modality": modality,
        "item": item,
        "rows": 1 + click.astype(int) + cart + purchase + rating,
        "review": review,
        "value": np.where(likes, liked_value, other_value),
        "view_s": view_s,
        "dwell": np.minimum(dwell, tables.MAX_DWELL_S),
        "has_query": has_query,
        "query_pick": query_pick,
    }


def _queries(world: World, views: dict[str, np.ndarray]) -> pa.Array:
    """Per view: a query (cluster words for text users, generic otherwise) or null."""
    per_cluster = len(world.cluster_queries) // world.clusters
    cluster_pick = views["cluster"] * per_cluster + (views["query_pick"] * per_cluster).astype(int)
    generic_pick = (views["query_pick"] * len(world.generic_queries)).astype(int)
    text_user = views["modality"] == _TEXT
    cluster_q = world.cluster_queries.take(pa.array(cluster_pick))
    generic_q = world.generic_queries.take(pa.array(generic_pick))
    chosen = pc.if_else(pa.array(text_user), cluster_q, generic_q)
    return pc.if_else(pa.array(views["has_query"]), chosen, pa.nulls(len(chosen), pa.string()))


def generate_block(
    world: World, state: BehaviorState, *, block: int, blocks: int, quota: int
) -> Block:
    """Draw the clean events (exactly ``quota``) and reviews of one block.

    Sessions fall in the block's slice of the time range; each is a few page views of which the
    first is the user's intent (their next chain item, or a noisy pick before the history cut for
    users whose signal lies in another modality); each view runs the funnel view -> click ->
    cart -> purchase -> rating with rising timestamps. Rows past the quota are cut off.

    Args:
        world: The fixed world.
        state: Carried state; updated in place (chains, last purchases, pair counts).
        block: Block number (selects the random stream and time slice).
        blocks: Number of blocks in the run.
        quota: Events wanted from this block (>= 1).

    Returns:
        The block's clean events and reviews in canonical schemas.
    """
    rng = rng_for(world.seed, Stream.EVENTS, block)
    span = (world.end_s - world.start_s) - REVIEW_LAG_S[1]
    span = max(span, blocks)
    t0 = world.start_s + span * block // blocks
    t1 = world.start_s + span * (block + 1) // blocks
    # About 3.4 event rows per session (2.2 views x 1.55 funnel rows); aim 10% over the quota
    # and drop whole views at random, so the block covers its whole time slice (cutting the
    # time-sorted tail instead left the later half of every slice empty).
    sessions = int(quota / 3.4 * 1.1) + 16
    while True:
        views = _draw_views(world, state, rng, sessions, t0, t1)
        if int(views["rows"].sum()) >= quota:
            break
        sessions *= 2

    rows_all = views["rows"]
    shuffled = rng.permutation(len(rows_all))
    needed = int(np.searchsorted(np.cumsum(rows_all[shuffled]), quota)) + 1
    chosen = np.sort(shuffled[:needed])
    rows = rows_all[chosen]
    ends = np.cumsum(rows)
    local = np.repeat(np.arange(len(rows)), rows)[:quota]
    ev_view = chosen[local]
    stage = (np.arange(len(local)) - (ends - rows)[local]).astype(np.int64)
    jitter = rng.integers(0, 30, size=quota)
    lag = rng.integers(*RATING_LAG_S, size=quota)
    ts = views["view_s"][ev_view] + stage * STAGE_GAP_S + jitter + np.where(stage == RATING, lag, 0)
    ts = np.minimum(ts, world.end_s - 1)
    user = views["user"][ev_view]
    item = views["item"][ev_view]
    is_view = stage == VIEW
    value = np.where(stage == RATING, views["value"][ev_view].astype(np.float64), np.nan)
    dwell = np.where(is_view, views["dwell"][ev_view], np.nan)
    query_by_view = _queries(world, views)
    query = pc.if_else(pa.array(is_view), query_by_view.take(pa.array(ev_view)), None)
    session_no = pa.array(views["sess"][ev_view]).cast(pa.string())
    session_id = pc.binary_join_element_wise(f"s{block:05d}-", session_no, "")
    events = pa.Table.from_pydict(
        {
            tables.USER_ID: world.user_ids.take(pa.array(user)),
            tables.ITEM_ID: world.item_ids.take(pa.array(item)),
            tables.EVENT_TYPE: pa.array(tables.EVENT_TYPES).take(pa.array(stage)),
            tables.TS: seconds_to_timestamps(ts),
            tables.VALUE: pa.array(value, from_pandas=True),
            tables.DWELL_S: pa.array(dwell, from_pandas=True),
            tables.SESSION_ID: session_id,
            tables.QUERY: query,
        },
        schema=tables.EVENTS.arrow_schema(),
    )
    _count_pairs(state, views, ev_view, stage, ts)
    reviews = _reviews(world, views, ev_view, stage, ts, rng_for(world.seed, Stream.REVIEWS, block))
    return Block(events=events, reviews=reviews)


def _count_pairs(
    state: BehaviorState,
    views: dict[str, np.ndarray],
    ev_view: np.ndarray,
    stage: np.ndarray,
    ts: np.ndarray,
) -> None:
    """Update last purchases and the also_bought / also_viewed counts from the kept rows."""
    bought = stage == PURCHASE
    pu, pi, pt = views["user"][ev_view[bought]], views["item"][ev_view[bought]], ts[bought]
    order = np.lexsort((pt, pu))
    pu, pi = pu[order], pi[order]
    starts = _group_starts(pu)
    prev = np.r_[-1, pi[:-1]] if len(pi) else pi
    prev[starts] = state.last_purchase[pu[starts]]
    has_prev = prev >= 0
    state.also_bought.add(prev[has_prev], pi[has_prev])
    if len(pu):
        ends = np.r_[starts[1:], len(pu)] - 1
        state.last_purchase[pu[ends]] = pi[ends]

    viewed = np.unique(ev_view[stage == VIEW])
    vs, vi = views["sess"][viewed], views["item"][viewed]
    same = vs[1:] == vs[:-1]
    state.also_viewed.add(vi[:-1][same], vi[1:][same])


def _reviews(
    world: World,
    views: dict[str, np.ndarray],
    ev_view: np.ndarray,
    stage: np.ndarray,
    ts: np.ndarray,
    rng: np.random.Generator,
) -> pa.Table:
    """Review rows for the kept purchases flagged for review; text users write cluster words."""
    rows = np.flatnonzero((stage == PURCHASE) & views["review"][ev_view])
    v = ev_view[rows]
    review_ts = np.minimum(ts[rows] + rng.integers(*REVIEW_LAG_S, size=len(rows)), world.end_s - 1)
    ratings = views["value"][v]
    texts = [
        world.sentiment_review(rng, int(r), int(c) if m == _TEXT else None)
        for r, c, m in zip(
            ratings.tolist(),
            views["cluster"][v].tolist(),
            views["modality"][v].tolist(),
            strict=True,
        )
    ]
    return pa.Table.from_pydict(
        {
            tables.USER_ID: world.user_ids.take(pa.array(views["user"][v])),
            tables.ITEM_ID: world.item_ids.take(pa.array(views["item"][v])),
            tables.RATING: pa.array(ratings.astype(np.float64)),
            tables.TEXT: pa.array(texts, pa.string()),
            tables.TS: seconds_to_timestamps(review_ts),
        },
        schema=tables.REVIEWS.arrow_schema(),
    )
