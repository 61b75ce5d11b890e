"""The ranking head's metrics (pure), the catalog join, and the ranking signature of an export.

The export test saves a real SavedModel with a ``ranking`` signature whose probability is a
known function of one candidate feature, so the served probabilities and AUC are hand-checked.
"""

import math

import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf

from components.evaluate.exported import ModelUnusable, score_ranking_head
from components.evaluate.ranking_head import (
    RankingHeadError,
    example_labels,
    head_metrics,
    metric_entries,
    with_catalog_content,
)
from components.exported_model import ExportedModel, ServingInputError
from components.train.export import CANDIDATE_SPEC, QUERY_SPEC
from components.train.signatures import (
    OUTPUT_ITEM_IDS,
    OUTPUT_PROBABILITY,
    OUTPUT_SCORES,
    RANKING_SIGNATURE,
    SERVING_SIGNATURE,
)
from components.transform.examples import to_feature_table
from schemas import features as fs
from schemas.tables import ITEM_ID, USER_ID


def test_auc_log_loss_and_base_rate_by_hand():
    labels = np.array([1, 0, 1, 0])
    probabilities = np.array([0.9, 0.2, 0.4, 0.6])
    got = head_metrics(labels, probabilities)
    # Positive/negative pairs ranked right: (0.9>0.2), (0.9>0.6), (0.4>0.2); wrong: (0.4<0.6).
    assert got.auc == pytest.approx(3 / 4)
    expected = -np.mean([math.log(0.9), math.log(0.8), math.log(0.4), math.log(0.4)])
    assert got.log_loss == pytest.approx(expected)
    assert (got.examples, got.positives, got.base_rate) == (4, 2, 0.5)
    assert got.base_rate_log_loss == pytest.approx(math.log(2))
    assert got.note is None


def test_one_class_leaves_auc_undefined_with_the_reason():
    got = head_metrics(np.ones(3), np.array([0.9, 0.5, 1.0]))
    assert got.auc is None and got.note == "AUC undefined: every label is 1"
    assert np.isfinite(got.log_loss)  # p=1.0 is clipped, not log(0)
    assert "ranking_auc" not in metric_entries(got.as_dict())


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([], [], "no labelled eval examples"),
        ([1, 0], [0.5], "1 probabilities for 2"),
        ([1, 2], [0.5, 0.5], "labels must be 0 or 1"),
        ([1, 0], [0.5, np.nan], "1 non-finite"),
    ],
)
def test_bad_input_says_what_is_wrong(labels, probabilities, message):
    with pytest.raises(RankingHeadError, match=message):
        head_metrics(np.array(labels), np.array(probabilities))


def test_metric_entries_for_kfp():
    got = head_metrics(np.array([1, 0]), np.array([0.8, 0.3])).as_dict()
    entries = metric_entries(got)
    assert entries["ranking_auc"] == 1.0 and entries["ranking_base_rate"] == 0.5
    assert entries["ranking_examples"] == 2.0
    assert metric_entries(None) == {}


def rows(items: list[str], *, labels: list[float], events: list[float]) -> pa.Table:
    n = len(items)
    return to_feature_table(
        {
            USER_ID: pa.array([f"u{i}" for i in range(n)]),
            ITEM_ID: pa.array(items),
            fs.N_EVENTS: pa.array(events, pa.float32()),
            fs.LABEL: pa.array(labels, pa.float32()),
        },
        n,
    )


def test_catalog_content_fills_static_candidate_features_and_counts_unknown_items():
    examples = rows(["b", "x", "a"], labels=[1, 0, 0], events=[3, 2, 1])
    catalog = to_feature_table(
        {
            ITEM_ID: pa.array(["a", "b"]),
            fs.BRAND: pa.array(["acme", "bolt"]),
            fs.N_EVENTS: pa.array([9, 9], pa.float32()),
        },
        2,
    )
    filled, missing = with_catalog_content(examples, catalog)
    assert missing == 1
    brands = [v[0] for v in filled[fs.BRAND].to_pylist()]
    placeholder = examples[fs.BRAND].to_pylist()[1][0]
    assert brands == [b"bolt", placeholder, b"acme"]
    # Query features (as of each example) and labels stay the example's own.
    assert filled[fs.N_EVENTS].to_pylist() == [[3.0], [2.0], [1.0]]
    assert example_labels(filled).tolist() == [1.0, 0.0, 0.0]
    assert filled.schema == examples.schema


class ActivityHead(tf.Module):
    """A stand-in export: ranking probability = sigmoid(n_events - 2)."""

    @tf.function(input_signature=[QUERY_SPEC])
    def recommend(self, raw):
        n = tf.shape(raw[USER_ID])[0]
        return {
            OUTPUT_ITEM_IDS: tf.fill([n, 1], "a"),
            OUTPUT_SCORES: tf.zeros([n, 1]),
        }

    @tf.function(input_signature=[{**QUERY_SPEC, **CANDIDATE_SPEC}])
    def rank(self, raw):
        return {OUTPUT_PROBABILITY: tf.sigmoid(raw[fs.N_EVENTS] - 2.0)}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    head = ActivityHead()
    tf.saved_model.save(
        head,
        str(root / "with"),
        signatures={SERVING_SIGNATURE: head.recommend, RANKING_SIGNATURE: head.rank},
    )
    tf.saved_model.save(head, str(root / "without"), signatures={SERVING_SIGNATURE: head.recommend})
    return root


def test_the_ranking_signature_serves_probabilities_that_give_the_head_metrics(exports):
    model = ExportedModel(str(exports / "with"), batch_size=3)
    table = rows(["a", "b", "c", "d"], labels=[1, 0, 1, 0], events=[4, 1, 2, 3])
    got = model.conversion_probabilities(table)  # two batches
    assert got == pytest.approx(1 / (1 + np.exp(-(np.array([4, 1, 2, 3]) - 2.0))), abs=1e-6)
    doc = score_ranking_head(model, table)
    # Positives score 4 and 2, negatives 1 and 3: three of four pairs in the right order.
    assert doc["auc"] == pytest.approx(0.75) and doc["examples"] == 4


def test_an_export_without_the_ranking_signature_is_a_reason_not_a_crash(exports):
    model = ExportedModel(str(exports / "without"), batch_size=8)
    assert not model.has(RANKING_SIGNATURE)
    table = rows(["a"], labels=[1], events=[1])
    with pytest.raises(ServingInputError, match="no 'ranking' signature"):
        model.conversion_probabilities(table)
    with pytest.raises(ModelUnusable, match="no 'ranking' signature"):
        score_ranking_head(model, table)
