import re

import pytest

from components.evaluate.bootstrap import Interval
from components.evaluate.config import EvaluateConfig
from components.evaluate.gates import (
    NO_EVAL_USERS,
    NOTHING_IN_SERVICE,
    Comparison,
    FirstNight,
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
        "vs in service v1 (candidate - in service)" in r and "-0.0300 < -0.01" in r
        and ": inconclusive on 500 users" in r
        for r in refused.reasons
    )  # fmt: skip


def test_a_better_candidate_with_a_wide_interval_is_inconclusive_not_a_regression():
    # The case: +0.055 Recall@50 over 119 users, the interval dips below the tolerance.
    wide = Comparison("v1", {"recall@50": ci(0.055, -0.0123, 0.121, users=119)})
    refused = decide(comparison=wide, tolerance=0.005)
    (line,) = [r for r in refused.reasons if "vs in service" in r]
    assert not refused.blessed
    assert "regression" not in line
    assert "+0.0550, 95% CI [-0.0123, +0.1210] over 119 users" in line
    assert "lower bound -0.0123 < -0.005 but upper bound +0.1210 >= 0" in line
    assert "inconclusive on 119 users" in line


def test_a_regression_is_called_so_only_when_the_whole_interval_is_below_zero():
    worse = Comparison("v1", {"recall@50": ci(-0.04, -0.06, -0.02)})
    (line,) = [r for r in decide(comparison=worse).reasons if "vs in service" in r]
    assert line.endswith("whole interval below 0 (upper bound -0.0200): the candidate is "
                         "worse: regression")  # fmt: skip
    fine = Comparison("v1", {"recall@50": ci(0.0, -0.004, 0.004)})
    (line,) = [r for r in decide(comparison=fine).reasons if "vs in service" in r]
    assert line.endswith("lower bound -0.0040 >= -0.01: no regression")


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


def test_an_unreadable_model_in_service_is_a_refusal_not_a_pass():
    b = decide(in_service_problem="model in service v3 cannot be re-evaluated (gone)")
    assert not b.blessed and not b.gate_passed
    assert b.reasons[-1].startswith("model in service v3 cannot be re-evaluated (gone): refused")
    assert "--first-night-by WHO --first-night-reason WHY" in b.reasons[-1]
    assert NOTHING_IN_SERVICE not in b.reasons


def test_a_first_night_bootstrap_is_the_only_way_past_it_and_is_recorded():
    who = FirstNight(by="ana", reason="bucket migrated, LATEST lost")
    b = decide(in_service_problem="LATEST is damaged", first_night=who)
    assert b.blessed and b.gate_passed and b.first_night == who
    assert b.as_dict()["first_night"] == {"by": "ana", "reason": "bucket migrated, LATEST lost"}
    assert "FIRST-NIGHT BOOTSTRAP by ana: bucket migrated, LATEST lost" in b.reasons[-1]
    # Asked for on a healthy night, it is not used (and not recorded).
    healthy = decide(comparison=Comparison("v1", {"recall@50": ci(0.0, -0.001, 0.001)}),
                     first_night=who)  # fmt: skip
    assert healthy.blessed and healthy.first_night is None
    with pytest.raises(GateConfigError, match="both who"):
        FirstNight(by="ana", reason="")
    with pytest.raises(GateConfigError, match="--first-night-reason"):
        EvaluateConfig(first_night_by="ana")


def test_a_protected_slice_with_no_user_today_says_so():
    comparison = Comparison("v1", {"recall@50": ci(0.02, 0.01, 0.03)})
    b = decide(comparison=comparison, protected=("category=toys",))
    assert b.blessed
    assert "protected slice category=toys: no eval user in this slice today" in " ".join(b.reasons)


def test_the_killed_candidate_note_replaces_nothing_in_service():
    b = decide(in_service_note="model in service v3 stays in service (not compared: ...)")
    assert NOTHING_IN_SERVICE not in b.reasons
    assert "model in service v3 stays in service (not compared: ...)" in b.reasons


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


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"thresholds": {"recall@7": 0.1}}, "threshold metric(s) ['recall@7'] are not measured"),
        ({"compared": ("ndcg@500",)}, "compared metric(s) ['ndcg@500'] are not measured"),
        ({"protected_slices": ("activity=frozen",)}, "activity is one of ['new', 'cold'"),
        ({"protected_slices": ("has_social=maybe",)}, "has_social is one of ['yes', 'no']"),
        ({"protected_slices": ("mood=blue",)}, "protected slice 'mood=blue'"),
    ],
)
def test_config_refuses_what_the_gate_could_never_measure(fields, message):
    with pytest.raises(GateConfigError, match=re.escape(message)):
        EvaluateConfig(**fields)


def test_category_slices_take_the_data_s_own_values():
    assert EvaluateConfig(protected_slices=("category=toys",)).protected_slices
