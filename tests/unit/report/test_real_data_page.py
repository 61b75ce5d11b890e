"""The analyst page on real data (issue #16): each point seen in Chromium, one test each."""

import numpy as np
import pytest

from components.evaluate.bootstrap import Interval
from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.evaluate.gates import Comparison, decide_blessing
from components.report import charts, plots, verdicts
from components.report.page import render_markdown
from components.report.personas import Persona, TopValues
from components.report.sections import (
    data_section,
    quality_section,
    short_labels,
    training_section,
    users_section,
)

PNG = "data:image/png;base64,AAAA"
DATA_CHARTS = {"quarantine": PNG, "timeline": PNG, "popularity": PNG}


def _extent(fig, artist):
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def test_quarantine_legend_is_not_drawn_over_the_bars():
    # The gift cards run: the long bar is the last row, where a "lower right" legend sat.
    manifest = {"tables": {"users": {}, "items": {}, "events": {"by_reason": {"duplicate": 3}},
                           "reviews": {"by_reason": {"missing_required": 6, "duplicate": 3}},
                           "user_relations": {},
                           "item_relations": {"by_reason": {"unknown_item": 43_111}}}}  # fmt: skip
    fig = plots.quarantine_figure(charts.quarantine_matrix(manifest))
    (ax,) = fig.axes
    legend = _extent(fig, ax.get_legend())
    bars = [_extent(fig, p) for p in ax.patches if p.get_width() > 0]
    assert bars and not any(legend.overlaps(b) for b in bars)


def test_cutoff_labels_close_together_on_a_long_axis_do_not_overlap():
    days = np.arange(np.datetime64("2012-01-01"), np.datetime64("2018-08-22"))
    cutoffs = {
        "validation start": "2017-04-01T00:00:00+00:00",
        "train end": "2017-10-19T00:00:00+00:00",
        "eval end": "2017-11-02T00:00:00+00:00",
    }
    fig = plots.timeline_figure(days, np.ones(len(days)), cutoffs)
    labels = [_extent(fig, t) for t in fig.axes[0].texts]
    assert len(labels) == 3
    assert not any(a.overlaps(b) for i, a in enumerate(labels) for b in labels[i + 1 :])
    assert charts.label_tiers([0.0, 1.0, 50.0], span=100.0) == [0, 1, 0]
    assert charts.label_tiers([0.0, 30.0], span=100.0, widths=[0.4, 0.1]) == [0, 1]


def test_items_never_interacted_are_not_drawn_on_the_log_axis():
    curve = charts.popularity_curve([40, 3, 1], catalog_size=100)
    fig = plots.popularity_figure(curve)
    ax = fig.axes[0]
    (line,) = ax.get_lines()
    assert min(line.get_ydata()) >= 1 and len(line.get_ydata()) == 3
    assert any("97 items" in t.get_text() for t in ax.texts)


def test_head_shares_are_over_interacted_items_when_few_have_any():
    # 2 of 100 items interacted: over the catalog "the top 10%" holds everything.
    curve = charts.popularity_curve([5, 1], catalog_size=100)
    assert curve.head_share(0.1) == 1.0
    assert curve.interacted_head_share(0.1) == pytest.approx(5 / 6)
    body, _ = data_section({"tables": {}}, {}, popularity=curve, charts=DATA_CHARTS, k=10)
    assert "<b>83.3%</b><span>on their top 10%</span>" in body
    assert "top 1% of interacted items" in body
    assert "2 / 100" in body and "(2.0%)" in body


def test_truncated_category_names_never_read_the_same():
    a = "Clothing, Shoes & Jewelry/Women/Clothing/Tops, Tees & Blouses/T-Shirts"
    b = "Clothing, Shoes & Jewelry/Women/Clothing/Tops, Tees & Blouses/Blouses"
    c = "Clothing, Shoes & Jewelry/Women/Clothing/Tops, Tees & Blouses/Tanks & Camis"
    labels = short_labels([a, b, c])
    assert len(set(labels.values())) == 3
    assert all(len(v) <= 48 for v in labels.values())
    assert labels[a].endswith("T-Shirts") and labels[b].endswith("Blouses")
    # Elided labels that would still collide keep their whole text.
    d, e = "x" * 60 + "/a/b", "x" * 60 + "/c/b"
    assert short_labels([d, e]) == {d: d, e: e}
    personas = [
        Persona(0, 20, TopValues([(a, 12)], 0), None, None, "", None, "light", 1.0),
        Persona(1, 20, TopValues([(b, 11)], 0), None, None, "", None, "light", 1.0),
    ]
    body, _ = users_section(
        personas, map_uri=PNG, users=40, explained=(0.5, 0.2), k=10, priced_items=0
    )
    assert "T-Shirts" in body and "/Blouses" in body


