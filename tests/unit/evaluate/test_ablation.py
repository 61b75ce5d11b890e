import pytest

from components.evaluate.ablation import (
    ablation_table,
    metric_entries,
    modalities_off,
    table_metrics,
    variant_name,
)

SWITCHABLE = ("profile", "text", "image", "behavior", "relation")


def test_variant_names_say_which_modalities_are_off():
    assert variant_name(["profile", "image", "behavior", "relation"], switchable=SWITCHABLE) == (
        "no_text"
    )
    assert variant_name(["profile", "behavior", "relation"], switchable=SWITCHABLE) == (
        "no_image+text"
    )
    assert variant_name(SWITCHABLE, switchable=SWITCHABLE) == "full"
    assert modalities_off(["text"], switchable=SWITCHABLE) == [
        "behavior",
        "image",
        "profile",
        "relation",
    ]


def test_table_has_values_and_drops_against_the_candidate_on_all_and_warm_targets():
    candidate = {"recall@10": 0.30, "ndcg@10": 0.20, "mrr": 0.5}
    candidate_warm = {"recall@10": 0.40, "ndcg@10": 0.25}
    variants = {"no_text": {"recall@10": 0.25, "ndcg@10": 0.21}}
    variants_warm = {"no_text": {"recall@10": 0.10, "ndcg@10": 0.05}}
    table = ablation_table(candidate, candidate_warm, variants, variants_warm, ks=(10,))
    row = table["no_text"]
    assert row["all"] == {"recall@10": 0.25, "ndcg@10": 0.21}
    assert row["warm"] == {"recall@10": 0.10, "ndcg@10": 0.05}
    assert row["drop"] == pytest.approx({"recall@10": 0.05, "ndcg@10": -0.01})
    assert row["drop_warm"] == pytest.approx({"recall@10": 0.30, "ndcg@10": 0.20})
    assert table_metrics((10, 50)) == ["recall@10", "ndcg@10", "recall@50", "ndcg@50"]


def test_a_variant_without_warm_metrics_is_named():
    with pytest.raises(KeyError, match="no_image"):
        ablation_table(
            {"recall@10": 0.3, "ndcg@10": 0.2},
            {"recall@10": 0.3, "ndcg@10": 0.2},
            {"no_image": {"recall@10": 0.1, "ndcg@10": 0.1}},
            {},
            ks=(10,),
        )


def test_metric_entries_flatten_the_table_for_kfp():
    row = {
        "all": {"recall@10": 0.25},
        "warm": {"recall@10": 0.1},
        "drop": {"recall@10": 0.05},
        "drop_warm": {"recall@10": 0.3},
    }
    assert metric_entries({"no_text": row}) == {
        "ablation_no_text_recall@10": 0.25,
        "ablation_no_text_recall@10_drop": 0.05,
        "ablation_no_text_warm_recall@10": 0.1,
        "ablation_no_text_warm_recall@10_drop": 0.3,
    }
    assert metric_entries({}) == {}
