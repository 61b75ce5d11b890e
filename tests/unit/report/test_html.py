import re

import pytest

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.report.html import SECTIONS, render_page
from components.report.personas import Persona, TopValues
from components.report.privacy import Suppressed
from components.report.sections import (
    Rec,
    UserCard,
    privacy_section,
    quality_section,
    recommendations_section,
    users_section,
)

PNG = "data:image/png;base64,iVBORw0KGgo="


def _page(**bodies):
    return render_page(
        title="t", subtitle="s", sections={s: bodies.get(s, "") for s, _ in SECTIONS}
    )


def test_page_has_every_section_in_order_and_refers_to_nothing_outside_itself():
    page = _page(data=f'<img src="{PNG}">')
    ids = re.findall(r'<section id="(\w+)"', page)
    assert ids == [s for s, _ in SECTIONS]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls and all(u.startswith(("#", "data:")) for u in urls), urls
    assert "<script" not in page and "@import" not in page and "url(" not in page


def test_a_missing_section_is_an_error():
    with pytest.raises(KeyError, match="privacy"):
        render_page(title="t", subtitle="s", sections={"data": ""})


def test_values_from_the_data_are_escaped():
    card = UserCard("u<1>", 0, [], [Rec("i&1", "<b>bold</b>", None, 1.0, None, {"text": 0.1})])
    body, _ = recommendations_section([card])
    assert "<b>bold</b>" not in body and "&lt;b&gt;bold&lt;/b&gt;" in body
    assert "u&lt;1&gt;" in body and "i&amp;1" in body
    assert "no image" in body  # the placeholder


def test_small_clusters_and_slices_are_marked_and_counted_not_shown():
    personas = [
        Persona(0, 40, TopValues([("toys", 12)], 3), TopValues([], 0), TopValues([], 0),
                "mid", 20.0, "heavy", 9.0, 1.0),
        Persona(1, Suppressed(10)),
    ]  # fmt: skip
    body, hidden = users_section(personas, map_uri=PNG, users=45, explained=(0.5, 0.2), k=10)
    assert hidden == 1
    assert "suppressed (&lt;10 users)" in body and "toys" in body and "+3 with &lt;k users" in body
    evaluation = MetricsDocument(
        models={"candidate": {"recall@20": 0.2}},
        slices={"activity=cold": {"users": 4, "models": {"candidate": {"recall@20": 0.9}}},
                "activity=warm": {"users": 40, "models": {"candidate": {"recall@20": 0.1}}}},
    )  # fmt: skip
    body, hidden = quality_section(evaluation, BlessingDocument(blessed=False, reasons=["r <1>"]),
                                   charts={"recall": PNG}, k=10)  # fmt: skip
    assert hidden == 1 and "0.900" not in body and "0.100" in body
    assert "NOT BLESSED" in body and "r &lt;1&gt;" in body
    assert "Ranking head" not in body and "ablation" not in body.lower()  # absent: skipped
    assert "cells suppressed" in privacy_section(k=10, suppressed={"quality": 1})


def test_ranking_head_and_ablation_are_rendered_when_present():
    evaluation = MetricsDocument(
        models={"candidate": {"recall@20": 0.2}},
        ranking_head={"models": {"candidate": {"examples": 100, "positives": 20,
                                               "base_rate": 0.2, "auc": 0.71,
                                               "log_loss": 0.4, "base_rate_log_loss": 0.5}}},
        ablation={"rule": "reported, not gated", "modalities_off": {"no_text": ["text"]},
                  "variants": {"no_text": {"all": {"recall@20": 0.15},
                                           "drop": {"recall@20": 0.05}}}},
    )  # fmt: skip
    body, _ = quality_section(evaluation, BlessingDocument(blessed=True, reasons=[]),
                              charts={"recall": PNG}, k=10)  # fmt: skip
    assert "Ranking head" in body and "0.7100" in body
    assert "Modality ablation" in body and "no_text" in body and "+0.0500" in body
