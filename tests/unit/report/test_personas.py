from collections import Counter

import numpy as np
import pytest

from components.report.personas import (
    build_personas,
    cluster_count,
    cluster_users,
    sample_users,
    tokenize,
    top_values,
)
from components.report.privacy import Suppressed


def test_values_are_counted_once_per_user_and_shown_only_with_k_users():
    values = {"u1": ["shoes", "shoes", "hats"], "u2": ["shoes"], "u3": ["hats", "bags"]}
    got = top_values(values, ["u1", "u2", "u3"], k=2, top_n=5)
    # shoes: u1 (twice, counted once) + u2 = 2; hats: u1 + u3 = 2; bags: u3 only -> hidden
    assert got.shown == [("hats", 2), ("shoes", 2)]
    assert got.hidden == 1
    assert top_values(values, ["u1", "u2", "u3"], k=2, top_n=1).shown == [("hats", 2)]


def test_tokenize_drops_stopwords_short_words_and_digits():
    assert tokenize("The cat's 2 HATS and a mat42 of joy") == ["cat", "hats", "mat", "joy"]


def _people(n, prefix):
    return [f"{prefix}{i:02d}" for i in range(n)]


def test_personas_describe_clusters_of_k_users_and_suppress_smaller_ones():
    big, small = _people(4, "b"), _people(2, "s")
    clusters = {**dict.fromkeys(big, 0), **dict.fromkeys(small, 1)}
    got = build_personas(
        clusters,
        categories_of={u: ["toys"] for u in big} | {"s00": ["toys"]},
        brands_of={"b00": ["acme"], "b01": ["acme"], "b02": ["acme"], "b03": ["zeta"]},
        words_of={u: ["lego"] for u in big[:3]},
        prices_of={"b00": [10.0, 30.0], "b01": [20.0], "b02": [40.0], "b03": [50.0]},
        events_of={"b00": 10, "b01": 10, "b02": 12, "b03": 14, "s00": 1, "s01": 2},
        degree_of={"b00": 2, "b01": 4},
        price_edges=(25.0, 45.0),
        k=3,
        top_n=3,
    )
    assert [p.cluster for p in got] == [0, 1]
    big_persona, small_persona = got
    assert big_persona.users == 4
    assert big_persona.categories.shown == [("toys", 4)]
    assert big_persona.brands.shown == [("acme", 3)] and big_persona.brands.hidden == 1
    assert big_persona.words.shown == [("lego", 3)]
    # per-user median prices 20, 20, 40, 50 -> median 30: between the tertiles -> mid
    assert big_persona.median_price == 30.0 and big_persona.price_band == "mid"
    # all users' event tertiles: quantiles of [10,10,12,14,1,2] at 1/3, 2/3 = 6.67, 10.67;
    # the cluster's median 11 is above -> heavy
    assert big_persona.median_events == 11.0 and big_persona.activity == "heavy"
    assert big_persona.social_degree == 1.5  # (2 + 4 + 0 + 0) / 4
    assert small_persona.users == Suppressed(3) and not small_persona.shown
    assert small_persona.categories is None  # nothing about a small cluster is computed


def test_clusters_are_numbered_by_size_and_the_same_for_the_same_seed():
    rng = np.random.default_rng(0)
    a = rng.normal(loc=(5, 5, 0), scale=0.1, size=(30, 3))
    b = rng.normal(loc=(-5, 0, 5), scale=0.1, size=(10, 3))
    x = np.concatenate([b, a])  # the smaller group first
    got = cluster_users(x, clusters=2, seed=7)
    assert got.coords.shape == (40, 2)
    assert (got.labels[10:] == 0).all() and (got.labels[:10] == 1).all()
    assert sum(got.explained) > 0.95
    again = cluster_users(x, clusters=2, seed=7)
    assert (again.labels == got.labels).all() and np.allclose(again.coords, got.coords)


def test_cluster_count_leaves_at_least_k_users_per_cluster_on_average():
    assert cluster_count(1000, wanted=6, k=10) == 6
    assert cluster_count(35, wanted=6, k=10) == 3
    assert cluster_count(5, wanted=6, k=10) == 1


def test_sample_is_deterministic_per_seed_and_covers_each_cluster_asked():
    clusters = {f"u{i}": i % 3 for i in range(30)}
    got = sample_users(clusters, [0, 2], per_cluster=2, seed=1)
    assert [c for _, c in got] == [0, 0, 2, 2]
    assert all(clusters[u] == c for u, c in got)
    assert got == sample_users(dict(reversed(clusters.items())), [0, 2], per_cluster=2, seed=1)
    assert got != sample_users(clusters, [0, 2], per_cluster=2, seed=2)


def test_with_a_population_values_are_ranked_by_lift_not_by_count():
    # "great": every one of 10 users (cluster of 4 has all 4); "pizza": 3 of 10, all here.
    everybody = {f"u{i}": ["great"] for i in range(10)}
    for u in ("u0", "u1", "u2"):
        everybody[u] = ["great", "pizza"]
    members = ["u0", "u1", "u2", "u3"]
    population = (Counter(v for vs in everybody.values() for v in set(vs)), 10)
    got = top_values(everybody, members, k=3, top_n=2, population=population)
    # lifts: pizza (3/4) / (3/10) = 2.5, great (4/4) / (10/10) = 1.0
    assert got.shown == [("pizza", 3), ("great", 4)]
    assert got.lifts == pytest.approx({"pizza": 2.5, "great": 1.0})
    assert top_values(everybody, members, k=3, top_n=2).shown == [("great", 4), ("pizza", 3)]