def test_train_and_validation_loss_a_factor_of_seven_apart_get_an_axis_each():
    loss = charts.Series("loss", [1000.0, 900.0, 850.0], [7000.0, 6800.0, 6900.0])
    assert charts.needs_own_axis(loss) and charts.level_ratio(loss) == pytest.approx(7.67, 0.01)
    assert not charts.needs_own_axis(charts.Series("loss", [3.0, 2.0], [3.5, 2.5]))
    fig = plots.history_figure([loss], title="loss per epoch")
    assert len(fig.axes) == 2  # the validation curve's own (right) axis
    body, _ = training_section(losses=[loss], metrics=[], train={}, charts={"losses": PNG})
    assert "own (right) axis" in body and "7.7 times" in body


def test_history_with_validation_ranking_metrics_is_read_not_crashed_on():
    epochs = [{"recall@20": 0.30, "ndcg@20": 0.16}, {"recall@20": 0.32, "ndcg@20": 0.19}]
    history = {"loss": [5.0, 4.7], "validation": epochs}
    losses, metrics = charts.history_series(history)
    assert [s.name for s in losses] == ["loss"] and metrics == []
    validation = charts.validation_series(history)
    assert [(s.name, s.validation) for s in validation] == [
        ("recall@20", [0.30, 0.32]),
        ("ndcg@20", [0.16, 0.19]),
    ]
    # Today's layout: one number per epoch, the selection fit's curves under validation_<metric>
    # (three epochs tried, two run in the final fit).
    history = {"loss": [5.0, 4.7], "validation_ndcg@20": [0.16, 0.19, 0.18],
               "validation_recall@20": [0.30, 0.32, 0.31]}  # fmt: skip
    losses, metrics = charts.history_series(history)
    assert [s.name for s in losses] == ["loss"] and metrics == []
    validation = charts.validation_series(history)
    assert [(s.name, s.validation) for s in validation] == [
        ("recall@20", [0.30, 0.32, 0.31]),
        ("ndcg@20", [0.16, 0.19, 0.18]),
    ]


def _interval(mean, low, high, users=50):
    return Interval(mean=mean, low=low, high=high, confidence=0.95, users=users)


def test_gate_reasons_are_marked_passed_failed_or_note():
    candidate = {"recall@20": 0.30, "ndcg@20": 0.10}
    blessing = decide_blessing(
        candidate,
        thresholds={"recall@20": 0.2, "ndcg@20": 0.2},
        compared=("recall@20",),
        tolerance=0.01,
        peers={"ease": {"recall@20": 0.35, "ndcg@20": 0.12}},
        comparison=Comparison(
            "v1", {"recall@20": _interval(0.01, -0.005, 0.02)},
            {"category=Toys": {"recall@20": _interval(-0.2, -0.3, -0.1)},
             "category=Books": {"recall@20": _interval(0.0, -0.1, 0.1)}},
        ),
        slice_users={"category=Toys": 40, "category=Books": 3},
        slice_tolerance=0.05,
        min_slice_users=10,
        infra=(True, "served 32 requests"),
    )  # fmt: skip
    statuses = {r: verdicts.reason_status(r) for r in blessing.reasons}
    assert [statuses[r] for r in blessing.reasons] == [
        "fail",  # ndcg@20 below its threshold
        "pass",  # recall@20 above its threshold
        "fail",  # below the strongest peer
        "pass",  # no regression against the model in service
        "note",  # a protected slice too small to judge
        "fail",  # a protected slice that regressed
        "pass",  # infra validation
    ]
    body, _ = quality_section(
        MetricsDocument(eval_users=50), blessing, charts={"recall": PNG}, k=10
    )
    assert body.count("\u2717 FAIL") == 3 and body.count("\u2713 pass") == 3
    text = render_markdown(
        data={}, metrics=MetricsDocument(), blessing=blessing, pushed_version=None
    )
    assert "- \u2717 FAIL: ndcg@20 0.1000 < threshold 0.2000" in text


def test_slices_holding_every_judged_user_are_named_not_tabled():
    evaluation = MetricsDocument(
        eval_users=93,
        models={"candidate": {"recall@20": 0.4}},
        slices={
            "has_social=no": {"users": 93, "models": {"candidate": {"recall@20": 0.4}}},
            "category=Gift Cards": {"users": 93, "models": {"candidate": {"recall@20": 0.4}}},
            "activity=cold": {"users": 54, "models": {"candidate": {"recall@20": 0.3}}},
        },
    )
    body, _ = quality_section(evaluation, BlessingDocument(), charts={"recall": PNG}, k=10)
    assert "<td>activity=cold</td>" in body
    assert "<td>has_social=no</td>" not in body
    assert "Not tabled: has_social=no, category=Gift Cards: each holds every judged user" in body


