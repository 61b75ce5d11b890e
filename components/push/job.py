"""I/O shell of the push stage: a blessed model directory in, a new version under the root out."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging

from components.evaluate.documents import (
    METRICS_SCHEMA,
    BlessingDocument,
    DocumentError,
    MetricsDocument,
    read_blessing,
    read_metrics,
)
from components.push.errors import PushError, StaleInput
from components.push.publish import new_version, publish
from components.registry import store as stores
from components.registry.model_root import ModelRoot, tree_digest
from schemas import SCHEMA_VERSION

logger = logging.getLogger(__name__)


class NotBlessed(PushError):
    """The gate did not bless the model; it is never pushed."""


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise StaleInput(f"{path}: cannot read the {what} ({e})") from e
    if not isinstance(doc, dict):
        raise StaleInput(f"{path}: the {what} is not a JSON object")
    return doc


def read_inputs(
    blessing_path: str, metrics_path: str, *, model_digest: str
) -> tuple[BlessingDocument, MetricsDocument]:
    """Evaluate's documents, refused unless they bless this very model in today's layout.

    Args:
        blessing_path: Evaluate's blessing.
        metrics_path: Evaluate's metrics.
        model_digest: ``model_root.tree_digest`` of the model directory about to be pushed.

    Raises:
        NotBlessed: the blessing is negative.
        StaleInput: a document is unreadable or of another version (``documents``), or the
            blessing is for another model.
    """
    try:
        blessing = read_blessing(blessing_path)
        if not blessing.blessed:
            raise NotBlessed(f"{blessing_path}: not blessed ({'; '.join(blessing.reasons)})")
        metrics = read_metrics(metrics_path)
    except DocumentError as e:
        raise StaleInput(str(e)) from e
    if blessing.model_digest != model_digest:
        raise StaleInput(
            f"{blessing_path}: blessed model {blessing.model_digest!r} is not the model "
            f"being pushed ({model_digest}); re-run evaluate on it"
        )
    return blessing, metrics


def run(
    *,
    model_dir: str,
    metrics_path: str,
    blessing_path: str,
    data_manifest_path: str,
    model_root: str,
    model_name: str,
    transform_dir: str | None = None,
    now: dt.datetime | None = None,
    store: stores.Store | None = None,
) -> dict:
    """Publish ``model_dir`` as a new version if its blessing says so.

    Args:
        model_dir: The train output to publish.
        metrics_path: Evaluate's metrics JSON (copied into the version).
        blessing_path: Evaluate's blessing JSON; push refuses unless ``blessed`` is true and it
            was written for this very model directory.
        data_manifest_path: Ingest's manifest (its data window goes into the lineage).
        model_root: Root of versions: local directory or ``gs://bucket/prefix``.
        model_name: Model name under the root.
        transform_dir: The TFT transform graph, copied into the version when given.
        now: Push time (default: current UTC time); names the version.
        store: What the model root is read and written through (default: the store of
            ``model_root``; tests pass one that fails at a chosen write).

    Returns:
        The version's manifest (without the checksums), with ``version`` and ``path``.

    Raises:
        NotBlessed: the blessing is negative.
        StaleInput: an input is unreadable, from an older schema, or for another model.
        VersionConflict: the version exists already.
    """
    now = now or dt.datetime.now(dt.UTC)
    blessing, metrics = read_inputs(
        blessing_path, metrics_path, model_digest=tree_digest(model_dir)
    )
    data = _read_json(data_manifest_path, "ingest manifest")
    root = ModelRoot(model_root, store=store)
    version = new_version(now)
    manifest = {
        "model": model_name,
        "schema_version": SCHEMA_VERSION,
        "metrics_schema": METRICS_SCHEMA,
        "code_version": importlib.metadata.version("shoprec"),
        "parent_version": root.read_latest(model_name),
        "data": {key: data.get(key) for key in ("input", "train_end", "eval_end", "now")},
        "data_schema_version": data.get("schema_version"),
        "model_digest": blessing.model_digest,
        "blessing": {
            "gate_passed": blessing.gate_passed,
            "forced": blessing.forced,
            "in_service_version": blessing.in_service_version,
        },
        "has_transform_graph": transform_dir is not None,
        "pushed_at": now.isoformat(),
    }
    final = publish(
        model_dir,
        root=root,
        model=model_name,
        version=version,
        documents={"metrics": metrics.as_dict(), "blessing": blessing.as_dict()},
        manifest=manifest,
        transform_dir=transform_dir,
    )
    logger.info("pushed version=%s path=%s forced=%s", version, final, bool(blessing.forced))
    return {**manifest, "version": version, "path": final}
