from components.report.privacy import Suppressed, count_suppressed, is_shown, suppress_counts


def test_cells_under_k_are_replaced_by_a_marker_zero_and_k_itself_are_kept():
    cells = suppress_counts({"a": 12, "b": 9, "c": 0, "d": 10}, k=10)
    assert cells == {"a": 12, "b": Suppressed(10), "c": 0, "d": 10}
    assert count_suppressed(cells) == 1
    assert str(cells["b"]) == "suppressed (<10 users)"


def test_k_is_configurable():
    assert suppress_counts({"a": 3}, k=3) == {"a": 3}
    assert suppress_counts({"a": 3}, k=4) == {"a": Suppressed(4)}
    assert not is_shown(1, k=2) and is_shown(2, k=2)