def test_price_band_says_why_it_is_missing():
    personas = [Persona(0, 20, TopValues([], 0), None, None, "", None, "light", 1.0)]
    body, _ = users_section(
        personas, map_uri=PNG, users=20, explained=(0.5, 0.2), k=10, priced_items=0
    )
    assert "n/a: no catalog item has a price" in body
    body, _ = users_section(
        personas, map_uri=PNG, users=20, explained=(0.5, 0.2), k=10, priced_items=5
    )
    assert "n/a: no item these users touched has a price" in body


def test_quarantine_headline_is_broken_down_by_table_with_the_dominant_reason():
    manifest = {
        "tables": {
            "events": {"read": 2_972, "valid": 2_969, "quarantined": 3,
                       "by_reason": {"duplicate": 3}},
            "item_relations": {"read": 55_779, "valid": 12_668, "quarantined": 43_111,
                               "by_reason": {"unknown_item": 43_100, "duplicate": 11}},
        }
    }  # fmt: skip
    parts = charts.quarantine_breakdown(manifest)
    assert [(q.table, q.reason, q.reason_rows) for q in parts] == [
        ("item_relations", "unknown_item", 43_100),
        ("events", "duplicate", 3),
    ]
    curve = charts.popularity_curve([1])
    body, _ = data_section(manifest, {}, popularity=curve, charts=DATA_CHARTS, k=10)
    assert "73.4% of all rows read were quarantined" in body
    assert (
        "<b>item_relations</b>: 43,111 of its 55,779 rows (77.3%), 100.0% of all quarantined; "
        "mostly <b>unknown_item</b> (43,100: it names an item that is not in the catalog)" in body
    )
    text = render_markdown(
        data=manifest, metrics=MetricsDocument(), blessing=BlessingDocument(), pushed_version=None
    )
    assert "- item_relations: 43,111 of 55,779 (77.3%)" in text and "mostly unknown_item" in text


def test_ranking_head_worse_than_the_base_rate_is_flagged():
    head = {"models": {
        "candidate": {"examples": 100, "positives": 81, "base_rate": 0.81, "auc": 0.55,
                      "log_loss": 0.669, "base_rate_log_loss": 0.451},
        "id_only": {"examples": 100, "positives": 81, "base_rate": 0.81, "auc": 0.6,
                    "log_loss": 0.40, "base_rate_log_loss": 0.451},
    }}  # fmt: skip
    body, _ = quality_section(
        MetricsDocument(ranking_head=head), BlessingDocument(), charts={"recall": PNG}, k=10
    )
    assert body.count("worse than predicting the base rate") == 1
    assert "0.669 &gt; 0.451" in body


def test_the_page_says_what_it_knows_of_the_push():
    blessed = BlessingDocument(blessed=True)
    assert verdicts.push_note(blessed, "v7") == "Pushed version: v7."
    assert "push step runs after this page" in verdicts.push_note(blessed, None)
    assert verdicts.push_note(BlessingDocument(), None).startswith("Not pushed: the gate")
    text = render_markdown(
        data={}, metrics=MetricsDocument(), blessing=blessed, pushed_version=None
    )
    assert "Pushed version: none" not in text and "push step runs after this page" in text


PEERS = {
    "rule": "peers fitted on the train window",
    "validation_users": 114,
    "chosen": {
        "most_popular": {"setting": {}, "tried": [], "problem": None},
        "item_knn": {"setting": {"neighbours": 100}, "tried": [], "problem": None},
        "ease": {"setting": None, "tried": [], "problem": "catalog of 90,000 items > 20,000"},
    },
    "unavailable": {"ease": "catalog of 90,000 items > 20,000"},
    "extras_vs_strongest": {"id_only": {"recall@20": {"peer": "item_knn", "model_minus_peer": {
        "mean": -0.07, "low": -0.12, "high": -0.02, "confidence": 0.95, "users": 93}}}},
    "strongest": {
        "recall@20": {"peer": "item_knn", "candidate_minus_peer": {
            "mean": -0.0593, "low": -0.1188, "high": -0.0022, "confidence": 0.95, "users": 93}},
        "ndcg@20": {"peer": "item_knn", "candidate_minus_peer": {
            "mean": 0.01, "low": -0.02, "high": 0.04, "confidence": 0.95, "users": 93}},
    },
}  # fmt: skip


