"""The `make run` summary names the peers and the interval against the strongest one."""

import os

import pipeline
from components.evaluate import documents
from components.evaluate.documents import BlessingDocument, MetricsDocument


def test_summary_lists_candidate_minus_the_strongest_peer(tmp_path):
    run = tmp_path / f"{pipeline.PIPELINE_NAME}-2026-12-02"
    os.makedirs(run / "evaluate")
    figures = {"recall@20": 0.40, "ndcg@20": 0.22, "recall@50": 0.67, "mrr": 0.22}
    peers = {
        "strongest": {"recall@20": {"peer": "item_knn", "candidate_minus_peer": {
            "mean": -0.0593, "low": -0.1188, "high": -0.0022, "confidence": 0.95, "users": 93}}},
        "unavailable": {"ease": "catalog too large"},
    }  # fmt: skip
    documents.write(
        str(run / "evaluate" / "evaluation"),
        MetricsDocument(eval_users=93, models={"candidate": figures, "item_knn": figures},
                        peers=peers),
    )  # fmt: skip
    documents.write(str(run / "evaluate" / "blessing"), BlessingDocument(reasons=["r"]))
    text = pipeline.summarize_local_run(str(tmp_path))
    assert "candidate minus the strongest peer (paired bootstrap interval):" in text
    assert "  recall@20  vs item_knn       -0.0593 [-0.1188, -0.0022] candidate worse" in text
    assert "  peer ease skipped: catalog too large" in text
