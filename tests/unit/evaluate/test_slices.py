import numpy as np
import pyarrow as pa
import pytest

from components.evaluate import slices
from components.protocol import EvalSet

EVAL = EvalSet(
    users=["u1", "u2", "u3"],
    history=[{"h"}, {"h"}, {"h"}],
    targets=[{"a", "b"}, {"c"}, {"a", "c"}],
)
RANKED = [["a", "x", "b"], ["x", "y", "z"], ["c", "a", "x"]]


def test_activity_tiers_use_inclusive_thresholds():
    tier = [slices.activity_tier(n, cold_max=5, heavy_min=50) for n in (0, 1, 5, 6, 49, 50)]
    assert tier == ["new", "cold", "cold", "warm", "warm", "heavy"]


def test_user_slices_group_positions_and_omit_empty_ones():
    got = slices.user_slices(
        EVAL,
        activity={"u1": 2, "u2": 60, "u3": 10},
        reviewers={"u2"},
        linked={"u1", "u3", "stranger"},
        cold_max=5,
        heavy_min=50,
    )
    by_name = {s.name: s.users.tolist() for s in got}
    assert by_name == {
        "activity=cold": [0],
        "activity=heavy": [1],
        "activity=warm": [2],
        "has_reviews=no": [0, 2],
        "has_reviews=yes": [1],
        "has_social=no": [1],
        "has_social=yes": [0, 2],
    }


def test_target_slices_cut_targets_and_metrics_follow_by_hand():
    got = {
        s.name: s
        for s in slices.target_slices(
            EVAL, category={"a": "toys", "b": "books", "c": "toys"}, with_image={"a"}
        )
    }
    toys = got["category=toys"]
    assert toys.users.tolist() == [0, 1, 2]
    assert toys.targets == [{"a"}, {"c"}, {"a", "c"}]
    assert got["category=books"].targets == [{"b"}]
    assert got["target_has_image=yes"].users.tolist() == [0, 2]
    m = slices.slice_per_user(RANKED, EVAL, toys, ks=(2,))
    # u1: a at rank 1 -> 1/1; u2: miss; u3: c, a at ranks 1, 2 -> 2/2.
    assert m["recall@2"].tolist() == [1.0, 0.0, 1.0]
    books = slices.slice_per_user(RANKED, EVAL, got["category=books"], ks=(2, 3))
    assert books["recall@2"].tolist() == [0.0]  # b is third
    assert books["ndcg@3"].tolist() == pytest.approx([1 / np.log2(4)])


def test_item_facts_from_the_items_table():
    items = pa.table(
        {
            "item_id": ["i1", "i2", "i3"],
            "category": ["toys/cars", None, "/odd"],
            "image_bytes": [b"png", None, None],
            "image_uri": [None, None, "gs://x"],
            "image_embedding": [None, None, None],
        }
    )
    assert slices.items_with_image(items) == {"i1", "i3"}
    assert slices.item_categories(items) == {"i1": "toys", "i2": "(none)", "i3": "(none)"}
