import pytest

from components.evaluate.gates import NOTHING_IN_SERVICE, GateConfigError, decide_blessing

CANDIDATE = {"recall@50": 0.30, "ndcg@50": 0.10}


def test_first_model_is_judged_on_thresholds_alone():
    b = decide_blessing(
        CANDIDATE,
        thresholds={"recall@50": 0.2},
        in_service=None,
        compared=("recall@50",),
        tolerance=0.01,
    )
    assert b.blessed
    assert NOTHING_IN_SERVICE in b.reasons


def test_threshold_miss_blocks_and_says_why():
    b = decide_blessing(
        CANDIDATE, thresholds={"recall@50": 0.35}, in_service=None, compared=(), tolerance=0.0
    )
    assert not b.blessed
    assert "recall@50 0.3000 < threshold 0.3500" in b.reasons


def test_regression_beyond_tolerance_blocks_every_reason_reported():
    b = decide_blessing(
        CANDIDATE,
        thresholds={"recall@50": 0.1},
        in_service={"recall@50": 0.32, "ndcg@50": 0.15},
        compared=("recall@50", "ndcg@50"),
        tolerance=0.03,
    )
    assert not b.blessed  # recall within tolerance (0.30 >= 0.29), ndcg is not (0.10 < 0.12)
    assert any("recall@50" in r and "no regression" in r for r in b.reasons)
    assert any("ndcg@50" in r and r.endswith(": regression") for r in b.reasons)


def test_unknown_metric_is_a_config_error():
    with pytest.raises(GateConfigError, match="recall@7"):
        decide_blessing(
            CANDIDATE, thresholds={"recall@7": 0.1}, in_service=None, compared=(), tolerance=0.0
        )


def test_losing_to_the_popularity_baseline_blocks():
    b = decide_blessing(
        CANDIDATE,
        thresholds={},
        in_service=None,
        compared=("recall@50",),
        tolerance=0.0,
        baseline={"recall@50": 0.31},
    )
    assert not b.blessed
    assert "recall@50 0.3000 < most-popular baseline 0.3100" in b.reasons
