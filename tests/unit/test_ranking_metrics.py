import math

import pytest

from components.ranking_metrics import hit_matrix, ranking_metrics

RANKED = [["a", "b", "c"], ["x", "y", "z"]]
TARGETS = [{"b"}, {"q", "z"}]


def test_hit_matrix_marks_targets_and_pads_short_lists():
    hits = hit_matrix([["a", "b"], ["z"]], TARGETS, depth=3)
    assert hits.tolist() == [[False, True, False], [True, False, False]]


def test_metrics_match_hand_worked_values():
    m = ranking_metrics(RANKED, TARGETS, catalog_size=10, ks=(1, 2, 3))
    assert m["recall@1"] == 0.0
    assert m["recall@2"] == pytest.approx(0.5)  # (1/1 + 0/2) / 2
    assert m["recall@3"] == pytest.approx(0.75)  # (1/1 + 1/2) / 2
    u1 = (1 / math.log2(3)) / 1.0
    u2 = (1 / math.log2(4)) / (1.0 + 1 / math.log2(3))  # ideal over min(2 targets, K=3)
    assert m["ndcg@3"] == pytest.approx((u1 + u2) / 2)
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert m["hit_rate@2"] == pytest.approx(0.5)
    assert m["coverage@2"] == pytest.approx(4 / 10)
    assert m["users"] == 2


def test_perfect_ranking_scores_one():
    m = ranking_metrics([["b", "c"]], [{"b", "c"}], catalog_size=2, ks=(2,))
    assert (m["recall@2"], m["ndcg@2"], m["mrr"]) == (1.0, pytest.approx(1.0), 1.0)


def test_no_users_gives_zeros_not_nan():
    m = ranking_metrics([], [], catalog_size=5, ks=(10,))
    assert m == {
        "users": 0.0,
        "recall@10": 0.0,
        "ndcg@10": 0.0,
        "hit_rate@10": 0.0,
        "coverage@10": 0.0,
        "mrr": 0.0,
    }


def test_empty_target_set_is_rejected():
    with pytest.raises(ValueError, match="at least one target"):
        ranking_metrics([["a"]], [set()], catalog_size=1, ks=(1,))
