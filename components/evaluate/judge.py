"""From rankings to the two documents (pure: rankings and settings in, documents out).

Every model's rankings are scored on the same users with the same protocol (all targets, warm
targets, slices), the candidate is compared with the model in service by a paired bootstrap,
the gate decides (``gates.decide_blessing``), and the metrics and blessing documents
(``documents``) are assembled. ``job.run`` reads the inputs and ranks; everything here is
arrays and dicts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from components.evaluate import peers
from components.evaluate import slices as slicing
from components.evaluate.ablation import ablation_table
from components.evaluate.bootstrap import Interval, paired_intervals
from components.evaluate.config import EvaluateConfig
from components.evaluate.documents import (
    CANDIDATE,
    IN_SERVICE,
    BlessingDocument,
    MetricsDocument,
)
from components.evaluate.gates import Blessing, Comparison, decide_blessing, strongest_peer
from components.evaluate.infra import InfraResult
from components.protocol import EvalSet
from components.ranking_metrics import USERS, per_user_metrics, ranking_metrics

Ranked = list[list[str]]


@dataclasses.dataclass(frozen=True)
class Scores:
    """Every ranked model's metrics on the same users.

    Attributes:
        models: Model -> metric -> value, all targets.
        warm: The same on warm targets.
        per_user: Model -> per-user metric -> ``[users]`` (for the bootstrap).
        slices: Slice -> ``{"users", "models": {model: {metric: mean}}}``.
        slice_per_user: Slice -> model -> per-user metric -> values.
    """

    models: dict[str, dict[str, float]]
    warm: dict[str, dict[str, float]]
    per_user: dict[str, dict[str, np.ndarray]]
    slices: dict[str, dict]
    slice_per_user: dict[str, dict[str, dict[str, np.ndarray]]]


def subset(ranked: Ranked, eval_set: EvalSet, keep: EvalSet) -> Ranked:
    """The rankings of ``keep``'s users (a subset of ``eval_set``'s), in ``keep``'s order."""
    position = {u: i for i, u in enumerate(eval_set.users)}
    return [ranked[position[u]] for u in keep.users]


