"""I/O shell of the evaluate stage: candidate, baseline and model in service on one window."""

from __future__ import annotations

import json
import logging
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from components.evaluate.config import EvaluateConfig
from components.evaluate.gates import decide_blessing
from components.evaluate.metrics import ranking_metrics
from components.evaluate.protocol import build_eval_set, exclude_history, popularity
from components.evaluate.serving import recommend
from components.ingest import layout
from components.push import registry
from components.train.export import SERVING_DIR
from components.transform.outputs import requests_path
from schemas import EVENTS, ITEMS, SCHEMA_VERSION
from schemas.tables import USER_ID

logger = logging.getLogger(__name__)

CANDIDATE, MOST_POPULAR, IN_SERVICE = "candidate", "most_popular", "in_service"


def requests_for(requests: pa.Table, users: list[str]) -> pa.Table:
    """The rows of ``requests`` for ``users``, in that order.

    Raises:
        ValueError: a user has no request row (transform and ingest disagree).
    """
    position = {user: i for i, user in enumerate(requests[USER_ID].to_pylist())}
    missing = [u for u in users if u not in position]
    if missing:
        raise ValueError(f"{len(missing)} eval users have no serving request, e.g. {missing[:3]}")
    return requests.take([position[u] for u in users])


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
) -> dict:
    """Evaluate the candidate against most-popular and the model in service; decide blessing.

    Args:
        data_dir: Ingest output (train window = history, eval window = targets).
        examples_dir: Transform output; its eval serving requests are fed to the models.
        model_dir: The candidate's train output (``serving/`` inside).
        model_root: Where pushed versions live; its LATEST is the model in service.
        model_name: The model's name under ``model_root``.
        metrics_path: Output JSON: metrics per model, eval-set size, schema version.
        blessing_path: Output JSON: the verdict and every reason.
        config: Cut-offs and gate settings.

    Returns:
        ``{"metrics": ..., "blessing": ...}`` as written.
    """
    before = layout.read_table(data_dir, EVENTS.name, "train")
    after = layout.read_table(data_dir, EVENTS.name, "eval")
    catalog = pc.count_distinct(layout.read_table(data_dir, ITEMS.name, layout.ALL)[ITEMS.key[0]])
    eval_set = build_eval_set(before, after)
    requests = pq.read_table(requests_path(examples_dir, layout.EVAL))
    requests = requests_for(requests, eval_set.users)
    depth = max(config.ks)
    catalog_size = catalog.as_py()

    def score(ranked_raw: list[list[str]]) -> dict[str, float]:
        ranked = [
            exclude_history(r, h, depth=depth)
            for r, h in zip(ranked_raw, eval_set.history, strict=True)
        ]
        return ranked_metrics(ranked)

    def ranked_metrics(ranked: list[list[str]]) -> dict[str, float]:
        return ranking_metrics(ranked, eval_set.targets, catalog_size=catalog_size, ks=config.ks)

    results = {
        CANDIDATE: score(
            recommend(os.path.join(model_dir, SERVING_DIR), requests, batch_size=config.batch_size)
        )
    }
    popular = popularity(before)
    results[MOST_POPULAR] = score([popular] * len(eval_set.users))
    in_service_version = registry.read_latest(model_root, model_name)
    if in_service_version is not None:
        serving = os.path.join(
            registry.version_dir(model_root, model_name, in_service_version),
            registry.MODEL_SUBDIR,
            SERVING_DIR,
        )
        results[IN_SERVICE] = score(recommend(serving, requests, batch_size=config.batch_size))
    blessing = decide_blessing(
        results[CANDIDATE],
        thresholds=config.thresholds,
        in_service=results.get(IN_SERVICE),
        compared=config.compared,
        tolerance=config.tolerance,
        baseline=results[MOST_POPULAR] if config.beat_baseline else None,
    )
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "eval_users": len(eval_set.users),
        "catalog_size": catalog_size,
        "in_service_version": in_service_version,
        "models": results,
    }
    verdict = {
        **blessing.as_dict(),
        "in_service_version": in_service_version,
        "thresholds": dict(config.thresholds),
        "tolerance": config.tolerance,
    }
    for path, doc in ((metrics_path, metrics), (blessing_path, verdict)):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
    logger.info("evaluate done users=%d blessed=%s", len(eval_set.users), blessing.blessed)
    return {"metrics": metrics, "blessing": verdict}
