"""I/O shell of the evaluate stage: candidate, baselines and model in service on one window.

Reads the ingested tables and the transform's eval requests and examples, ranks every model
through its export (``exported.evaluate_model``: the candidate, extra models, ablation variants
and the model in service fetched from the model root) and most-popular, infra-validates the
candidate in a fresh process, and hands the rankings to ``judge`` (metrics, comparison, the
gate, the documents). The metrics and the blessing are always written, the blessing last; a
model that cannot be used becomes a reason, not a crash.
"""

from __future__ import annotations

import datetime as dt
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
from components.evaluate import judge, peers
from components.evaluate import slices as slicing
from components.evaluate.config import EvaluateConfig
from components.evaluate.documents import (
    CANDIDATE,
    IN_SERVICE,
    BlessingDocument,
    MetricsDocument,
    write,
)
from components.evaluate.exported import (
    ModelUnusable,
    Outcome,
    evaluate_model,
    rank_with_model,
    variant_of,
)
from components.evaluate.in_service import find_in_service
from components.evaluate.infra import InfraResult, validate_in_fresh_process
from components.evaluate.ranking_head import with_catalog_content
from components.ingest import layout
from components.protocol import (
    EvalSet,
    build_eval_set,
    interaction_counts,
    requests_for,
    sample_users,
    warm_only,
)
from components.registry.digest import ModelUnreadable, model_digest
from components.train import outputs as train_outputs
from components.transform.outputs import MANIFEST as TRANSFORM_MANIFEST
from components.transform.outputs import (
    RAW_EXAMPLES_FILE,
    raw_catalog_path,
    raw_examples_dir,
    requests_path,
)
from schemas import EVENTS, ITEM_RELATIONS, ITEMS, REVIEWS, SCHEMA_VERSION, USER_RELATIONS
from schemas.tables import (
    DESCRIPTION,
    DST_ITEM,
    DST_USER,
    ITEM_ID,
    KIND,
    SRC_ITEM,
    SRC_USER,
    TITLE,
    TS,
    USER_ID,
)

logger = logging.getLogger(__name__)
# Beside the compared metrics, the figures candidate minus the strongest peer is reported on.
PEER_REPORTED = ("recall@20", "ndcg@20")


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


def _read_inputs(data_dir: str, *, max_users: int) -> dict:
    """The ingested tables evaluate reads, cut to the sampled users (``sample_users``).

    Item popularity and the items known before the cut-off come from every user's events;
    everything per user (history, targets, activity, reviews, links) only for the sample.
    """
    pair = [USER_ID, ITEM_ID]
    train = layout.read_table(data_dir, EVENTS.name, layout.TRAIN, columns=[*pair, TS])
    before = train.select(pair)
    after = layout.read_table(data_dir, EVENTS.name, layout.EVAL, columns=pair)
    sample = sample_users(after[USER_ID], max_users)
    known_items = set(pc.unique(before[ITEM_ID]).to_pylist())
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
        "sample": sample,
        "train": train,
        "item_relations": layout.read_table(data_dir, ITEM_RELATIONS.name, layout.ALL),
    }


def window_cutoffs(data_dir: str) -> tuple[int, int]:
    """``(validation start, train end)`` in epoch microseconds, from the ingest manifest.

    An ingest output from before the validation window: it starts at the train end (empty).
    """
    with open(os.path.join(data_dir, layout.MANIFEST)) as f:
        manifest = json.load(f)
    end = _micros(manifest["train_end"])
    return _micros(manifest.get("validation_start") or manifest["train_end"]), end


def _rank_peers(
    data_dir: str, tables: dict, eval_set: EvalSet, config: EvaluateConfig, *, depth: int
) -> peers.PeerRankings:
    """The peers tuned on the validation window, ranking the eval users.

    Peers learn from every user's train-window events; the validation window (its start from
    ingest) chooses their settings with the same protocol and the same cap on users.
    """
    train = tables["train"]
    ts = pc.cast(train[TS], pa.int64()).to_numpy()
    events = peers.Events(
        np.asarray(train[USER_ID].to_pylist(), dtype=object),
        np.asarray(train[ITEM_ID].to_pylist(), dtype=object),
        ts,
    )
    start_us, end_us = window_cutoffs(data_dir)
    pairs = train.select([USER_ID, ITEM_ID])
    early = pa.array(ts < start_us)
    validation = build_eval_set(pairs.filter(early), pairs.filter(pc.invert(early)))
    sample = sample_users(pa.array(validation.users, pa.string()), config.max_users)
    if sample is not None:
        keep = set(sample.to_pylist())
        rows = [i for i, u in enumerate(validation.users) if u in keep]
        validation = EvalSet(
            users=[validation.users[i] for i in rows],
            history=[validation.history[i] for i in rows],
            targets=[validation.targets[i] for i in rows],
        )
    items = tables["items"]
    catalog = np.asarray(items[ITEM_ID].to_pylist(), dtype=object)
    links = tables["item_relations"]
    texts = pc.binary_join_element_wise(
        pc.fill_null(items[TITLE], ""), pc.fill_null(items[DESCRIPTION], ""), " "
    ).to_pylist()
    return peers.rank_peers(
        events,
        catalog=catalog,
        validation_start_us=start_us,
        train_end_us=end_us,
        validation_history=validation.history,
        validation_targets=validation.targets,
        eval_history=eval_set.history,
        relations=peers.relation_matrices(
            links[SRC_ITEM].to_pylist(),
            links[DST_ITEM].to_pylist(),
            links[KIND].to_pylist(),
            catalog,
        ),
        texts=peers.tfidf(texts),
        metric=config.selection_metric,
        ks=config.ks,
        depth=depth,
    )