def _means(per_user: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {n: float(v.mean()) if len(v) else 0.0 for n, v in per_user.items()}


def score(
    ranked: Mapping[str, Ranked],
    eval_set: EvalSet,
    warm_set: EvalSet,
    pieces: Sequence[slicing.Slice],
    *,
    catalog_size: int,
    ks: Sequence[int],
) -> Scores:
    """Metrics of every model in ``ranked`` (all targets, warm targets, per user, slices)."""
    models, warm, per_user = {}, {}, {}
    for name, lists in ranked.items():
        models[name] = ranking_metrics(lists, eval_set.targets, catalog_size=catalog_size, ks=ks)
        warm[name] = ranking_metrics(
            subset(lists, eval_set, warm_set), warm_set.targets, catalog_size=catalog_size, ks=ks
        )
        per_user[name] = per_user_metrics(lists, eval_set.targets, ks=ks)
    slice_docs, slice_per_user = {}, {}
    for piece in pieces:
        slice_per_user[piece.name] = {
            name: slicing.slice_per_user(lists, eval_set, piece, ks=ks)
            for name, lists in ranked.items()
        }
        slice_docs[piece.name] = {
            USERS: len(piece.users),
            "models": {n: _means(v) for n, v in slice_per_user[piece.name].items()},
        }
    return Scores(models, warm, per_user, slice_docs, slice_per_user)


def compare(scores: Scores, config: EvaluateConfig, version: str) -> Comparison:
    """The candidate against the model in service: paired intervals, headline and slices."""
    settings = {
        "resamples": config.bootstrap_resamples,
        "seed": config.bootstrap_seed,
        "confidence": config.confidence,
    }
    per_user = scores.per_user
    headline = paired_intervals(
        per_user[CANDIDATE], per_user[IN_SERVICE], config.compared, **settings
    )
    protected = {}
    for piece in config.protected_slices:
        values = scores.slice_per_user.get(piece)
        if values and len(values[CANDIDATE][config.compared[0]]):
            protected[piece] = paired_intervals(
                values[CANDIDATE], values[IN_SERVICE], config.compared, **settings
            )
    return Comparison(version=version, headline=headline, slices=protected)


def against_peers(
    scores: Scores,
    peer_names: Sequence[str],
    metrics: Sequence[str],
    config: EvaluateConfig,
    *,
    model: str = CANDIDATE,
) -> dict[str, tuple[str, Interval]]:
    """Per metric: the strongest peer and the paired interval of ``model`` minus it."""
    present = [p for p in peer_names if p in scores.models]
    users = len(scores.per_user.get(model, {}).get(metrics[0], ())) if metrics else 0
    if model not in scores.models or not present or not users:
        return {}
    out = {}
    for metric in metrics:
        best = strongest_peer({p: scores.models[p] for p in present}, metric)
        (interval,) = paired_intervals(
            scores.per_user[model],
            scores.per_user[best],
            (metric,),
            resamples=config.bootstrap_resamples,
            seed=config.bootstrap_seed,
            confidence=config.confidence,
        ).values()
        out[metric] = (best, interval)
    return out


def peers_doc(
    rankings: peers.PeerRankings,
    against: Mapping[str, tuple[str, Interval]],
    config: EvaluateConfig,
    extras: Mapping[str, Mapping[str, tuple[str, Interval]]] | None = None,
) -> dict:
    """The peers section of the metrics: settings, strongest peer per metric, intervals.

    Each peer's setting is the one chosen on validation; per metric, the strongest peer and
    the paired interval of candidate minus it (``strongest``), and the same for each extra
    model (``extras_vs_strongest``: other seeds, the ID-only model; reported, never gated).
    """
    return {
        "rule": (
            "peers fitted on the train window; each one's setting chosen on the validation "
            f"window by {config.selection_metric}; the gate compares the candidate with the "
            f"strongest peer per compared metric (tolerance {config.peer_tolerance})"
        ),
        "validation_users": rankings.validation_users,
        "chosen": {name: choice.as_dict() for name, choice in rankings.choices.items()},
        "unavailable": {
            name: choice.problem
            for name, choice in rankings.choices.items()
            if choice.problem is not None
        },
        "strongest": {
            metric: {"peer": best, "candidate_minus_peer": interval.as_dict()}
            for metric, (best, interval) in against.items()
        },
        "extras_vs_strongest": {
            name: {
                metric: {"peer": best, "model_minus_peer": interval.as_dict()}
                for metric, (best, interval) in rows.items()
            }
            for name, rows in (extras or {}).items()
        },
    }


def comparison_doc(comparison: Comparison | None) -> dict | None:
    """The comparison as the metrics document holds it (None when nothing was compared)."""
    if comparison is None:
        return None

    def doc(intervals: Mapping[str, Interval]) -> dict:
        return {n: i.as_dict() for n, i in intervals.items()}

    return {
        "against": IN_SERVICE,
        "version": comparison.version,
        "headline": doc(comparison.headline),
        "slices": {p: doc(v) for p, v in comparison.slices.items()},
    }


def in_service_problem(
    version: str | None, problem: str | None, unavailable: Mapping[str, str]
) -> str | None:
    """The gate's reason when the model in service could not be re-evaluated, else None."""
    if problem is None and IN_SERVICE in unavailable:
        problem = unavailable[IN_SERVICE]
    if problem is None:
        return None
    return f"model in service {version or '?'} cannot be re-evaluated ({problem})"


def decide(
    scores: Scores,
    config: EvaluateConfig,
    *,
    comparison: Comparison | None,
    in_service_problem: str | None,
    infra: InfraResult | None,
    unavailable: Mapping[str, str],
    eval_users: int,
    peer_names: Sequence[str] = (),
    peer_intervals: Mapping[str, Interval] | None = None,
    in_service_version: str | None = None,
) -> Blessing:
    """The gate's verdict on the candidate (an unusable candidate: refused with the reason).

    ``peer_names``: the peers ranked in ``scores``; ``peer_intervals``: candidate minus the
    strongest peer per compared metric (``against_peers``); ``in_service_version``: the
    version LATEST named, if any (an unusable candidate leaves it in service, and says so).
    """
    candidate = scores.models.get(CANDIDATE)
    if candidate is None:
        kept = (
            f"model in service {in_service_version} stays in service (not compared: the "
            "candidate could not be ranked)"
            if in_service_version
            else None
        )
        return decide_blessing(
            {},
            thresholds={},
            compared=(),
            tolerance=config.tolerance,
            in_service_note=kept,
            infra=(False, f"candidate unusable: {unavailable[CANDIDATE]}"),
        )
    return decide_blessing(
        candidate,
        thresholds=config.thresholds,
        compared=config.compared,
        tolerance=config.tolerance,
        peers={p: scores.models[p] for p in peer_names if p in scores.models}
        if config.beat_peers
        else None,
        peer_tolerance=config.peer_tolerance,
        peer_intervals=peer_intervals,
        comparison=comparison,
        in_service_problem=in_service_problem,
        first_night=config.first_night,
        protected=config.protected_slices,
        slice_users={
            p: scores.slices[p][USERS] for p in config.protected_slices if p in scores.slices
        },
        slice_tolerance=config.slice_tolerance,
        min_slice_users=config.min_slice_users,
        infra=None if infra is None else (infra.ok, infra.detail),
        force=config.force,
        eval_users=eval_users,
    )


def ablation_doc(
    scores: Scores,
    ranked: Mapping[str, Ranked],
    off: Mapping[str, list[str]],
    problems: Mapping[str, str],
    *,
    eval_set: EvalSet,
    warm_set: EvalSet,
    catalog_size: int,
    ks: Sequence[int],
) -> dict:
    """The ablation table: each variant (one modality off) against the candidate, not gated."""
    doc: dict = {
        "rule": "reported, not gated; drop = candidate - variant (positive: the modality helps)",
        "users": len(eval_set.users),
        "warm_users": len(warm_set.users),
        "modalities_off": dict(off),
        "unavailable": dict(problems),
        "variants": {},
    }
    candidate, candidate_warm = scores.models.get(CANDIDATE), scores.warm.get(CANDIDATE)
    if candidate is None or candidate_warm is None:
        doc["problem"] = "the candidate could not be ranked: no table"
        return doc
    variants = {
        name: ranking_metrics(lists, eval_set.targets, catalog_size=catalog_size, ks=ks)
        for name, lists in ranked.items()
    }
    variants_warm = {
        name: ranking_metrics(
            subset(lists, eval_set, warm_set), warm_set.targets, catalog_size=catalog_size, ks=ks
        )
        for name, lists in ranked.items()
    }
    doc["variants"] = ablation_table(candidate, candidate_warm, variants, variants_warm, ks=ks)
    return doc


def protocol_doc(config: EvaluateConfig, *, sampled: int | None) -> dict:
    """How users, targets and cut-offs were chosen (``sampled``: users in the sample, or None)."""
    return {
        "ks": list(config.ks),
        "cold_max": config.cold_max,
        "heavy_min": config.heavy_min,
        "targets": "items after the cut-off not seen before it; seen items never ranked",
        "warm": "targets cut to items with a train-window event",
        "max_users": config.max_users,
        "users": (
            "every user with a new item in the eval window, with or without train history"
            if sampled is None
            else f"a fixed sample of {sampled} users with eval-window events "
            "(smallest CRC-32 of the id), with or without train history"
        ),
    }


def blessing_document(
    blessing: Blessing,
    config: EvaluateConfig,
    *,
    in_service_version: str | None,
    model_digest: str | None,
    infra: InfraResult | None,
    latest_sha256: str | None = None,
) -> BlessingDocument:
    """The verdict with the settings it judged by (``latest_sha256``: LATEST as read)."""
    return BlessingDocument(
        **blessing.as_dict(),
        in_service_version=in_service_version,
        latest_sha256=latest_sha256,
        model_digest=model_digest,
        infra=None if infra is None else infra.as_dict(),
        thresholds=dict(config.thresholds),
        compared=list(config.compared),
        tolerance=config.tolerance,
        protected_slices=list(config.protected_slices),
        slice_tolerance=config.slice_tolerance,
        confidence=config.confidence,
        bootstrap_resamples=config.bootstrap_resamples,
    )


def metrics_document(
    scores: Scores,
    *,
    schema_version: str,
    eval_set: EvalSet,
    warm_set: EvalSet,
    catalog_size: int,
    in_service_version: str | None,
    protocol: dict,
    comparison: Comparison | None,
    how: Mapping[str, dict],
    unavailable: Mapping[str, str],
    ranking_head: dict,
    peers: dict,
    ablation: dict | None,
) -> MetricsDocument:
    """The metrics of every model of the run, as written."""
    return MetricsDocument(
        schema_version=schema_version,
        eval_users=len(eval_set.users),
        warm_eval_users=len(warm_set.users),
        catalog_size=catalog_size,
        in_service_version=in_service_version,
        protocol=protocol,
        models=scores.models,
        models_warm=scores.warm,
        slices=scores.slices,
        comparisons=comparison_doc(comparison),
        ranking=dict(how),
        unavailable=dict(unavailable),
        ranking_head=ranking_head,
        peers=peers,
        ablation=ablation,
    )
