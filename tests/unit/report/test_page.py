from components.report.page import render_markdown


def test_page_shows_accounting_metrics_and_every_gate_reason():
    text = render_markdown(
        data={
            "tables": {
                "events": {"read": 10, "valid": 8, "quarantined": 2, "by_reason": {"duplicate": 2}}
            },
            "cutoffs": {},
        },
        metrics={
            "schema_version": "1.0",
            "eval_users": 3,
            "catalog_size": 7,
            "models": {"candidate": {"recall@10": 0.25}},
        },
        blessing={"blessed": False, "reasons": ["r1 failed", "r2 ok"]},
        pushed_version=None,
    )
    assert "| events | 10 | 8 | 2 | duplicate: 2 |" in text
    assert "| candidate | 0.2500 |" in text
    assert "**NOT blessed**" in text and "- r1 failed" in text and "- r2 ok" in text
