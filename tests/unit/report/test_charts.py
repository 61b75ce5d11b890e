import numpy as np
import pytest

from components.report.charts import (
    daily_counts,
    history_series,
    popularity_curve,
    quarantine_matrix,
)


def test_quarantine_matrix_orders_reasons_by_total_and_keeps_tables_without_any():
    manifest = {
        "tables": {
            "users": {"by_reason": {"duplicate": 1}},
            "events": {"by_reason": {"duplicate": 2, "unknown_item": 5}},
            "reviews": {"by_reason": {}},
        }
    }
    m = quarantine_matrix(manifest)
    assert m.tables == ["users", "events", "reviews"]
    assert m.reasons == ["unknown_item", "duplicate"]
    assert m.counts.tolist() == [[0, 1], [5, 2], [0, 0]]
    assert m.total == 8


def test_popularity_curve_counts_untouched_catalog_items_and_gives_head_shares():
    curve = popularity_curve([1, 6, 3], catalog_size=5)
    assert curve.counts.tolist() == [6, 3, 1, 0, 0]
    assert curve.cumulative_share.tolist() == pytest.approx([0.6, 0.9, 1.0, 1.0, 1.0])
    assert curve.head_share(0.2) == pytest.approx(0.6)  # top 1 of 5 items
    assert curve.head_share(0.01) == pytest.approx(0.6)  # at least one item
    assert popularity_curve([]).head_share(0.1) == 0.0


def test_history_pairs_train_with_validation_and_drops_flat_zero_curves():
    history = {
        "loss": [3.0, 2.0],
        "total_loss": [3.0, 2.0],
        "regularization_loss": [0.0, 0.0],
        "ranking_auc": [0.5, 0.6],
        "val_loss": [3.5, 2.5],
        "val_ranking_auc": [0.55, 0.58],
    }
    losses, metrics = history_series(history)
    assert [(s.name, s.train, s.validation) for s in losses] == [("loss", [3.0, 2.0], [3.5, 2.5])]
    assert [(s.name, s.validation) for s in metrics] == [("ranking_auc", [0.55, 0.58])]


def test_daily_counts_fill_empty_days_with_zeros():
    stamps = np.array(["2024-01-01T10:00", "2024-01-01T23:59", "2024-01-03T00:00"],
                      dtype="datetime64[us]")  # fmt: skip
    days, counts = daily_counts(stamps)
    assert days.astype(str).tolist() == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert counts.tolist() == [2, 0, 1]
