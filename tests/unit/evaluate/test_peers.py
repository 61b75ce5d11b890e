import numpy as np
import pytest
import scipy.sparse as sp

from components.evaluate import peers

DAY = peers.DAY_US
ITEMS = np.array(["a", "b", "c", "d"], dtype=object)


def _window(events, cutoff_day=10):
    users, items, days = zip(*events, strict=True)
    return peers.build_window(
        np.array(users, object), np.array(items, object), np.array(days) * DAY, ITEMS,
        cutoff_day * DAY,
    )  # fmt: skip


def _fit(name, window, setting=None, **kw):
    kw = {"relations": {}, "texts": None, "fallback_days": 1e6, **kw}
    return peers.fit(name, window, setting or {}, **kw)


def test_window_keeps_distinct_pairs_before_the_cutoff_with_their_latest_time():
    w = _window([("u1", "a", 1), ("u1", "a", 3), ("u2", "b", 2), ("u2", "c", 12), ("u3", "z", 1)])
    assert w.pairs.toarray().tolist() == [[1, 0, 0, 0], [0, 1, 0, 0]]  # u3's item is unknown
    assert (w.last_us // DAY).tolist() == [3, 2]


def test_popularity_counts_distinct_users_and_recent_window():
    w = _window([("u1", "a", 1), ("u1", "a", 9), ("u2", "a", 2), ("u3", "b", 8), ("u4", "b", 9)])
    assert peers.popularity(w).tolist() == [2, 2, 0, 0]
    # last 3 days before day 10: u1's latest a (day 9), u3 and u4's b
    assert peers.popularity(w, days=3).tolist() == [1, 2, 0, 0]


def test_most_popular_ranks_by_users_and_excludes_history():
    w = _window([("u1", "a", 1), ("u2", "a", 2), ("u3", "a", 3), ("u1", "b", 1), ("u2", "b", 1)])
    history = peers.history_matrix([{"a"}, set()], ITEMS)
    ranked = peers.rank(_fit(peers.MOST_POPULAR, w), history, ITEMS, depth=3)
    assert ranked == [["b", "c", "d"], ["a", "b", "c"]]  # c and d tie at 0: catalog order


def test_item_knn_cosine_by_hand():
    # a and b share users u1, u2; c is only u3's; cos(a, b) = 2 / (sqrt(2) sqrt(3))
    w = _window([("u1", "a", 1), ("u2", "a", 1), ("u1", "b", 1), ("u2", "b", 1), ("u4", "b", 1),
                 ("u3", "c", 1)])  # fmt: skip
    scores = _fit(peers.ITEM_KNN, w, {"neighbours": 10})(peers.history_matrix([{"a"}], ITEMS))
    assert scores[0, 1] == pytest.approx(2 / np.sqrt(6), rel=1e-5)
    assert scores[0, 2] == pytest.approx(0.0, abs=1e-5)


def test_ease_matches_the_closed_form_by_hand():
    x = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1]], np.float32))
    weights = peers.ease_weights(x, l2=1.0)
    p = np.linalg.inv(x.T.toarray() @ x.toarray() + np.eye(4))
    expected = np.eye(4) - p / np.diag(p)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-6)
    assert np.all(np.diag(weights) == 0)


def test_ease_is_skipped_above_the_catalog_bound(monkeypatch):
    monkeypatch.setattr(peers, "EASE_MAX_ITEMS", 3)
    with pytest.raises(peers.Unavailable, match="4 items > 3"):
        _fit(peers.EASE, _window([("u1", "a", 1)]), {"l2": 1.0})


def test_relation_knn_weights_the_secondary_kind():
    w = _window([("u1", "a", 1)])
    bought = sp.csr_matrix(([1.0], ([0], [1])), shape=(4, 4))  # a -> b
    viewed = sp.csr_matrix(([1.0, 1.0], ([0, 0], [1, 2])), shape=(4, 4))  # a -> b, c
    relations = {"also_bought": bought, "also_viewed": viewed}
    history = peers.history_matrix([{"a"}], ITEMS)
    scores = _fit(peers.RELATION_KNN, w, {"secondary_weight": 0.25}, relations=relations)(history)
    assert scores[0, :3] == pytest.approx([0.0, 1.25, 0.25], abs=1e-5)
    with pytest.raises(peers.Unavailable, match="no item relations"):
        _fit(peers.RELATION_KNN, w, {"secondary_weight": 0.25})


def test_tune_picks_the_setting_with_the_best_validation_figure():
    # Recently, c is what new users take; all-time, a is.
    events = [(f"old{i}", "a", 1) for i in range(5)] + [(f"new{i}", "c", 9) for i in range(3)]
    w = _window(events)
    history = peers.history_matrix([set(), set()], ITEMS)
    choice = peers.tune(
        peers.RECENT_POPULAR, w, history, [{"c"}, {"c"}], metric="recall@1", relations={},
        texts=None, fallback_days=1e6, ks=(1,),
    )  # fmt: skip
    assert choice.setting == {"days": 7}
    assert [t["recall@1"] for t in choice.tried] == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_settings_cover_the_grid():
    assert peers.settings(peers.MOST_POPULAR) == [{}]
    assert len(peers.settings(peers.EASE)) == len(peers.GRIDS[peers.EASE]["l2"])
