import zlib

import pyarrow as pa

from components.protocol import (
    build_eval_set,
    exclude_history,
    popularity,
    sample_users,
)
from schemas.tables import ITEM_ID, USER_ID


def events(pairs):
    return pa.table({USER_ID: [u for u, _ in pairs], ITEM_ID: [i for _, i in pairs]})


def test_eval_set_keeps_users_with_new_items_with_or_without_history():
    before = events([("u1", "a"), ("u1", "b"), ("u2", "a"), ("u3", "c")])
    after = events([("u1", "b"), ("u1", "d"), ("u2", "a"), ("u4", "a")])
    s = build_eval_set(before, after)
    # u2 only re-interacted with a seen item; u3 did nothing after; u4 has no history (judged).
    assert s.users == ["u1", "u4"]
    assert s.history == [{"a", "b"}, set()]
    assert s.targets == [{"d"}, {"a"}]


def test_popularity_orders_by_count_then_id():
    assert popularity(events([("u", "b"), ("v", "b"), ("u", "a"), ("u", "c")])) == ["b", "a", "c"]


def test_exclude_history_skips_seen_and_stops_at_depth():
    assert exclude_history(["a", "b", "c", "d"], {"b"}, depth=2) == ["a", "c"]


def test_warm_targets_keep_train_window_items_and_drop_users_left_empty():
    from components.protocol import EvalSet, warm_only

    s = EvalSet(users=["u1", "u2"], history=[{"a"}, {"b"}], targets=[{"c", "new"}, {"new"}])
    w = warm_only(s, {"a", "b", "c"})
    assert (w.users, w.targets) == (["u1"], [{"c"}])


def test_interaction_counts_count_every_event():
    from components.protocol import interaction_counts

    assert interaction_counts(events([("u", "a"), ("u", "a"), ("v", "b")])) == {"u": 2, "v": 1}


def test_a_user_sample_keeps_the_smallest_crc32_ids_whatever_the_input_order():
    ids = [f"u{i}" for i in range(500)]
    expected = sorted(sorted(ids, key=lambda u: (zlib.crc32(u.encode()), u))[:40])

    forward = sample_users(pa.array(ids + ids[:100]), 40)  # repeats count once
    backward = sample_users(pa.chunked_array([ids[::-1][:250], ids[::-1][250:]]), 40)

    assert forward.to_pylist() == backward.to_pylist() == expected


def test_no_user_sample_when_uncapped_or_when_everyone_fits():
    users = pa.array(["a", "b", None, "b"])

    assert sample_users(users, 0) is None
    assert sample_users(users, 2) is None
    assert len(sample_users(users, 1)) == 1