def _peer_metrics() -> MetricsDocument:
    return MetricsDocument(
        eval_users=93,
        models={
            "candidate": {"recall@20": 0.3975, "ndcg@20": 0.2246},
            "most_popular": {"recall@20": 0.3849, "ndcg@20": 0.2084},
            "item_knn": {"recall@20": 0.4568, "ndcg@20": 0.2671},
        },
        peers=PEERS,
    )


def test_peers_and_the_interval_against_the_strongest_appear_in_page_markdown_and_cli():
    body, _ = quality_section(_peer_metrics(), BlessingDocument(), charts={"recall": PNG}, k=10)
    assert "Peers: the simple recommenders to beat" in body
    assert "<td>neighbours=100</td>" in body and "strongest on recall@20, ndcg@20" in body
    assert "skipped: catalog of 90,000 items &gt; 20,000" in body
    assert "<td>-0.0593</td><td>[-0.1188, -0.0022]</td>" in body.replace(' class="n"', "")
    assert "candidate worse" in body and "no clear difference" in body
    text = render_markdown(
        data={}, metrics=_peer_metrics(), blessing=BlessingDocument(), pushed_version=None
    )
    assert "## Peers" in text
    assert (
        "| item_knn | neighbours=100 | 0.4568 | 0.2671 | strongest on recall@20, ndcg@20 |" in text
    )
    assert "| recall@20 | item_knn | -0.0593 | [-0.1188, -0.0022] | 93 | candidate worse |" in text
    extra = "| id_only | recall@20 | item_knn | -0.0700 | [-0.1200, -0.0200] | 93 | id_only worse |"
    assert extra in text
    assert "Other models minus the strongest peer (reported, not gated)" in body
    lines = verdicts.peer_summary_lines(_peer_metrics())
    assert "  recall@20  vs item_knn       -0.0593 [-0.1188, -0.0022] candidate worse" in lines
    assert "  peer ease skipped: catalog of 90,000 items > 20,000" in lines


def test_text_columns_dominated_by_one_value_or_markup_are_flagged_on_the_page():
    flag = "dominated by one value (93.0% of filled rows: '<span class=\"a\"')"
    quality = {"tables": {"items": {"text": {"title": {"flags": [flag]}}}}}
    body, _ = data_section(
        {"tables": {}}, quality, popularity=charts.popularity_curve([1]), charts=DATA_CHARTS, k=10
    )
    assert "Text columns to check" in body
    assert "items.title: dominated by one value (93.0% of filled rows: &#x27;&lt;span" in body


def test_set_up_says_when_the_image_modality_has_nothing_to_learn_from():
    config = {"config": {"modalities": ["behavior", "image", "text"]}}
    images = {"bytes": 0, "embedding": 0, "uri": 660}
    body, _ = training_section(losses=[], metrics=[], train=config, charts={"losses": PNG},
                               images=images)  # fmt: skip
    assert "no catalog item has image bytes or an image embedding" in body
    assert "660 items have only an image URL, which the pipeline does not fetch" in body
    body, _ = training_section(losses=[], metrics=[], train=config, charts={"losses": PNG},
                               images={"bytes": 100, "embedding": 0, "uri": 0})  # fmt: skip
    assert "sees only blanks" not in body


def test_epochs_are_the_ones_the_final_fit_ran():
    train = {"epochs": 2, "config": {"epochs": 3}, "selection": {"best_epoch": 2}}
    assert verdicts.trained_epochs(train) == (2, "chosen on validation, of 3 tried")
    assert verdicts.trained_epochs({"epochs": 3, "config": {"epochs": 3}}) == (3, "configured")
    body, _ = training_section(losses=[], metrics=[], train=train, charts={"losses": PNG})
    assert "<b>2</b><span>epochs (chosen on validation, of 3 tried)</span>" in body


def test_an_item_without_a_title_is_named_by_its_category():
    import pyarrow as pa

    from components.report.job import ItemLookup
    from schemas import ITEMS

    schema = ITEMS.arrow_schema()
    rows = {"item_id": ["1", "2", "3"], "title": [None, "Mug", None],
            "category": ["Books", "Kitchen", None]}  # fmt: skip
    items = pa.table(
        {f.name: pa.array(rows.get(f.name, [None] * 3), f.type) for f in schema}, schema=schema
    )
    lookup = ItemLookup(items, size=40)
    assert [lookup[i][0] for i in ("1", "2", "3")] == ["[Books]", "Mug", ""]
