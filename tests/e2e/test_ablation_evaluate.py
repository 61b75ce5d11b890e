"""Evaluate with a modality ablation variant, on real models trained on the bundled tiny sample.

The real ingest, transform and train stages build the full candidate (the session's
``tiny_model``) and one variant (the same trainer with text off); evaluate ranks both through
their exported SavedModels on the same users and tables the variant against the candidate. The
ranking head is measured through the export's ``ranking`` signature (a model without one is a
reason, not a crash: tests/unit/evaluate).
"""

import json

import pytest

from components.evaluate.config import EvaluateConfig
from components.evaluate.documents import CANDIDATE
from components.evaluate.job import run
from schemas.contract import SWITCHABLE, Modality
from tests import tiny_shop

NAME = "shoprec"
NO_TEXT = ",".join(m.value for m in SWITCHABLE if m is not Modality.TEXT)


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_examples, tiny_model):
    """The session's full model and one variant: the same trainer with text off."""
    work = tmp_path_factory.mktemp("ablation")
    # The variant also trains without the ranking head: its export has no ranking signature.
    no_text = tiny_shop.train(tiny_examples, work / "no_text", "--epochs",
                              str(tiny_shop.TRAIN_EPOCHS), "--modalities", NO_TEXT,
                              "--ranking-weight", "0")  # fmt: skip
    models = {"full": tiny_model, "no_text": no_text}
    return {"data": tiny_examples["data"], "examples": tiny_examples["examples"],
            "models": models, "work": work}  # fmt: skip


def evaluate(world, out, ablation_models):
    metrics, blessing = run(
        data_dir=str(world["data"]),
        examples_dir=str(world["examples"]),
        model_dir=str(world["models"]["full"]),
        model_root=str(out / "root"),
        model_name=NAME,
        metrics_path=str(out / "metrics.json"),
        blessing_path=str(out / "blessing.json"),
        config=EvaluateConfig(infra_requests=0, beat_peers=False),
        ablation_models=ablation_models,
    )
    return {"metrics": metrics.as_dict(), "blessing": blessing.as_dict()}  # as written


@pytest.mark.slow
def test_ablation_table_compares_each_variant_with_the_candidate_on_the_same_users(world, tmp_path):
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    got = evaluate(world, tmp_path, [str(world["models"]["no_text"]), str(broken)])
    metrics = got["metrics"]
    table = metrics["ablation"]
    assert table["modalities_off"] == {"no_text": ["text"]}
    assert table["users"] == metrics["eval_users"] > 20
    assert table["warm_users"] == metrics["warm_eval_users"]
    # A variant that cannot be read is a reason, not a crash, and not a row.
    assert list(table["unavailable"]) == [str(broken)]
    assert "no train manifest" in table["unavailable"][str(broken)]
    row = table["variants"]["no_text"]
    candidate, warm = metrics["models"][CANDIDATE], metrics["models_warm"][CANDIDATE]
    for k in (10, 20, 50, 100):
        for name in (f"recall@{k}", f"ndcg@{k}"):
            assert row["drop"][name] == pytest.approx(candidate[name] - row["all"][name])
            assert row["drop_warm"][name] == pytest.approx(warm[name] - row["warm"][name])
    # Text off is a different model: its rankings differ from the candidate's somewhere.
    assert any(abs(v) > 0 for v in row["drop"].values()), row
    # Reported, not gated: the variant is in no gate reason and not among the gated models.
    assert "no_text" not in metrics["models"]
    assert not any("no_text" in r for r in got["blessing"]["reasons"])
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["ablation"]["variants"]["no_text"] == row


@pytest.mark.slow
def test_without_variants_there_is_no_table_and_the_ranking_head_is_measured(world, tmp_path):
    metrics = evaluate(world, tmp_path, [])["metrics"]
    assert metrics["ablation"] is None
    head = metrics["ranking_head"]
    assert head["examples"] > 0 and head["unavailable"] == {}
    candidate = head["models"][CANDIDATE]
    # Measured through the exported ``ranking`` signature on the eval-window examples.
    assert 0.0 <= candidate["auc"] <= 1.0
    assert 0.0 < candidate["log_loss"] < 10.0
    assert 0.0 < candidate["base_rate"] < 1.0


@pytest.mark.slow
def test_a_model_trained_without_the_ranking_head_exports_no_ranking_signature(world):
    from components.exported_model import ExportedModel
    from components.train.outputs import SERVING_DIR
    from components.train.signatures import RANKING_SIGNATURE

    assert ExportedModel(str(world["models"]["full"] / SERVING_DIR)).has(RANKING_SIGNATURE)
    assert not ExportedModel(str(world["models"]["no_text"] / SERVING_DIR)).has(RANKING_SIGNATURE)
