import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf

from components.train import scoring


def test_popularity_counts_the_window_before_each_bucket_by_hand():
    # Cut-off day 10, 2-day buckets from day 0: [0,2) [2,4) [4,6) [6,8) [8,10).
    positions = np.array([0, 0, 0, 1])
    days = np.array([1.0, 3.0, 9.0, 9.5])
    t = scoring.popularity_timeline(
        positions, days, items=2, cutoff_day=10.0, bucket_days=2.0, window=1
    )
    counts = np.expm1(t.table).round().astype(int).tolist()
    assert counts == [[0, 0], [1, 0], [1, 0], [0, 0], [0, 0], [1, 1]]
    assert t.serving_row == 5  # the last bucket before the cut-off
    # An example never sees its own bucket: day 9 reads bucket [6, 8), day 3 reads [0, 2).
    assert t.rows(np.array([9.0, 3.0, -50.0])).numpy().tolist() == [4, 1, 0]


def test_popularity_ignores_examples_at_or_after_the_cutoff_and_unknown_items():
    t = scoring.popularity_timeline(
        np.array([0, -1, 0]), np.array([1.0, 1.0, 12.0]), items=1, cutoff_day=10.0,
        bucket_days=5.0, window=2,
    )  # fmt: skip
    assert np.expm1(t.table[t.serving_row]).round().tolist() == [1.0]


def _relations(rows):
    src, dst, kind, rank = zip(*rows, strict=True)
    return pa.table({"src_item": src, "dst_item": dst, "kind": kind, "rank": list(rank)})


def test_neighbour_table_orders_by_rank_then_kind_and_bands_ranks():
    relations = _relations([
        ("a", "c", "also_viewed", 0), ("a", "b", "also_bought", 0), ("a", "z", "also_bought", 1),
        ("b", "a", "also_bought", 7),
    ])  # fmt: skip
    n = scoring.neighbour_table(relations, np.array(["a", "b", "c"], object), width=3)
    assert n.kinds == ("also_bought", "also_viewed")
    # z is not in the catalog; empty slots point past it (3) with class 0.
    assert n.positions.tolist() == [[1, 2, 3], [0, 3, 3], [3, 3, 3]]
    # class = 1 + kind * 3 + band; rank 7 is in the band [5, 20).
    assert n.classes.tolist() == [[1, 4, 0], [2, 0, 0], [0, 0, 0]]
    assert n.n_classes == 7


def test_relation_graph_weighs_kind_and_recency_by_hand():
    relations = _relations([("a", "b", "also_bought", 0), ("a", "c", "also_viewed", 0)])
    neighbours = scoring.neighbour_table(relations, np.array(["a", "b", "c"], object), width=2)
    graph = scoring.RelationGraph(neighbours, recency_buckets=3)
    graph.kind_weight.assign([9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    graph.recency.assign(np.log(np.expm1([1.0, 2.0, 3.0])).astype("float32"))  # softplus^-1
    # One user with history a (recency bucket 1: weight 2), padding (position 3) after it.
    scores = graph(tf.constant([[0, 3]]), tf.constant([[1, 0]])).numpy()
    np.testing.assert_allclose(scores, [[0.0, 2.0 * 1.0, 2.0 * 4.0]], rtol=1e-5)


def test_history_mask_marks_history_and_ignores_padding():
    mask = scoring.history_mask(tf.constant([[0, 2, 3], [3, 3, 3]]), 3).numpy()
    assert mask.tolist() == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]


def test_catalog_positions_leave_out_padding_and_shared_ids():
    # Rows 2 and 3 share id 5 (the OOV bucket): no row for it.
    table = scoring.catalog_positions(np.array([2, 1, 5, 5]), vocab_rows=6)
    assert table.tolist() == [4, 1, 0, 4, 4, 4]


def test_catalog_scorer_adds_bias_and_popularity_to_the_dot_product():
    scorer = scoring.CatalogScorer(items=2, graph=None, popularity=True)
    scorer.bias.assign([0.5, -1.0])
    scorer.popularity_weight.assign(2.0)
    scores = scorer(
        tf.constant([[1.0, 0.0]]), tf.constant([[3.0, 1.0], [0.0, 1.0]]),
        history=tf.constant([[2]]), recency=tf.constant([[0]]),
        popularity=tf.constant([[0.0, 1.5]]),
    )  # fmt: skip
    np.testing.assert_allclose(scores.numpy(), [[3.0 + 0.5, 0.0 - 1.0 + 3.0]])


@pytest.mark.parametrize("width", [1, 2])
def test_neighbour_table_keeps_the_best_ranked_when_lists_are_long(width):
    relations = _relations([("a", "b", "also_bought", 1), ("a", "c", "also_bought", 0)])
    n = scoring.neighbour_table(relations, np.array(["a", "b", "c"], object), width=width)
    assert n.positions[0, 0] == 2  # c, rank 0, first


def test_co_visitation_is_the_item_knn_cosine_by_hand():
    # u1 took a and b, u2 a, b and c, u3 c; u3's d is at the cut-off and x is not in the catalog.
    positions = np.array([0, 1, 0, 1, 2, 2, 3, -1])
    users = np.array(["u1", "u1", "u2", "u2", "u2", "u3", "u3", "u3"], object)
    days = np.array([1.0, 1, 2, 2, 2, 3, 10, 3])
    weights = scoring.co_visitation(
        positions, users, days, items=4, cutoff_day=10.0, neighbours=2
    ).toarray()
    half = 1 / (2 * 2) ** 0.5  # one shared user of two and two
    np.testing.assert_allclose(
        weights,
        [[0, 1, half, 0], [1, 0, half, 0], [half, half, 0, 0], [0, 0, 0, 0]],
        rtol=1e-6,
    )
    # The item-kNN peer's definition: the same matrix from the user x item pairs.
    from components.similarity import cosine_neighbours

    pairs = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 0, 1, 0]], np.float32)
    np.testing.assert_allclose(weights, cosine_neighbours(pairs.T, 2).toarray(), rtol=1e-6)


def test_co_visitation_layer_sums_the_history_neighbours_and_scorer_blends_them():
    import scipy.sparse as sp

    knn = sp.csr_matrix(np.array([[0, 1.0, 0.5], [1.0, 0, 0], [0.5, 0, 0]], np.float32))
    layer = scoring.CoVisitation(knn)
    # Histories: a + b; only c; padding only (position 3).
    history = tf.constant([[0, 1], [2, 3], [3, 3]])
    np.testing.assert_allclose(
        layer(history).numpy(), [[1.0, 1.0, 0.5], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0]]
    )
    scorer = scoring.CatalogScorer(items=3, graph=None, popularity=False, covisit=layer)
    assert not layer.trainable_weights  # never trained: the blend is chosen on validation
    layer.blend.assign(2.0)
    queries, candidates = tf.zeros([3, 2]), tf.zeros([3, 2])
    recency = tf.zeros([3, 2], tf.int32)
    blended = scorer(queries, candidates, history=history, recency=recency, popularity=None)
    np.testing.assert_allclose(blended.numpy()[0], [2.0, 2.0, 1.0])
    plain = scorer(
        queries, candidates, history=history, recency=recency, popularity=None, blend=False
    )
    np.testing.assert_allclose(plain.numpy(), np.zeros([3, 3]))
