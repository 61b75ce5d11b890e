import itertools
from datetime import UTC, datetime

import numpy as np
import pyarrow.compute as pc
import pytest

from components.sources import behavior
from components.sources.behavior import BehaviorState, PairCounter
from components.sources.world import MODALITIES, Ragged, build_world, cluster_count
from schemas import tables

START = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("users", "k"), [(1, 8), (300, 8), (2_000, 11), (1_000_000, 20)])
def test_cluster_count(users, k):
    assert cluster_count(users) == k


def test_ragged_pick_and_cyclic_chain():
    ragged = Ragged.from_lists([np.array([5, 6, 7]), np.array([9])])
    clusters = np.array([0, 0, 0, 1, 0])
    assert ragged.pick(clusters, np.array([0.0, 0.5, 0.99, 0.7, 0.34])).tolist() == [5, 6, 7, 9, 6]
    assert ragged.at(clusters, np.array([0, 3, 4, 10, 5])).tolist() == [5, 5, 6, 9, 7]


def test_pair_counter_keeps_top_k_per_source():
    counter = PairCounter(n_items=10)
    counter.add(np.array([1, 1, 1, 2, 3]), np.array([2, 2, 4, 1, 3]))
    counter.add(np.array([1, 1]), np.array([4, 4]))
    src, dst = counter.top(1)
    # 1->4 seen 3 times beats 1->2 (twice); 3->3 is a self-pair and not counted.
    assert list(zip(src.tolist(), dst.tolist(), strict=True)) == [(1, 4), (2, 1)]


def _world(users=200, items=90, seed=3):
    return build_world(users=users, items=items, seed=seed, start=START, days=60)


def test_world_is_deterministic_and_complete():
    a, b = _world(), _world()
    assert a.items_table.equals(b.items_table) and a.users_table.equals(b.users_table)
    assert a.users_table.num_rows == 200 and a.items_table.num_rows == 90
    assert set(np.unique(a.item_category)) == set(range(a.categories))
    assert set(np.unique(a.user_modality)) == set(range(len(MODALITIES)))
    # plain items have an image but no category: only the pixels tell the category
    plain = np.flatnonzero(a.item_plain)
    assert all(a.pngs[i] is not None for i in plain)
    assert all(a.items_table.column(tables.CATEGORY)[int(i)].as_py() is None for i in plain)


def test_chain_moves_one_step_after_each_purchase(monkeypatch):
    world = _world()
    state = BehaviorState.start(world)
    state.chain_pos[:] = 10
    monkeypatch.setattr(behavior, "JUMP_RATE", 0.0)
    users = np.array([4, 2, 4, 4, 2, 4])
    bought = np.array([True, False, False, True, True, True])
    used = behavior.advance_chains(state, np.random.default_rng(0), users, bought)
    # user 4: sessions 0, 2, 3, 5 -> 10, 11 (after a buy), 11 (no buy), 12; then 13 after the last
    # user 2: sessions 1, 4 -> 10, 10 (no buy in between); then 11
    assert used.tolist() == [10, 10, 11, 11, 10, 12]
    assert state.chain_pos[4] == 13 and state.chain_pos[2] == 11


def test_block_has_exact_quota_and_rising_funnels():
    world = _world()
    state = BehaviorState.start(world)
    block = behavior.generate_block(world, state, block=0, blocks=1, quota=4_321)
    events = block.events.to_pylist()
    assert len(events) == 4_321
    assert block.events.schema == tables.EVENTS.arrow_schema()
    # each view is followed by its own funnel steps, in contract order, later each time
    order = {t: i for i, t in enumerate(tables.EVENT_TYPES)}
    assert events[0][tables.EVENT_TYPE] == "view"
    for before, after in itertools.pairwise(events):
        if after[tables.EVENT_TYPE] != "view":
            assert order[after[tables.EVENT_TYPE]] == order[before[tables.EVENT_TYPE]] + 1
            assert after[tables.TS] > before[tables.TS]
            assert after[tables.ITEM_ID] == before[tables.ITEM_ID]
    ratings = [e[tables.VALUE] for e in events if e[tables.EVENT_TYPE] == "rating"]
    assert ratings and all(1 <= v <= 5 for v in ratings)
    assert all(e[tables.VALUE] is None for e in events if e[tables.EVENT_TYPE] != "rating")


def test_behavior_users_buy_the_successor_of_their_last_purchase():
    world = _world(users=400, items=200)
    state = BehaviorState.start(world)
    purchases = []
    for b in range(4):
        block = behavior.generate_block(world, state, block=b, blocks=4, quota=10_000)
        rows = block.events.filter(pc.equal(block.events.column(tables.EVENT_TYPE), "purchase"))
        purchases += rows.select([tables.USER_ID, tables.ITEM_ID, tables.TS]).to_pylist()
    successor = {}
    for c in range(world.clusters):
        chain = world.chain.flat[world.chain.off[c] : world.chain.off[c] + world.chain.n[c]]
        ids = [f"i{i:07d}" for i in chain.tolist()]
        successor.update(zip(ids, ids[1:] + ids[:1], strict=True))
    behavior_users = {
        f"u{u:07d}" for u in np.flatnonzero(world.user_modality == MODALITIES.index("behavior"))
    }
    last: dict[str, str] = {}
    hits = pairs = 0
    for p in sorted(purchases, key=lambda r: (r[tables.USER_ID], r[tables.TS])):
        user = p[tables.USER_ID]
        if user in behavior_users and user in last:
            pairs += 1
            hits += successor[last[user]] == p[tables.ITEM_ID]
        last[user] = p[tables.ITEM_ID]
    chance = 1.0 / np.mean(world.chain.n)
    assert pairs > 100
    assert hits / pairs > max(0.4, 5 * chance)


def test_plain_items_embeddings_carry_their_hidden_category():
    # The planted image signal: a plain item's category shows only in its image, so its
    # precomputed embedding must carry it too (nearest category mean of the unit vectors).
    world = build_world(users=2_000, items=500, seed=7, start=START, days=60)
    vectors = world.items_table[tables.IMAGE_EMBEDDING].to_pylist()
    has = np.array([v is not None for v in vectors])
    assert 0.7 < has.mean() < 0.9  # IMAGE_FRACTION: items without an image have none
    unit = np.array([v for v in vectors if v is not None])
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    category, plain = world.item_category[has], world.item_plain[has]
    means = np.stack([unit[category == c].mean(axis=0) for c in range(category.max() + 1)])
    recovered = (unit @ means.T).argmax(axis=1) == category
    assert plain.sum() > 50
    assert recovered[plain].mean() > 0.6  # chance: 1 / 33 categories
