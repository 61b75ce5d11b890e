"""One exported model on the eval window: its rankings and its ranking head (model-facing).

Evaluate ranks every model (candidate, baselines, model in service, ablation variants) through
its exported SavedModel (``components.exported_model``), never the training model:
``evaluate_model`` loads a train output, ranks the whole catalog for the eval requests
(``ranking.complete_rankings`` past the serving top-K) and measures the ranking head through
the ``ranking`` signature. Every model is ranked on today's catalog: an item it knows that is
no longer sold (delisted since it was trained: the model in service) is never in its lists, as
it would serve once kept (``components.push.keep``). A model that cannot be used gives a reason
(``ModelUnusable``), not a crash.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components import completion
from components.evaluate.ablation import modalities_off, variant_name
from components.evaluate.ranking import (
    Rankings,
    complete_rankings,
    rank_scores,
    serving_disagreements,
)
from components.evaluate.ranking_head import RankingHeadError, example_labels, head_metrics
from components.exported_model import ExportedModel, ServingInputError
from components.protocol import EvalSet, exclude_history
from components.train import outputs as train_outputs
from components.train.signatures import (
    CATALOG_ITEMS_SIGNATURE,
    CATALOG_SCORES_SIGNATURE,
    EMBEDDING,
    QUERY_EMBEDDING_SIGNATURE,
    RANKING_SIGNATURE,
)
from schemas import features as fs
from schemas import feeds
from schemas.contract import SWITCHABLE
from schemas.tables import ITEM_ID


class ModelUnusable(RuntimeError):
    """A model could not be ranked (not loadable, wrong inputs, inconsistent export)."""


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
    catalog: set[str] | None = None,
) -> tuple[list[list[str]], dict]:
    """Whole-catalog rankings (history removed) of one exported model, and how they were made.

    ``model`` is the already loaded export of ``model_dir`` (loaded here when None);
    ``catalog``: today's items (None: the model's own); other items are never ranked.

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
    if model.has(CATALOG_SCORES_SIGNATURE) and model.has(CATALOG_ITEMS_SIGNATURE):
        try:
            known = model.catalog_items()
        except (OSError, ServingInputError) as e:
            raise ModelUnusable(str(e)) from e
        drop = set() if catalog is None else set(known) - catalog
        ranked, how = _rank_catalog(
            model, requests, eval_set, top_ids, top_scores, depth=depth, drop=drop
        )
        return ranked, how | {"delisted_items": len(drop)}
    emb_path = train_outputs.item_embeddings_path(model_dir)
    if not (model.has(QUERY_EMBEDDING_SIGNATURE) and os.path.isfile(emb_path)):
        # An older export: rank from the serving top-K alone (lists may be cut short).
        ranked = [
            exclude_history(_on_sale(r, catalog), h, depth=depth)
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
        depth=depth + (0 if catalog is None else items.num_rows),
    )
    if out.inconsistent_users:
        raise ModelUnusable(
            f"{serving_dir}: serving top-K disagrees with {emb_path} for "
            f"{out.inconsistent_users} users (max score gap {out.max_score_gap:.3g})"
        )
    return [_on_sale(r, catalog)[:depth] for r in out.ranked], {
        "source": "serving top-K + query_embedding . item embeddings",
        "completed_past_top_k": out.completed,
        "max_score_gap": out.max_score_gap,
    }


def _rank_catalog(
    model: ExportedModel,
    requests: pa.Table,
    eval_set: EvalSet,
    top_ids: list[list[str]],
    top_scores: np.ndarray,
    *,
    depth: int,
    drop: set[str],
) -> tuple[list[list[str]], dict]:
    """Rankings from the export's scores of the whole catalog, checked against its top-K.

    ``drop``: items never ranked (delisted), beside each user's history.

    Raises:
        ModelUnusable: the serving top-K is not the top of the catalog scores.
    """
    try:
        items = model.catalog_items()
        batches = model.catalog_scores(requests)
        ranked: list[list[str]] = []
        bad, gap, start = 0, 0.0, 0
        asked = feeds.to_feed(requests, names={fs.HIST_ITEM_IDS})[fs.HIST_ITEM_IDS]
        for scores in batches:
            rows = range(start, start + len(scores))
            seen = [eval_set.history[r] | drop for r in rows]
            ranked += rank_scores(scores, items, seen, depth=depth)
            own = [{b.decode() for b in asked[r] if b} for r in rows]
            more_bad, more_gap = serving_disagreements(
                top_ids[start : start + len(scores)], top_scores[start : start + len(scores)],
                scores, items, own,
            )  # fmt: skip
            bad, gap, start = bad + more_bad, max(gap, more_gap), start + len(scores)
    except (OSError, ServingInputError) as e:
        raise ModelUnusable(str(e)) from e
    if bad:
        raise ModelUnusable(
            f"{model.path}: serving top-K disagrees with catalog_scores for {bad} users "
            f"(max score gap {gap:.3g})"
        )
    return ranked, {"source": "catalog_scores (every catalog item scored)", "max_score_gap": gap}


def _on_sale(ranked: list[str], catalog: set[str] | None) -> list[str]:
    return ranked if catalog is None else [i for i in ranked if i in catalog]


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


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one model gave on the eval window.

    Attributes:
        ranked: Whole-catalog rankings per eval user (history removed), or None if unusable.
        how: How they were made (source, completions, score gap), or None.
        problem: Why the model could not be ranked, or None.
        head: The ranking head's ``HeadMetrics.as_dict()``, or None.
        head_problem: Why the ranking head was not measured, or None.
    """

    ranked: list[list[str]] | None = None
    how: dict | None = None
    problem: str | None = None
    head: dict | None = None
    head_problem: str | None = None


def evaluate_model(
    model_dir: str,
    requests: pa.Table,
    eval_set: EvalSet,
    head_rows: pa.Table | None,
    *,
    depth: int,
    batch_size: int,
    trained_here: bool = True,
    catalog: set[str] | None = None,
) -> Outcome:
    """Rank with one train output's export and measure its ranking head on ``head_rows``.

    Args:
        model_dir: A train output (or a pushed version's ``model/``).
        requests: The eval users' serving requests, in ``eval_set`` order.
        eval_set: Who is judged, their history (never ranked) and targets.
        head_rows: Labelled eval-window feature rows, or None (head not measured).
        depth: Ranking length (the largest K).
        batch_size: Rows per signature call.
        trained_here: Check the train manifest first (a pushed version is checked by its
            digests instead).
        catalog: Today's items; items outside it are never ranked (None: the model's own).
    """
    try:
        if trained_here:
            try:
                completion.require(model_dir, train_outputs.MANIFEST, stage="train")
            except completion.IncompleteOutput as e:
                raise ModelUnusable(str(e)) from e
        model = load_model(model_dir, batch_size=batch_size)
        ranked, how = rank_with_model(
            model_dir,
            requests,
            eval_set,
            depth=depth,
            batch_size=batch_size,
            model=model,
            catalog=catalog,
        )
    except ModelUnusable as e:
        return Outcome(problem=str(e))
    if head_rows is None:
        return Outcome(ranked=ranked, how=how)
    try:
        return Outcome(ranked=ranked, how=how, head=score_ranking_head(model, head_rows))
    except ModelUnusable as e:
        return Outcome(ranked=ranked, how=how, head_problem=str(e))
