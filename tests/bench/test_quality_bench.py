"""Model quality: planted-signal ablation on the generated shop, and baselines on real data.

Planted signal: the generator gives every user one ``signal_modality`` (text, image, behavior,
relation or id) that alone reveals their taste before the history cut. On the ``make run``
sample (same size, seed and window), the full model, the ID-only model and the full model with
each content modality switched off are trained with the trainer's defaults, and all are scored
on the same eval users through their exported serving models. The figure of merit per modality:
switching it off should hurt the users whose signal lives in it more than everybody else.

Real data: Amazon gift cards and Ciao from ``../shared/data``, ingest's default global temporal
cut-offs (one cut-off for all users), most-popular vs ID-only vs full at K=20.

Nothing here asserts on quality or time: the figures go to ``bench-results/`` and the
README. The only asserts check that the stages ran and that the evaluate CLI and evaluate's core
agree on the same figures.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
import quality

from components.ranking_metrics import DEFAULT_KS
from components.train.config import TrainConfig
from components.train.outputs import MANIFEST
from schemas.contract import SWITCHABLE
from tests.tiny_shop import REPO

SHARED_DATA = REPO.parent / "shared" / "data"

# The Makefile's `make run` sample and trainer defaults (USERS, ITEMS, EVENTS, SEED, EPOCHS).
SHOP = {"users": 2000, "items": 500, "events": 100_000, "seed": 7}
EPOCHS = TrainConfig.epochs
HEADLINE = ("recall@20", "recall@50", "ndcg@20", "ndcg@50")
RECALL = "recall@50"
UNSEEN_USER = "bench-unseen-user"


def off(name: str) -> str:
    """Model name of the full model with content modality ``name`` switched off."""
    return f"no_{name}"


def modalities_without(name: str) -> str:
    """``--modalities`` value: every content modality but ``name``."""
    return ",".join(m.value for m in SWITCHABLE if m.value != name)


def headline(metrics: dict, key: str, names: tuple[str, ...]) -> dict:
    """``{model: {metric: value}}`` from the evaluate CLI's metrics.json section ``key``."""
    return {
        model: {"users": int(values["users"])} | {n: round(values[n], 4) for n in names}
        for model, values in sorted(metrics[key].items())
    }


@pytest.mark.bench
def test_planted_signal_ablation(tmp_path, bench_record, run_measured):
    clock = quality.Clock()
    seconds: dict[str, float] = {}
    raw = tmp_path / "shop"
    quality.timed(
        run_measured,
        quality.stage(
            "sources.generate", *(f"--{k}={v}" for k, v in SHOP.items()), "--out", str(raw)
        ),
        seconds,
        "generate",
    )
    world = json.loads((raw / "_meta.json").read_text())["world"]
    cutoffs = ("--train-end", world["history_cut"], "--eval-end", world["eval_end"])
    data, examples, graph = quality.prepare(
        run_measured, raw, tmp_path, seconds, ingest_args=cutoffs
    )

    plan = {quality.FULL: "all", quality.ID_ONLY: "none"}
    plan |= {off(m.value): modalities_without(m.value) for m in SWITCHABLE}
    models, trained = quality.train_all(
        run_measured, examples, graph, tmp_path / "models", seconds, plan=plan, epochs=EPOCHS
    )
    # evaluate's core in this process and its CLI must agree (same users, same rankings).
    metrics, users, scores = quality.evaluate_and_score(
        run_measured, data, examples, models, tmp_path / "evaluation", seconds,
        ks=DEFAULT_KS, checked=HEADLINE,
    )  # fmt: skip

    truth = pq.read_table(raw / "_truth" / "users.parquet")
    groups, id_match = quality.planted_groups(truth, users)
    by_group = quality.group_means(scores, groups, (RECALL, "ndcg@50"))
    ablation = {}
    for m in SWITCHABLE:
        if m.value not in set(groups.tolist()):
            ablation[m.value] = {"no planted group": True, "all users": by_group["all"]}
            continue
        ablation[m.value] = quality.ablation_row(
            scores[quality.FULL], scores[off(m.value)], groups, m.value, metric=RECALL
        )
    # The "id" group has no switch of its own: its comparison is full vs ID-only.
    versus_id_only = {
        g: quality.ablation_row(
            scores[quality.FULL], scores[quality.ID_ONLY], groups, g, metric=RECALL
        )
        for g in sorted(set(groups.tolist()))
    }
    everybody = np.ones(len(users), dtype=bool)
    overall = {
        rival: quality.paired_drop(scores[quality.FULL], scores[rival], everybody, metric=RECALL)
        for rival in (quality.MOST_POPULAR, quality.ID_ONLY)
    }
    # Diagnostic: the same models with every user id replaced by an unseen one at serving.
    scoring = quality.Clock()
    _, cold = quality.per_user_scores(
        data, examples, models, ks=DEFAULT_KS, unseen_user_id=UNSEEN_USER
    )
    seconds["per_user_scoring_unseen_ids"] = scoring.seconds()
    by_group_unseen = quality.group_means(cold, groups, (RECALL, "ndcg@50"))
    ablation_unseen = {
        m.value: quality.ablation_row(
            cold[quality.FULL], cold[off(m.value)], groups, m.value, metric=RECALL
        )
        for m in SWITCHABLE
        if m.value in set(groups.tolist())
    }
    seconds["total"] = clock.seconds()
    result = {
        "data": {
            **SHOP,
            "window": dict(zip(("train_end", "eval_end"), cutoffs[1::2], strict=True)),
        },
        "epochs": EPOCHS,
        "eval_users": metrics["eval_users"],
        "warm_eval_users": metrics["warm_eval_users"],
        "catalog_size": metrics["catalog_size"],
        "truth_id_match": id_match,
        "models": trained,
        "overall": headline(metrics, "models", HEADLINE),
        "overall_warm": headline(metrics, "models_warm", HEADLINE),
        "full_vs_overall": overall,
        "by_group": by_group,
        "ablation": ablation,
        "full_vs_id_only_by_group": versus_id_only,
        "diagnostic_user_id_unseen_at_serving": {
            "what": f"every request's user_id replaced by {UNSEEN_USER!r} (same trained models)",
            "by_group": by_group_unseen,
            "ablation": ablation_unseen,
        },
        "seconds": seconds,
    }
    bench_record("quality_planted_ablation", result)
    print(json.dumps(result, indent=1))
    assert id_match["unmatched"] == 0, "eval users missing from _truth: ingest changed ids?"


