import numpy as np
import pytest

from components.evaluate.bootstrap import paired_intervals, resample_means


def test_constant_difference_has_a_zero_width_interval():
    ours = {"r": np.array([0.5, 0.3, 0.9])}
    theirs = {"r": np.array([0.4, 0.2, 0.8])}
    got = paired_intervals(ours, theirs, ("r",), resamples=200, seed=1, confidence=0.95)["r"]
    assert (got.mean, got.low, got.high) == pytest.approx((0.1, 0.1, 0.1))
    assert got.users == 3


def test_two_user_case_matches_the_exact_resampling_distribution():
    # Differences [0, 1]: a resample of 2 users has mean 0 (p=1/4), 0.5 (1/2) or 1 (1/4).
    means = resample_means(np.array([[0.0], [1.0]]), resamples=20_000, seed=3)[:, 0]
    share = {v: float(np.mean(means == v)) for v in (0.0, 0.5, 1.0)}
    assert share[0.0] == pytest.approx(0.25, abs=0.01)
    assert share[0.5] == pytest.approx(0.50, abs=0.01)
    assert share[1.0] == pytest.approx(0.25, abs=0.01)
    got = paired_intervals(
        {"r": np.array([1.0, 1.0])},
        {"r": np.array([1.0, 0.0])},
        ("r",),
        resamples=1000,
        seed=3,
        confidence=0.95,
    )["r"]
    # The 2.5% and 97.5% percentiles fall inside the 1/4 masses at 0 and 1.
    assert (got.mean, got.low, got.high) == (0.5, 0.0, 1.0)


def test_pairing_removes_between_user_variance():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 500)  # users differ a lot; the models differ by +0.01 everywhere
    got = paired_intervals(
        {"r": base + 0.01}, {"r": base}, ("r",), resamples=300, seed=0, confidence=0.95
    )["r"]
    assert got.low == pytest.approx(0.01) and got.high == pytest.approx(0.01)


def test_same_seed_same_interval_and_metrics_share_resamples():
    values = np.random.default_rng(1).normal(size=(50, 2))
    a = resample_means(values, resamples=100, seed=9)
    b = resample_means(values, resamples=100, seed=9, chunk=7)
    np.testing.assert_array_equal(a, b)
    same = resample_means(np.repeat(values[:, :1], 2, axis=1), resamples=100, seed=9)
    np.testing.assert_array_equal(same[:, 0], same[:, 1])


def test_no_users_is_an_error():
    with pytest.raises(ValueError, match="users > 0"):
        resample_means(np.zeros((0, 1)), resamples=10, seed=0)
