"""I/O shell of the evaluate stage: candidate, baselines and model in service on one window.

Every model is ranked through its exported SavedModel (see ``ranking``), scored on the same
users with the same protocol (all targets, warm targets, slices), compared with the model in
service by a paired bootstrap, infra-validated, and judged by ``gates.decide_blessing``. The
ranking head (conversion AUC, log loss, base rate) is measured through each export's ranking
signature on the eval-window examples (``ranking_head``); ablation variants (one modality off)
are ranked on the same users and tabled against the candidate (``ablation``), not gated. The
metrics and the blessing are always written; a model that cannot be loaded becomes a reason,
not a crash.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components import completion
from components.evaluate import slices as slicing
from components.evaluate.ablation import ablation_table, modalities_off, variant_name
from components.evaluate.bootstrap import Interval, paired_intervals
from components.evaluate.config import EvaluateConfig
from components.evaluate.documents import BlessingDocument, MetricsDocument, write
from components.evaluate.gates import Comparison, decide_blessing
from components.evaluate.infra import InfraResult, validate_in_fresh_process
from components.evaluate.metrics import (
    USERS,
    per_user_metrics,
    ranking_metrics,
)
from components.evaluate.protocol import (
    EvalSet,
    build_eval_set,
    exclude_history,
    interaction_counts,
    popularity,
    sample_users,
    warm_only,
)
from components.evaluate.ranking import Rankings, complete_rankings
from components.evaluate.ranking_head import (
    RankingHeadError,
    example_labels,
    head_metrics,
    with_catalog_content,
)
from components.exported_model import ExportedModel, ServingInputError
from components.ingest import layout
from components.registry.errors import RegistryError
from components.registry.model_root import MODEL_SUBDIR, ModelRoot, tree_digest
from components.train import outputs as train_outputs
from components.train.signatures import EMBEDDING, QUERY_EMBEDDING_SIGNATURE, RANKING_SIGNATURE
from components.transform.outputs import MANIFEST as TRANSFORM_MANIFEST
from components.transform.outputs import (
    RAW_EXAMPLES_FILE,
    raw_catalog_path,
    raw_examples_dir,
    requests_path,
)
from schemas import EVENTS, ITEMS, REVIEWS, SCHEMA_VERSION, USER_RELATIONS
from schemas.contract import SWITCHABLE
from schemas.tables import DST_USER, ITEM_ID, SRC_USER, USER_ID

logger = logging.getLogger(__name__)

CANDIDATE, MOST_POPULAR, IN_SERVICE = "candidate", "most_popular", "in_service"


class ModelUnusable(RuntimeError):
    """A model could not be ranked (not loadable, wrong inputs, inconsistent export)."""


def requests_for(requests: pa.Table, users: list[str]) -> pa.Table:
    """The rows of ``requests`` for ``users``, in that order.

    Raises:
        ValueError: a user has no request row (transform and ingest disagree).
    """
    position = {user: i for i, user in enumerate(requests[USER_ID].to_pylist())}
    missing = [u for u in users if u not in position]
    if missing:
        raise ValueError(f"{len(missing)} eval users have no serving request, e.g. {missing[:3]}")
    return requests.take(pa.array([position[u] for u in users], type=pa.int64()))


def load_model(model_dir: str, *, batch_size: int) -> ExportedModel:
    """The exported SavedModel of a train output.

    Raises:
        ModelUnusable: it does not load.
    """
    try:
        return ExportedModel(train_outputs.serving_dir(model_dir), batch_size=batch_size)
    except OSError as e:
        raise ModelUnusable(str(e)) from e


def rank_with_model(
    model_dir: str,
    requests: pa.Table,
    eval_set: EvalSet,
    *,
    depth: int,
    batch_size: int,
    model: ExportedModel | None = None,
) -> tuple[list[list[str]], dict]:
    """Whole-catalog rankings (history removed) of one exported model, and how they were made.

    ``model`` is the already loaded export of ``model_dir`` (loaded here when None).

    Raises:
        ModelUnusable: the model does not load or serve the requests, or its serving index and
            exported embeddings disagree.
    """
    serving_dir = train_outputs.serving_dir(model_dir)
    try:
        model = model or ExportedModel(serving_dir, batch_size=batch_size)
        top_ids, top_scores = model.top_k(requests)
    except (OSError, ServingInputError) as e:
        raise ModelUnusable(str(e)) from e
    emb_path = train_outputs.item_embeddings_path(model_dir)
    if not (model.has(QUERY_EMBEDDING_SIGNATURE) and os.path.isfile(emb_path)):
        # An older export: rank from the serving top-K alone (lists may be cut short).
        ranked = [
            exclude_history(r, h, depth=depth)
            for r, h in zip(top_ids, eval_set.history, strict=True)
        ]
        short = sum(len(r) < depth for r in ranked)
        return ranked, {"source": "serving top-K only", "short_lists": short}
    items = pq.read_table(emb_path)
    item_embeddings = np.asarray(items[EMBEDDING].to_pylist(), dtype=np.float32)
    queries = model.embed_queries(requests)
    out: Rankings = complete_rankings(
        top_ids,
        top_scores,
        queries,
        items[ITEM_ID].to_pylist(),
        item_embeddings,
        eval_set.history,
        depth=depth,
    )
    if out.inconsistent_users:
        raise ModelUnusable(
            f"{serving_dir}: serving top-K disagrees with {emb_path} for "
            f"{out.inconsistent_users} users (max score gap {out.max_score_gap:.3g})"
        )
    return out.ranked, {
        "source": "serving top-K + query_embedding . item embeddings",
        "completed_past_top_k": out.completed,
        "max_score_gap": out.max_score_gap,
    }


def read_eval_examples(
    examples_dir: str, sample: pa.Array | None = None
) -> tuple[pa.Table | None, dict]:
    """The eval-window examples with their items' catalog content, and facts or the problem.

    With ``sample``: only the examples of those users.

    Returns:
        ``(rows, {"examples_path", "examples", "items_not_in_catalog"})``, or ``(None,
        {"examples_path", "problem"})`` when the examples are missing or empty.
    """
    path = os.path.join(raw_examples_dir(examples_dir, layout.EVAL), RAW_EXAMPLES_FILE)
    doc: dict = {"examples_path": path}
    if not os.path.isfile(path):
        return None, doc | {"problem": f"no eval examples at {path}: ranking head not measured"}
    # Example rows hold the user id as a one-element list; pyarrow filters while it scans.
    user = pc.list_element(pc.field(USER_ID), 0)
    rows = pq.read_table(path, filters=None if sample is None else user.isin(sample))
    if rows.num_rows == 0:
        return None, doc | {"problem": f"{path} has no rows: ranking head not measured"}
    catalog_path = raw_catalog_path(examples_dir)
    if not os.path.isfile(catalog_path):
        return None, doc | {"problem": f"no catalog at {catalog_path}: ranking head not measured"}
    rows, missing = with_catalog_content(rows, pq.read_table(catalog_path))
    return rows, doc | {"examples": rows.num_rows, "items_not_in_catalog": missing}


def score_ranking_head(model: ExportedModel, rows: pa.Table) -> dict:
    """The ranking head of ``model`` on labelled feature ``rows`` (``HeadMetrics.as_dict()``).

    Raises:
        ModelUnusable: the export has no usable ranking signature, or the head cannot be
            measured (the message says why).
    """
    if not model.has(RANKING_SIGNATURE):
        raise ModelUnusable(
            f"{model.path} has no {RANKING_SIGNATURE!r} signature (exported without the ranking "
            "head, or before it was exported): ranking head not measured"
        )
    try:
        probabilities = model.conversion_probabilities(rows)
        return head_metrics(example_labels(rows), probabilities).as_dict()
    except (ServingInputError, RankingHeadError) as e:
        raise ModelUnusable(str(e)) from e


def variant_of(model_dir: str) -> tuple[str, list[str]]:
    """``(variant name, modalities off)`` of a train output, from its manifest.

    Raises:
        ModelUnusable: no readable train manifest with the modalities it trained with.
    """
    path = train_outputs.manifest_path(model_dir)
    try:
        with open(path) as f:
            on = json.load(f)["config"]["modalities"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelUnusable(f"{path}: no train manifest naming its modalities ({e})") from e
    switchable = [m.value for m in SWITCHABLE]
    return variant_name(on, switchable=switchable), modalities_off(on, switchable=switchable)


def _means(per_user: Mapping[str, np.ndarray]) -> dict[str, float]:
    return {n: float(v.mean()) if len(v) else 0.0 for n, v in per_user.items()}


def _subset(ranked: list[list[str]], eval_set: EvalSet, keep: EvalSet) -> list[list[str]]:
    position = {u: i for i, u in enumerate(eval_set.users)}
    return [ranked[position[u]] for u in keep.users]


def _read_inputs(data_dir: str, *, max_users: int) -> dict:
    """The ingested tables evaluate reads, cut to the sampled users (``sample_users``).

    Item popularity and the items known before the cut-off come from every user's events;
    everything per user (history, targets, activity, reviews, links) only for the sample.
    """
    pair = [USER_ID, ITEM_ID]
    before = layout.read_table(data_dir, EVENTS.name, layout.TRAIN, columns=pair)
    after = layout.read_table(data_dir, EVENTS.name, layout.EVAL, columns=pair)
    sample = sample_users(after[USER_ID], max_users)
    known_items = set(pc.unique(before[ITEM_ID]).to_pylist())
    popular = popularity(before)
    reviews = layout.read_table(data_dir, REVIEWS.name, layout.TRAIN, columns=[USER_ID])
    relations = layout.read_table(data_dir, USER_RELATIONS.name, layout.ALL)
    if sample is not None:
        before, after, reviews = (
            t.filter(pc.is_in(t[USER_ID], sample)) for t in (before, after, reviews)
        )
        relations = relations.filter(
            pc.or_(pc.is_in(relations[SRC_USER], sample), pc.is_in(relations[DST_USER], sample))
        )
    return {
        "before": before,
        "after": after,
        "items": layout.read_table(data_dir, ITEMS.name, layout.ALL),
        "reviews": reviews,
        "relations": relations,
        "known_items": known_items,
        "popular": popular,
        "sample": sample,
    }


def read_requests(examples_dir: str, sample: pa.Array | None) -> pa.Table:
    """The eval serving requests (of the sampled users only, when sampled)."""
    path = requests_path(examples_dir, layout.EVAL)
    return pq.read_table(path, filters=None if sample is None else pc.field(USER_ID).isin(sample))


def _in_service_dir(
    model_root: str, model_name: str, scratch: str
) -> tuple[str | None, str | None, str | None]:
    """``(version, local dir, problem)`` of the model in service."""
    try:
        root = ModelRoot(model_root)
        version = root.read_latest(model_name)
    except (OSError, UnicodeDecodeError) as e:
        return None, None, f"model in service unreadable at {model_root} ({e})"
    if version is None:
        return None, None, None
    try:
        home = root.fetch_version(model_name, version, scratch)
    except (RegistryError, OSError) as e:
        return version, None, str(e)
    return version, os.path.join(home, MODEL_SUBDIR), None


def run(
    *,
    data_dir: str,
    examples_dir: str,
    model_dir: str,
    model_root: str,
    model_name: str,
    metrics_path: str,
    blessing_path: str,
    config: EvaluateConfig,
    extra_models: Mapping[str, str] | None = None,
    ablation_models: Sequence[str] = (),
) -> tuple[MetricsDocument, BlessingDocument]:
    """Evaluate the candidate against baselines and the model in service; decide blessing.

    Args:
        data_dir: Ingest output (train window = history, eval window = targets).
        examples_dir: Transform output; its eval serving requests are fed to the models.
        model_dir: The candidate's train output (``serving/`` inside).
        model_root: Where pushed versions live (local or gs://); LATEST is the model in service.
        model_name: The model's name under ``model_root``.
        metrics_path: Output JSON: metrics per model (all and warm targets), slices,
            comparisons, eval-set size, schema versions.
        blessing_path: Output JSON: the verdict, every reason, infra validation, force-bless.
        config: Cut-offs, slices and gate settings.
        extra_models: More models to report beside the candidate (name -> train output dir),
            e.g. ``{"id_only": ...}``; reported, not gated.
        ablation_models: Train outputs of the candidate's trainer with modalities off (named
            from their manifests, e.g. ``no_text``); tabled against the candidate under
            ``ablation``, not gated. Empty: no table (``ablation`` is None).

    Returns:
        ``(metrics, blessing)`` as written (``documents``).
    """
    completion.require(data_dir, layout.MANIFEST, stage="ingest")
    completion.require(examples_dir, TRANSFORM_MANIFEST, stage="transform")
    # No verdict until this run writes one, last (components.completion).
    for path in (blessing_path, metrics_path):
        completion.remove(path)
    tables = _read_inputs(data_dir, max_users=config.max_users)
    before, items, sample = tables["before"], tables["items"], tables["sample"]
    eval_set = build_eval_set(before, tables["after"])
    warm_set = warm_only(eval_set, tables["known_items"])
    all_requests = read_requests(examples_dir, sample)
    requests = requests_for(all_requests, eval_set.users)
    catalog = set(items[ITEMS.key[0]].to_pylist())
    depth = max(config.ks)
    pieces = slicing.user_slices(
        eval_set,
        activity=interaction_counts(before),
        reviewers=slicing.users_of(tables["reviews"]),
        linked=slicing.linked_users(tables["relations"]),
        cold_max=config.cold_max,
        heavy_min=config.heavy_min,
    ) + slicing.target_slices(
        eval_set,
        category=slicing.item_categories(items),
        with_image=slicing.items_with_image(items),
    )

    ranked: dict[str, list[list[str]]] = {}
    how: dict[str, dict] = {}
    unavailable: dict[str, str] = {}
    head_rows, head_doc = read_eval_examples(examples_dir, sample)
    heads: dict[str, dict] = {}
    heads_unavailable: dict[str, str] = {}

    def try_rank(name: str, directory: str, *, trained_here: bool = True) -> None:
        try:
            if trained_here:  # a train output (a pushed version is checked by its digests)
                try:
                    completion.require(directory, train_outputs.MANIFEST, stage="train")
                except completion.IncompleteOutput as e:
                    raise ModelUnusable(str(e)) from e
            model = load_model(directory, batch_size=config.batch_size)
            ranked[name], how[name] = rank_with_model(
                directory,
                requests,
                eval_set,
                depth=depth,
                batch_size=config.batch_size,
                model=model,
            )
        except ModelUnusable as e:
            unavailable[name] = str(e)
            logger.warning("model unusable name=%s reason=%s", name, e)
            return
        if head_rows is not None:
            try:
                heads[name] = score_ranking_head(model, head_rows)
            except ModelUnusable as e:
                heads_unavailable[name] = str(e)
                logger.info("ranking head not measured name=%s reason=%s", name, e)

    try_rank(CANDIDATE, model_dir)
    popular = tables["popular"]
    ranked[MOST_POPULAR] = [exclude_history(popular, h, depth=depth) for h in eval_set.history]
    how[MOST_POPULAR] = {"source": "train-window interaction counts"}
    for name, directory in sorted((extra_models or {}).items()):
        try_rank(name, directory)
    variant_ranked, variant_off, variant_problems = _rank_variants(
        ablation_models, requests, eval_set, depth=depth, batch_size=config.batch_size
    )
    with tempfile.TemporaryDirectory(prefix="in-service-") as scratch:
        version, serving_home, problem = _in_service_dir(model_root, model_name, scratch)
        if serving_home is not None:
            try_rank(IN_SERVICE, serving_home, trained_here=False)
    if problem is None and IN_SERVICE in unavailable:
        problem = unavailable[IN_SERVICE]
    if problem is not None:
        problem = (
            f"model in service {version or '?'} cannot be re-evaluated ({problem}): "
            "judged on thresholds alone"
        )

    models, warm, per_user = {}, {}, {}
    for name, lists in ranked.items():
        models[name] = ranking_metrics(
            lists, eval_set.targets, catalog_size=len(catalog), ks=config.ks
        )
        warm[name] = ranking_metrics(
            _subset(lists, eval_set, warm_set),
            warm_set.targets,
            catalog_size=len(catalog),
            ks=config.ks,
        )
        per_user[name] = per_user_metrics(lists, eval_set.targets, ks=config.ks)
    slice_docs, slice_per_user = {}, {}
    for piece in pieces:
        slice_per_user[piece.name] = {
            name: slicing.slice_per_user(lists, eval_set, piece, ks=config.ks)
            for name, lists in ranked.items()
        }
        slice_docs[piece.name] = {
            USERS: len(piece.users),
            "models": {n: _means(v) for n, v in slice_per_user[piece.name].items()},
        }

    comparison = None
    if CANDIDATE in ranked and IN_SERVICE in ranked and eval_set.users:
        comparison = _compare(per_user, slice_per_user, config, version or "?")
    infra = _infra(model_dir, all_requests, catalog, config) if CANDIDATE in ranked else None
    candidate = models.get(CANDIDATE)
    if candidate is None:
        blessing = decide_blessing(
            {},
            thresholds={},
            compared=(),
            tolerance=config.tolerance,
            infra=(False, f"candidate unusable: {unavailable[CANDIDATE]}"),
        )
    else:
        blessing = decide_blessing(
            candidate,
            thresholds=config.thresholds,
            compared=config.compared,
            tolerance=config.tolerance,
            baseline=models[MOST_POPULAR] if config.beat_baseline else None,
            comparison=comparison,
            in_service_problem=problem,
            slice_users={
                p: slice_docs[p][USERS] for p in config.protected_slices if p in slice_docs
            },
            slice_tolerance=config.slice_tolerance,
            min_slice_users=config.min_slice_users,
            infra=None if infra is None else (infra.ok, infra.detail),
            force=config.force,
            eval_users=len(eval_set.users),
        )
    metrics = MetricsDocument(
        schema_version=SCHEMA_VERSION,
        eval_users=len(eval_set.users),
        warm_eval_users=len(warm_set.users),
        catalog_size=len(catalog),
        in_service_version=version,
        protocol={
            "ks": list(config.ks),
            "cold_max": config.cold_max,
            "heavy_min": config.heavy_min,
            "targets": "items after the cut-off not seen before it; seen items never ranked",
            "warm": "targets cut to items with a train-window event",
            "max_users": config.max_users,
            "users": (
                "every user with eval-window events"
                if sample is None
                else f"a fixed sample of {len(sample)} users with eval-window events "
                "(smallest CRC-32 of the id)"
            ),
        },
        models=models,
        models_warm=warm,
        slices=slice_docs,
        comparisons=_comparison_doc(comparison),
        ranking=how,
        unavailable=unavailable,
        ranking_head={**head_doc, "models": heads, "unavailable": heads_unavailable},
        ablation=_ablation_doc(
            models.get(CANDIDATE),
            warm.get(CANDIDATE),
            variant_ranked,
            variant_off,
            variant_problems,
            eval_set=eval_set,
            warm_set=warm_set,
            catalog_size=len(catalog),
            ks=config.ks,
        )
        if ablation_models
        else None,
    )
    verdict = BlessingDocument(
        **blessing.as_dict(),
        in_service_version=version,
        model_digest=tree_digest(model_dir) if os.path.isdir(model_dir) else None,
        infra=None if infra is None else infra.as_dict(),
        thresholds=dict(config.thresholds),
        compared=list(config.compared),
        tolerance=config.tolerance,
        protected_slices=list(config.protected_slices),
        slice_tolerance=config.slice_tolerance,
        confidence=config.confidence,
        bootstrap_resamples=config.bootstrap_resamples,
    )
    for path, doc in ((metrics_path, metrics), (blessing_path, verdict)):  # blessing last
        write(path, doc)
    logger.info("evaluate done users=%d blessed=%s", len(eval_set.users), blessing.blessed)
    return metrics, verdict


def _rank_variants(
    directories: Sequence[str],
    requests: pa.Table,
    eval_set: EvalSet,
    *,
    depth: int,
    batch_size: int,
) -> tuple[dict[str, list[list[str]]], dict[str, list[str]], dict[str, str]]:
    """Rankings of the ablation variants by name, their modalities off, and unusable ones."""
    ranked, off, problems = {}, {}, {}
    for directory in directories:
        try:
            name, off_here = variant_of(directory)
            if name in ranked:
                raise ModelUnusable(f"a second {name!r} variant ({directory}); the first is kept")
            ranked[name], _ = rank_with_model(
                directory, requests, eval_set, depth=depth, batch_size=batch_size
            )
            off[name] = off_here
        except ModelUnusable as e:
            problems[directory] = str(e)
            logger.warning("ablation variant unusable dir=%s reason=%s", directory, e)
    return ranked, off, problems


def _ablation_doc(
    candidate: Mapping[str, float] | None,
    candidate_warm: Mapping[str, float] | None,
    ranked: Mapping[str, list[list[str]]],
    off: Mapping[str, list[str]],
    problems: Mapping[str, str],
    *,
    eval_set: EvalSet,
    warm_set: EvalSet,
    catalog_size: int,
    ks: Sequence[int],
) -> dict:
    doc: dict = {
        "rule": "reported, not gated; drop = candidate - variant (positive: the modality helps)",
        "users": len(eval_set.users),
        "warm_users": len(warm_set.users),
        "modalities_off": dict(off),
        "unavailable": dict(problems),
        "variants": {},
    }
    if candidate is None or candidate_warm is None:
        doc["problem"] = "the candidate could not be ranked: no table"
        return doc
    variants = {
        name: ranking_metrics(lists, eval_set.targets, catalog_size=catalog_size, ks=ks)
        for name, lists in ranked.items()
    }
    variants_warm = {
        name: ranking_metrics(
            _subset(lists, eval_set, warm_set), warm_set.targets, catalog_size=catalog_size, ks=ks
        )
        for name, lists in ranked.items()
    }
    doc["variants"] = ablation_table(candidate, candidate_warm, variants, variants_warm, ks=ks)
    return doc


def _compare(
    per_user: Mapping[str, Mapping[str, np.ndarray]],
    slice_per_user: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]],
    config: EvaluateConfig,
    version: str,
) -> Comparison:
    settings = {
        "resamples": config.bootstrap_resamples,
        "seed": config.bootstrap_seed,
        "confidence": config.confidence,
    }
    headline = paired_intervals(
        per_user[CANDIDATE], per_user[IN_SERVICE], config.compared, **settings
    )
    protected = {}
    for piece in config.protected_slices:
        values = slice_per_user.get(piece)
        if values and len(values[CANDIDATE][config.compared[0]]):
            protected[piece] = paired_intervals(
                values[CANDIDATE], values[IN_SERVICE], config.compared, **settings
            )
    return Comparison(version=version, headline=headline, slices=protected)


def _comparison_doc(comparison: Comparison | None) -> dict | None:
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


def _infra(
    model_dir: str, requests: pa.Table, catalog: set[str], config: EvaluateConfig
) -> InfraResult | None:
    if config.infra_requests <= 0:
        return None
    sample = requests.slice(0, config.infra_requests)
    if sample.num_rows == 0:
        return InfraResult(False, "no serving request to validate with", 0.0)
    return validate_in_fresh_process(train_outputs.serving_dir(model_dir), sample, catalog=catalog)
