"""Model-quality benchmark helpers: run the stage CLIs, score exported models per user group.

The stages run as their command-line entry points (``python -m components.<stage>``), exactly as
``make run`` chains them. Metrics come from the evaluate component: its CLI for the headline
figures (all and warm targets, every model through its exported SavedModel), and its parts
(``protocol``, ``exported.rank_with_model``, ``metrics``, ``bootstrap``) for figures per planted
group, which the CLI does not slice by. The two are cross-checked to agree on the overall figures.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.evaluate.bootstrap import paired_intervals
from components.ingest import layout
from components.protocol import build_eval_set, requests_for
from components.ranking_metrics import per_user_metrics
from components.sources.truth import SIGNAL_MODALITY
from components.transform.outputs import requests_path
from schemas import EVENTS, ITEMS
from schemas.tables import IMAGE_BYTES, IMAGE_EMBEDDING, USER_ID

Runner = Callable[[list[str]], dict]

FULL = "full"
ID_ONLY = "id_only"
OTHER = "other"  # eval users the truth table does not know (none expected)


def stage(module: str, *args: str) -> list[str]:
    """The command line of ``python -m components.<module> args...`` in this interpreter."""
    return [sys.executable, "-m", f"components.{module}", *args]


def timed(run: Runner, cmd: list[str], seconds: dict[str, float], name: str) -> dict:
    """Run ``cmd`` with ``run`` and store its wall time under ``seconds[name]``."""
    out = run(cmd)
    seconds[name] = round(out["wall_s"], 1)
    return out


def prepare(
    run: Runner, raw: pathlib.Path, work: pathlib.Path, seconds: dict, *, ingest_args: Sequence[str]
) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    """Ingest then transform ``raw`` under ``work``; returns (data, examples, transform graph)."""
    data, examples, graph = work / "data", work / "examples", work / "transform_graph"
    timed(
        run,
        stage("ingest", "--input", str(raw), "--out", str(data), "--quiet", *ingest_args),
        seconds,
        "ingest",
    )
    flags = ("--data", str(data), "--examples", str(examples), "--transform-graph", str(graph))
    timed(run, stage("transform", *flags), seconds, "transform")
    return data, examples, graph


def train(
    run: Runner,
    examples: pathlib.Path,
    graph: pathlib.Path,
    model_dir: pathlib.Path,
    seconds: dict,
    *,
    name: str,
    modalities: str,
    epochs: int,
    flags: Sequence[str] = (),
) -> dict:
    """Train one model with the trainer's defaults but ``modalities``, ``epochs`` and ``flags``.

    Returns:
        The trainer's manifest (``model_dir/manifest.json``).
    """
    timed(
        run,
        stage(
            "train",
            "--examples",
            str(examples),
            "--transform-graph",
            str(graph),
            "--model",
            str(model_dir),
            "--modalities",
            modalities,
            "--epochs",
            str(epochs),
            *flags,
        ),
        seconds,
        f"train_{name}",
    )
    return json.loads((model_dir / "manifest.json").read_text())


def train_all(
    run: Runner,
    examples: pathlib.Path,
    graph: pathlib.Path,
    models_dir: pathlib.Path,
    seconds: dict,
    *,
    plan: dict[str, str],
    epochs: int,
    flags: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, pathlib.Path], dict[str, dict]]:
    """Train one model per ``plan`` entry (name -> modalities) under ``models_dir``.

    ``flags`` adds train flags per name (e.g. ``--seed``).

    Returns:
        ``(model directory per name, {name: modalities, train seconds, examples})``.
    """
    models, trained = {}, {}
    for name, modalities in plan.items():
        models[name] = models_dir / name
        manifest = train(
            run, examples, graph, models[name], seconds,
            name=name, modalities=modalities, epochs=epochs, flags=(flags or {}).get(name, ()),
        )  # fmt: skip
        trained[name] = {
            "modalities": modalities,
            "flags": list((flags or {}).get(name, ())),
            "train_seconds": manifest.get("train_seconds"),
            "examples": manifest.get("examples"),
            "epochs_chosen": manifest.get("epochs"),
            "validation_curve": [
                round(c.get("recall@20", 0.0), 4)
                for c in (manifest.get("selection") or {}).get("curve", [])
            ],
        }
    return models, trained


def evaluate_cli(
    run: Runner,
    data: pathlib.Path,
    examples: pathlib.Path,
    models: Mapping[str, pathlib.Path],
    out: pathlib.Path,
    seconds: dict,
    *,
    candidate: str = FULL,
) -> dict:
    """The evaluate CLI on ``models`` (``candidate`` as the candidate, the rest as extras).

    No model is in service (an empty model root) and nothing is gated: only the metrics matter.

    Returns:
        ``metrics.json`` with the candidate renamed from ``candidate`` to its own name.
    """
    extras = [
        arg
        for name, path in sorted(models.items())
        if name != candidate
        for arg in ("--extra-model", f"{name}={path}")
    ]
    timed(
        run,
        stage(
            "evaluate",
            "--data",
            str(data),
            "--examples",
            str(examples),
            "--model",
            str(models[candidate]),
            "--model-root",
            str(out / "no-model-in-service"),
            "--out",
            str(out),
            "--no-beat-peers",
            *extras,
        ),
        seconds,
        "evaluate_cli",
    )
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("models", "models_warm"):
        metrics[key][candidate] = metrics[key].pop("candidate")
    if metrics.get("unavailable"):
        raise AssertionError(f"evaluate could not rank: {metrics['unavailable']}")
    return metrics


def per_user_scores(
    data: pathlib.Path,
    examples: pathlib.Path,
    models: Mapping[str, pathlib.Path],
    *,
    ks: Sequence[int],
    batch_size: int = 512,
    unseen_user_id: str | None = None,
) -> tuple[list[str], dict[str, dict[str, np.ndarray]]]:
    """Per-user metrics of every model, through the exported serving models.

    The same protocol and ranking path as ``components.evaluate.job.run`` (eval set from the
    ingest split, requests as of the cut-off, serving top-K completed from the embeddings,
    history removed).

    Args:
        unseen_user_id: When given, every request's user id is replaced by this id (one the
            models never saw), so the user-id embedding carries nothing and only the content
            features (history, text, friends, profile) place the user: a diagnostic of how much
            of a group's signal the id embedding absorbs.

    Returns:
        ``(eval users sorted by id, {model: {"recall@50": [users], ...}})``.
    """
    from components.evaluate.exported import rank_with_model  # TensorFlow: only when scoring

    before = layout.read_table(data, EVENTS.name, layout.TRAIN)
    eval_set = build_eval_set(before, layout.read_table(data, EVENTS.name, layout.EVAL))
    requests = requests_for(
        pq.read_table(requests_path(str(examples), layout.EVAL)), eval_set.users
    )
    if unseen_user_id is not None:
        column = requests.schema.get_field_index(USER_ID)
        unseen = pa.array([unseen_user_id] * requests.num_rows, requests.schema.field(column).type)
        requests = requests.set_column(column, USER_ID, unseen)
    depth = max(ks)
    scores = {}
    for name, model_dir in models.items():
        ranked, _ = rank_with_model(
            str(model_dir), requests, eval_set, depth=depth, batch_size=batch_size
        )
        scores[name] = per_user_metrics(ranked, eval_set.targets, ks=ks)
    return eval_set.users, scores


def evaluate_and_score(
    *cli: object, ks: Sequence[int], checked: Sequence[str]
) -> tuple[dict, list[str], dict[str, dict[str, np.ndarray]]]:
    """The evaluate CLI's metrics and this process's per-user scores of the same models.

    ``cli`` is ``evaluate_cli``'s positional arguments (run, data, examples, models, out,
    seconds). Both must agree (same users; the mean of each ``checked`` metric per model), so
    the per-user figures a benchmark slices are the ones evaluate reports.

    Returns:
        ``(metrics.json, eval users, per-user scores)``.
    """
    data, examples, models, seconds = cli[1], cli[2], cli[3], cli[5]
    metrics = evaluate_cli(*cli)
    scoring = Clock()
    users, scores = per_user_scores(data, examples, models, ks=ks)
    seconds["per_user_scoring"] = scoring.seconds()
    if len(users) != metrics["eval_users"]:
        raise AssertionError(f"{len(users)} users scored, evaluate had {metrics['eval_users']}")
    for name, values in scores.items():
        for metric in checked:
            here, there = float(values[metric].mean()), metrics["models"][name][metric]
            if abs(here - there) > 1e-9:
                raise AssertionError(f"{name} {metric}: {here} here, {there} from evaluate")
    return metrics, users, scores


def planted_groups(truth_users: pa.Table, eval_users: Sequence[str]) -> tuple[np.ndarray, dict]:
    """Each eval user's ``signal_modality`` (``other`` when the truth lacks the id), and counts.

    Returns:
        ``([users] object array of group names, {"matched": n, "unmatched": n})``.
    """
    group_of = dict(
        zip(
            truth_users[USER_ID].to_pylist(),
            truth_users[SIGNAL_MODALITY].to_pylist(),
            strict=True,
        )
    )
    groups = np.array([group_of.get(u, OTHER) for u in eval_users], dtype=object)
    matched = int(sum(u in group_of for u in eval_users))
    return groups, {"matched": matched, "unmatched": len(eval_users) - matched}


def group_means(
    scores: Mapping[str, Mapping[str, np.ndarray]], groups: np.ndarray, names: Sequence[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{group: {model: {metric: mean}}}`` for each group, plus ``all``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for group in ["all", *sorted(set(groups.tolist()))]:
        mask = np.ones(len(groups), bool) if group == "all" else groups == group
        out[group] = {
            model: {"users": int(mask.sum())}
            | {n: round(float(values[n][mask].mean()), 4) for n in names}
            for model, values in scores.items()
        }
    return out


def paired_drop(
    full: Mapping[str, np.ndarray],
    other: Mapping[str, np.ndarray],
    mask: np.ndarray,
    *,
    metric: str,
    resamples: int = 1000,
    seed: int = 7,
) -> dict:
    """``full - other`` on the users in ``mask``, with a paired bootstrap 95% interval.

    Uses evaluate's ``paired_intervals`` (the gate's comparison).
    """
    a, b = full[metric][mask], other[metric][mask]
    drop = paired_intervals(
        {metric: a}, {metric: b}, (metric,), resamples=resamples, seed=seed, confidence=0.95
    )[metric]
    return {
        "users": int(mask.sum()),
        "full": round(float(a.mean()), 4),
        "other": round(float(b.mean()), 4),
        "drop": round(drop.mean, 4),
        "drop_ci95": [round(drop.low, 4), round(drop.high, 4)],
    }


def ablation_row(
    full: Mapping[str, np.ndarray],
    off: Mapping[str, np.ndarray],
    groups: np.ndarray,
    own: str,
    *,
    metric: str,
) -> dict:
    """Full vs one modality off on the group whose signal is ``own``, and on everybody else.

    The drops are ``full - off`` (positive = switching the modality off hurts).
    """
    row: dict[str, object] = {"metric": metric}
    for side, mask in (("own", groups == own), ("others", groups != own)):
        row[side] = paired_drop(full, off, mask, metric=metric)
    row["drop_own_gt_drop_others"] = bool(row["own"]["drop"] > row["others"]["drop"])
    row["own_drop_ci_excludes_0"] = bool(row["own"]["drop_ci95"][0] > 0)
    return row


# The shop with one of its two image inputs taken away (item columns nulled before ingest): what
# the full model gets from the pixels alone, and from the precomputed embeddings alone.
IMAGE_INPUT_VARIANTS = {
    "pixels_only": (IMAGE_EMBEDDING,),
    "embedding_only": (IMAGE_BYTES,),
}


def shop_without(raw: pathlib.Path, out: pathlib.Path, columns: Sequence[str]) -> pathlib.Path:
    """A copy of the generated shop ``raw`` at ``out`` whose items have ``columns`` all null.

    Raises:
        ValueError: an items file is not Parquet (the generator's default format).
    """
    shutil.copytree(raw, out, ignore=shutil.ignore_patterns(ITEMS.name))
    (out / ITEMS.name).mkdir()
    for part in sorted((raw / ITEMS.name).iterdir()):
        if part.suffix != ".parquet":
            raise ValueError(f"{part}: only Parquet item files are rewritten")
        rows = pq.read_table(part)
        for column in columns:
            index = rows.schema.get_field_index(column)
            field = rows.schema.field(index)
            rows = rows.set_column(index, field, pa.nulls(rows.num_rows, field.type))
        pq.write_table(rows, out / ITEMS.name / part.name)
    return out


def image_input_variants(
    run: Runner,
    raw: pathlib.Path,
    work: pathlib.Path,
    seconds: dict,
    *,
    ingest_args: Sequence[str],
    epochs: int,
    ks: Sequence[int],
) -> tuple[list[str], dict[str, dict[str, np.ndarray]], dict[str, dict]]:
    """The full model trained on each ``IMAGE_INPUT_VARIANTS`` copy of ``raw``, scored per user.

    The events are the same in every copy, so the eval users are too.

    Returns:
        ``(eval users, {variant: per-user scores}, {variant: trainer manifest})``.
    """
    users: list[str] | None = None
    scores, trained = {}, {}
    for name, columns in IMAGE_INPUT_VARIANTS.items():
        spent = seconds.setdefault(name, {})
        shop = shop_without(raw, work / name / "raw", columns)
        data, examples, graph = prepare(run, shop, work / name, spent, ingest_args=ingest_args)
        model = work / name / "model"
        trained[name] = train(
            run, examples, graph, model, spent, name=FULL, modalities="all", epochs=epochs
        )
        these, by_model = per_user_scores(data, examples, {name: model}, ks=ks)
        if users is not None and these != users:
            raise AssertionError(f"{name}: other eval users than the other variants")
        users = these
        scores[name] = by_model[name]
    return users or [], scores, trained


class Clock:
    """Wall time since construction, in seconds rounded to 0.1."""

    def __init__(self) -> None:
        """Start now."""
        self._start = time.perf_counter()

    def seconds(self) -> float:
        """Seconds elapsed."""
        return round(time.perf_counter() - self._start, 1)


def peer_summary(
    metrics: Mapping, names: Sequence[str], *, candidate: str = FULL, first: bool = True
) -> dict:
    """The peers of one evaluate run, as seen by one model (``candidate``: evaluate_cli's name).

    ``first``: the model is evaluate's candidate (``peers.strongest``), else an extra model
    (``peers.extras_vs_strongest``). ``ratio`` is the model's figure over the strongest peer's.
    """
    peers = metrics["peers"]
    models = metrics["models"]
    out = {
        "figures": {
            name: {n: round(models[name][n], 4) for n in names}
            for name in peers["chosen"]
            if name in models
        },
        "settings": {name: c.get("setting") for name, c in peers["chosen"].items()},
        "unavailable": peers["unavailable"],
        "strongest": {},
    }
    rows = peers["strongest"] if first else peers["extras_vs_strongest"].get(candidate, {})
    mine = models[candidate]
    for metric, row in rows.items():
        best = models[row["peer"]][metric]
        ci = row["candidate_minus_peer" if first else "model_minus_peer"]
        out["strongest"][metric] = {
            "peer": row["peer"],
            "peer_value": round(best, 4),
            "candidate_value": round(mine[metric], 4),
            "ratio": round(mine[metric] / best, 3) if best else None,
            "candidate_minus_peer": round(ci["mean"], 4),
            "ci95": [round(ci["low"], 4), round(ci["high"], 4)],
        }
    return out


def spread(values: Sequence[float]) -> dict:
    """Mean, standard deviation, min and max over seeds."""
    arr = np.asarray(values, dtype=float)
    return {
        "seeds": len(arr),
        "mean": round(float(arr.mean()), 4),
        "std": round(float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, 4),
        "min": round(float(arr.min()), 4),
        "max": round(float(arr.max()), 4),
    }
