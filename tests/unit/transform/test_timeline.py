import numpy as np

from components.transform.timeline import lookback

# events (key, time): key 1 at t=10, 30, 20; key 2 at t=5 (twice)
EK = np.array([1, 2, 1, 1, 2])
ET = np.array([10, 5, 30, 20, 5])


def test_only_strictly_earlier_events_of_the_same_key_qualify():
    lb = lookback(EK, ET, np.array([1, 1, 2, 3]), np.array([20, 31, 5, 100]))
    # (1, 20): only t=10 (the event at exactly t=20 is not before the query)
    # (1, 31): t=10, 20, 30; (2, 5): none (both at t=5); (3, .): unknown key
    assert lb.counts.tolist() == [1, 3, 0, 0]


def test_last_k_is_most_recent_first_with_padding():
    lb = lookback(EK, ET, np.array([1, 1]), np.array([31, 11]))
    assert lb.last(2).tolist() == [[2, 3], [0, -1]]  # event indices: t=30 (2), t=20 (3) / t=10


def test_totals_sum_values_of_qualifying_events():
    values = np.array([1.0, 10.0, 100.0, 1000.0, 10000.0])
    lb = lookback(EK, ET, np.array([1, 2]), np.array([31, 6]))
    assert lb.total(values).tolist() == [1101.0, 10010.0]


def test_no_events_at_all():
    lb = lookback(np.array([], np.int64), np.array([], np.int64), np.array([1]), np.array([5]))
    assert lb.counts.tolist() == [0]
    assert lb.last(3).tolist() == [[-1, -1, -1]]