def _micros(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1_000_000)


def read_requests(examples_dir: str, sample: pa.Array | None) -> pa.Table:
    """The eval serving requests (of the sampled users only, when sampled)."""
    path = requests_path(examples_dir, layout.EVAL)
    return pq.read_table(path, filters=None if sample is None else pc.field(USER_ID).isin(sample))


def _digest(model_dir: str) -> str | None:
    try:
        return model_digest(model_dir)
    except ModelUnreadable:
        return None


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
    head_rows, head_doc = read_eval_examples(examples_dir, sample)

    def outcome(directory: str, *, trained_here: bool = True) -> Outcome:
        return evaluate_model(
            directory,
            requests,
            eval_set,
            head_rows,
            depth=depth,
            batch_size=config.batch_size,
            trained_here=trained_here,
            catalog=catalog,
        )

    outcomes = {CANDIDATE: outcome(model_dir)}
    peer_rankings = _rank_peers(data_dir, tables, eval_set, config, depth=depth)
    for name, lists in peer_rankings.ranked.items():
        outcomes[name] = Outcome(lists, {"source": "peer fitted on the train window"})
    for name, directory in sorted((extra_models or {}).items()):
        outcomes[name] = outcome(directory)
    variant_ranked, variant_off, variant_problems = _rank_variants(
        ablation_models, requests, eval_set, depth=depth, batch_size=config.batch_size
    )
    with tempfile.TemporaryDirectory(prefix="in-service-") as scratch:
        served = find_in_service(model_root, model_name, scratch)
        if served.model_dir is not None:
            outcomes[IN_SERVICE] = outcome(served.model_dir, trained_here=False)
    version, problem = served.version, served.problem
    for name, got in outcomes.items():
        if got.problem is not None:
            logger.warning("model unusable name=%s reason=%s", name, got.problem)
        if got.head_problem is not None:
            logger.info("ranking head not measured name=%s reason=%s", name, got.head_problem)
    ranked = {n: o.ranked for n, o in outcomes.items() if o.ranked is not None}
    unavailable = {n: o.problem for n, o in outcomes.items() if o.problem is not None}

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
    scores = judge.score(
        ranked, eval_set, warm_set, pieces, catalog_size=len(catalog), ks=config.ks
    )
    comparison = None
    if CANDIDATE in ranked and IN_SERVICE in ranked and eval_set.users:
        comparison = judge.compare(scores, config, version or "?")
    infra = _infra(model_dir, all_requests, catalog, config) if CANDIDATE in ranked else None
    peer_names = list(peer_rankings.ranked)
    reported = tuple(dict.fromkeys((*PEER_REPORTED, *config.compared)))
    against = judge.against_peers(scores, peer_names, reported, config)
    extras_against = {
        name: judge.against_peers(scores, peer_names, reported, config, model=name)
        for name in sorted(extra_models or {})
        if name in scores.models
    }
    blessing = judge.decide(
        scores,
        config,
        peer_names=peer_names,
        peer_intervals={m: interval for m, (_, interval) in against.items()},
        comparison=comparison,
        in_service_problem=judge.in_service_problem(version, problem, unavailable),
        infra=infra,
        unavailable=unavailable,
        eval_users=len(eval_set.users),
        in_service_version=version,
    )
    metrics = judge.metrics_document(
        scores,
        schema_version=SCHEMA_VERSION,
        eval_set=eval_set,
        warm_set=warm_set,
        catalog_size=len(catalog),
        in_service_version=version,
        protocol=judge.protocol_doc(config, sampled=None if sample is None else len(sample)),
        comparison=comparison,
        how={n: o.how for n, o in outcomes.items() if o.how is not None},
        unavailable=unavailable,
        ranking_head={
            **head_doc,
            "models": {n: o.head for n, o in outcomes.items() if o.head is not None},
            "unavailable": {
                n: o.head_problem for n, o in outcomes.items() if o.head_problem is not None
            },
        },
        peers=judge.peers_doc(peer_rankings, against, config, extras_against),
        ablation=judge.ablation_doc(
            scores,
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
    verdict = judge.blessing_document(
        blessing,
        config,
        in_service_version=version,
        model_digest=_digest(model_dir),
        infra=infra,
        latest_sha256=served.latest_sha256,
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


def _infra(
    model_dir: str, requests: pa.Table, catalog: set[str], config: EvaluateConfig
) -> InfraResult | None:
    if config.infra_requests <= 0:
        return None
    sample = requests.slice(0, config.infra_requests)
    if sample.num_rows == 0:
        return InfraResult(False, "no serving request to validate with", 0.0)
    return validate_in_fresh_process(train_outputs.serving_dir(model_dir), sample, catalog=catalog)
