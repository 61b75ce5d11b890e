import pytest

from components.evaluate.bootstrap import Interval
from components.evaluate.config import EvaluateConfig
from components.evaluate.gates import (
    NO_EVAL_USERS,
    NOTHING_IN_SERVICE,
    Comparison,
    ForceBless,
    GateConfigError,
    decide_blessing,
)

CANDIDATE = {"recall@50": 0.30, "ndcg@50": 0.10}


def ci(mean, low, high, users=500):
    return Interval(mean=mean, low=low, high=high, confidence=0.95, users=users)


def decide(**kw):
    args = {"thresholds": {}, "compared": ("recall@50",), "tolerance": 0.01} | kw
    return decide_blessing(CANDIDATE, **args)


def test_first_model_is_judged_on_thresholds_alone():
    b = decide(thresholds={"recall@50": 0.2})
    assert b.blessed and NOTHING_IN_SERVICE in b.reasons


def test_threshold_miss_blocks_and_says_why():
    b = decide(thresholds={"recall@50": 0.35})
    assert not b.blessed
    assert "recall@50 0.3000 < threshold 0.3500" in b.reasons


def test_non_inferiority_uses_the_lower_bound_of_the_interval():
    # Same mean drop (-0.004), tolerance 0.01: a tight interval passes, a wide one refuses.
    tight = Comparison("v1", {"recall@50": ci(-0.004, -0.009, 0.001)})
    wide = Comparison("v1", {"recall@50": ci(-0.004, -0.030, 0.022)})
    assert decide(comparison=tight).blessed
    refused = decide(comparison=wide)
    assert not refused.blessed
    assert any(
        "vs in service v1 (candidate - in service)" in r and r.endswith(": regression")
        for r in refused.reasons
    )


def test_every_compared_metric_is_checked_and_reported():
    comparison = Comparison(
        "v1", {"recall@50": ci(0.01, 0.0, 0.02), "ndcg@50": ci(-0.03, -0.05, -0.01)}
    )
    b = decide(compared=("recall@50", "ndcg@50"), comparison=comparison)
    assert not b.blessed
    assert [r.split(" ")[0] for r in b.reasons if "in service v1" in r] == ["recall@50", "ndcg@50"]


def test_protected_slice_refuses_a_real_and_material_drop_only():
    headline = {"recall@50": ci(0.02, 0.01, 0.03)}
    worse = Comparison("v1", headline, {"activity=cold": {"recall@50": ci(-0.05, -0.08, -0.02)}})
    noisy = Comparison("v1", headline, {"activity=cold": {"recall@50": ci(-0.05, -0.12, 0.02)}})
    small = Comparison("v1", headline, {"activity=cold": {"recall@50": ci(-0.2, -0.3, -0.1)}})
    kw = {"slice_tolerance": 0.02, "min_slice_users": 30}
    assert not decide(comparison=worse, slice_users={"activity=cold": 100}, **kw).blessed
    assert decide(comparison=noisy, slice_users={"activity=cold": 100}, **kw).blessed
    got = decide(comparison=small, slice_users={"activity=cold": 12}, **kw)
    assert got.blessed and any("12 users < 30; not judged" in r for r in got.reasons)


def test_unknown_metric_is_a_config_error():
    with pytest.raises(GateConfigError, match="recall@7"):
        decide(thresholds={"recall@7": 0.1})


def test_losing_to_the_strongest_peer_blocks_and_names_it():
    peers = {"most_popular": {"recall@50": 0.12}, "ease": {"recall@50": 0.31}}
    b = decide(peers=peers, peer_intervals={"recall@50": ci(-0.01, -0.02, 0.0)})
    assert not b.blessed
    assert b.reasons[1].startswith(
        "recall@50 0.3000 < strongest peer ease 0.3100 (candidate - ease"
    )


def test_beating_every_peer_passes_and_the_tolerance_allows_a_shortfall():
    peers = {"most_popular": {"recall@50": 0.12}, "item_knn": {"recall@50": 0.29}}
    assert "recall@50 0.3000 >= strongest peer item_knn 0.2900" in decide(peers=peers).reasons
    close = {"ease": {"recall@50": 0.305}}
    assert not decide(peers=close).blessed
    assert decide(peers=close, peer_tolerance=0.01).blessed


def test_unusable_model_in_service_is_a_reason_not_a_crash():
    b = decide(in_service_problem="model in service v3 cannot be re-evaluated (gone)")
    assert b.blessed and b.reasons[-1].startswith("model in service v3 cannot")


def test_no_eval_users_is_never_blessed_even_without_thresholds():
    b = decide(eval_users=0)
    assert not b.blessed and NO_EVAL_USERS in b.reasons


def test_force_bless_overrides_the_gate_and_is_recorded_but_never_infra():
    force = ForceBless(by="ana", reason="planned: new catalog")
    forced = decide(thresholds={"recall@50": 0.9}, force=force, infra=(True, "ok"))
    assert forced.blessed and not forced.gate_passed and forced.forced == force
    assert forced.as_dict()["forced"] == {"by": "ana", "reason": "planned: new catalog"}
    assert "FORCE-BLESSED by ana: planned: new catalog" in forced.reasons
    broken = decide(force=force, infra=(False, "exited 1"))
    assert not broken.blessed and broken.forced is None
    assert "infra validation FAILED: exited 1" in broken.reasons


def test_force_bless_needs_who_and_why():
    with pytest.raises(GateConfigError, match="both who"):
        EvaluateConfig(force_bless_by="ana")
    with pytest.raises(GateConfigError, match="both who"):
        ForceBless(by="ana", reason=" ")
    assert EvaluateConfig(force_bless_by="ana", force_bless_reason="x").force.by == "ana"


def test_config_parses_pipeline_parameters_and_rejects_unknown_slices():
    c = EvaluateConfig.from_json(
        '{"recall@50": 0.1}', protected_slices="activity=cold, has_social=no"
    )
    assert c.protected_slices == ("activity=cold", "has_social=no")
    assert EvaluateConfig.from_json("{}", protected_slices="").protected_slices == ()
    with pytest.raises(GateConfigError, match="protected slice 'mood=blue'"):
        EvaluateConfig.from_json("{}", protected_slices="mood=blue")
    with pytest.raises(GateConfigError, match="not a JSON object"):
        EvaluateConfig.from_json("[1]")
