from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.report.page import render_markdown


def test_page_shows_accounting_metrics_and_every_gate_reason():
    text = render_markdown(
        data={
            "tables": {
                "events": {"read": 10, "valid": 8, "quarantined": 2, "by_reason": {"duplicate": 2}}
            },
            "cutoffs": {},
        },
        metrics=MetricsDocument(
            schema_version="1.0",
            eval_users=3,
            catalog_size=7,
            models={"candidate": {"recall@10": 0.25}},
        ),
        blessing=BlessingDocument(blessed=False, reasons=["r1 failed", "r2 ok"]),
        pushed_version=None,
    )
    assert "| events | 10 | 8 | 2 | duplicate: 2 |" in text
    assert "| candidate | 0.2500 |" in text
    assert "**NOT blessed**" in text
    assert "- \u00b7 note: r1 failed" in text and "- \u00b7 note: r2 ok" in text


def test_extras_list_training_and_personas_with_small_clusters_marked():
    from components.report.page import render_markdown_extras
    from components.report.personas import Persona, TopValues
    from components.report.privacy import Suppressed

    text = render_markdown_extras(
        train={"examples": 1200, "config": {"epochs": 3}, "train_seconds": 12.5, "final_loss": 2.0},
        personas=[
            Persona(
                0, 40, TopValues([("toys", 12), ("games", 11)], 0), None, None, "low", 5.0, "heavy"
            ),
            Persona(1, Suppressed(10)),
        ],
        k=10,
    )
    assert "1,200 examples, 3 epochs (configured), 12.5 s fit, final loss 2." in text
    assert "| 0 | 40 | toys, games | heavy | low |" in text
    assert "| 1 | suppressed (<10 users) |" in text