# Real sets: (adapter, folder in ../shared/data, epochs). Ciao (284k events, 105k items) trains at
# the default 3 epochs in about 3 min per model here (1 epoch measured: 64 s for 226k examples),
# so it runs whole, not subsampled; BENCH_CIAO_EPOCHS overrides the epochs on a slower machine.
CIAO_EPOCHS = int(os.environ.get("BENCH_CIAO_EPOCHS", str(EPOCHS)))
REAL = [
    pytest.param("amazon", "amazon2018-giftcards", EPOCHS, id="amazon-giftcards"),
    pytest.param("ciao", "ciao", CIAO_EPOCHS, id="ciao"),
]


@pytest.mark.bench
@pytest.mark.parametrize(("adapter", "folder", "epochs"), REAL)
def test_real_data_baselines(tmp_path, bench_record, run_measured, adapter, folder, epochs):
    src = SHARED_DATA / folder
    if not src.is_dir():
        pytest.skip(f"{src} is absent (the real public sets live in ../shared/data)")
    clock = quality.Clock()
    seconds: dict[str, float] = {}
    raw = tmp_path / "raw"
    quality.timed(
        run_measured,
        quality.stage("sources.adapt", adapter, "--src", str(src), "--out", str(raw)),
        seconds,
        "adapt",
    )
    data, examples, graph = quality.prepare(run_measured, raw, tmp_path, seconds, ingest_args=())
    ingest = json.loads((data / "manifest.json").read_text())
    plan = {quality.FULL: "all", quality.ID_ONLY: "none"}
    models, trained = quality.train_all(
        run_measured, examples, graph, tmp_path / "models", seconds, plan=plan, epochs=epochs
    )
    for name in plan:
        assert (models[name] / MANIFEST).is_file()
    metrics, users, scores = quality.evaluate_and_score(
        run_measured, data, examples, models, tmp_path / "evaluation", seconds,
        ks=DEFAULT_KS, checked=("recall@20",),
    )  # fmt: skip
    everybody = np.ones(len(users), dtype=bool)
    # Paired bootstrap 95% intervals over eval users (all targets): is a gap more than noise?
    paired = {
        f"{a}_minus_{b}": {
            n: quality.paired_drop(scores[a], scores[b], everybody, metric=n)
            for n in ("recall@20", "ndcg@20")
        }
        for a, b in (
            (quality.FULL, quality.ID_ONLY),
            (quality.FULL, quality.MOST_POPULAR),
            (quality.ID_ONLY, quality.MOST_POPULAR),
        )
    }
    seconds["total"] = clock.seconds()
    names = ("recall@20", "ndcg@20", "recall@50", "ndcg@50")
    result = {
        "data": folder,
        "split": "ingest default global temporal cut-offs (one time for all users)",
        "train_end": ingest.get("train_end"),
        "eval_end": ingest.get("eval_end"),
        "events_valid": ingest["tables"]["events"]["valid"],
        "epochs": epochs,
        "epochs_note": (
            "trainer default" if epochs == EPOCHS else f"{epochs} epoch(s) (BENCH_CIAO_EPOCHS)"
        ),
        "eval_users": metrics["eval_users"],
        "warm_eval_users": metrics["warm_eval_users"],
        "catalog_size": metrics["catalog_size"],
        "models": trained,
        "all_targets": headline(metrics, "models", names),
        "warm_targets": headline(metrics, "models_warm", names),
        "paired_differences": paired,
        "seconds": seconds,
    }
    bench_record(f"quality_real_{folder}", result)
    print(json.dumps(result, indent=1))
