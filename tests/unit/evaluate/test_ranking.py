import numpy as np
import pytest

from components.evaluate.ranking import complete_rankings

ITEMS = ["a", "b", "c", "d", "e"]
# One 1-d query: scores are the item embeddings times 2 -> order e, d, c, b, a.
EMB = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]], dtype=np.float32)
Q = np.array([[2.0]], dtype=np.float32)


def test_serving_top_k_is_completed_from_embeddings_past_history():
    got = complete_rankings(
        [["e", "d"]], np.array([[1.0, 0.8]]), Q, ITEMS, EMB, [{"d", "b"}], depth=3
    )
    # serving e, d (d seen) -> e; then c (b seen), a.
    assert got.ranked == [["e", "c", "a"]]
    assert (got.inconsistent_users, got.completed) == (0, 1)


def test_a_serving_index_that_disagrees_with_the_embeddings_is_flagged():
    wrong_scores = complete_rankings(
        [["e", "d"]], np.array([[9.0, 0.8]]), Q, ITEMS, EMB, [set()], depth=2
    )
    not_top = complete_rankings(
        [["a", "b"]], np.array([[0.2, 0.4]]), Q, ITEMS, EMB, [set()], depth=2
    )
    unknown = complete_rankings([["zz"]], np.array([[1.0]]), Q, ITEMS, EMB, [set()], depth=1)
    assert [r.inconsistent_users for r in (wrong_scores, not_top, unknown)] == [1, 1, 1]
    assert wrong_scores.max_score_gap == pytest.approx(8.0)
