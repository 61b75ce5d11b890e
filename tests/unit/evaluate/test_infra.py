from components.evaluate.infra import check_served

CATALOG = {"a", "b", "c"}


def test_a_good_batch_passes():
    assert check_served([["a", "b"], ["c", "a"]], [[2, 1], [3, 3]], rows=2, catalog=CATALOG) is None


def test_each_kind_of_bad_batch_is_named():
    cases = {
        "served 1 lists for 2 requests": ([["a"]], [[1.0]]),
        "unequal or zero length": ([["a"], ["a", "b"]], [[1.0], [1.0, 0.5]]),
        "not in the catalog": ([["a"], ["zz"]], [[1.0], [1.0]]),
        "non-finite": ([["a"], ["b"]], [[1.0], [float("nan")]]),
        "not best first": ([["a", "b"], ["b", "c"]], [[1.0, 2.0], [1.0, 0.0]]),
    }
    for expected, (ids, scores) in cases.items():
        assert expected in check_served(ids, scores, rows=2, catalog=CATALOG)
