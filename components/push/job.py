"""I/O shell of the push stage: a blessed model directory in, a new version under the root out."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import os

from components.evaluate.documents import (
    METRICS_SCHEMA,
    BlessingDocument,
    DocumentError,
    MetricsDocument,
    read_blessing,
    read_metrics,
)
from components.push.errors import MissingInput, PushError, StaleInput
from components.push.publish import new_version, point_latest, publish
from components.registry import store as stores
from components.registry.digest import model_digest
from components.registry.errors import LatestMoved
from components.registry.model_root import ModelRoot
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
        model_digest: ``digest.model_digest`` of the model directory about to be pushed.

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

    LATEST moves only if it still holds what evaluate read (the blessing's ``latest_sha256``):
    a replayed or delayed push never puts an older model back in service. The same model
    (``digest.model_digest``) is never a second version: already in service, it is a no-op;
    already a complete version, LATEST is pointed at that one.

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
        The version's manifest (without the checksums), with ``version``, ``path`` and
        ``unchanged`` (True when nothing new was written).

    Raises:
        MissingInput: the model directory (or the transform graph) does not exist.
        NotBlessed: the blessing is negative.
        StaleInput: an input is unreadable, from an older schema, or for another model.
        LatestMoved: LATEST no longer holds what evaluate compared against.
        VersionConflict: the version exists already.
    """
    now = now or dt.datetime.now(dt.UTC)
    for path, what in ((model_dir, "model"), (transform_dir, "transform graph")):
        if path is not None and not os.path.isdir(path):
            raise MissingInput(f"{path}: the {what} directory to push does not exist")
    digest = model_digest(model_dir)
    blessing, metrics = read_inputs(blessing_path, metrics_path, model_digest=digest)
    data = _read_json(data_manifest_path, "ingest manifest")
    root = ModelRoot(model_root, store=store)
    latest = root.latest(model_name)
    if latest.version is not None and latest.version in root.versions_with_digest(
        model_name, digest
    ):
        logger.info("model already in service version=%s digest=%s", latest.version, digest)
        return _existing(root, model_name, latest.version, unchanged=True)
    if latest.sha256 != blessing.latest_sha256:
        raise LatestMoved(
            f"{root.store.path(model_name)}/LATEST moved since evaluate read it: evaluate "
            f"compared against {_named(blessing.in_service_version, blessing.latest_sha256)}, "
            f"LATEST now {_named(latest.version, latest.sha256, latest.problem)}; not pushed "
            "(a replayed or concurrent push); re-run evaluate against the model now in service"
        )
    same = root.versions_with_digest(model_name, digest)
    if same:
        # The same model is already a complete version (e.g. rolled back from): serve it again.
        point_latest(root, model_name, same[-1], expected=latest.sha256)
        logger.info("model already a version; LATEST -> version=%s", same[-1])
        return _existing(root, model_name, same[-1], unchanged=False)
    version = new_version(now)
    manifest = {
        "model": model_name,
        "schema_version": SCHEMA_VERSION,
        "metrics_schema": METRICS_SCHEMA,
        "code_version": importlib.metadata.version("shoprec"),
        "parent_version": latest.version,
        "replaced_latest_problem": latest.problem,
        "data": {key: data.get(key) for key in ("input", "train_end", "eval_end", "now")},
        "data_schema_version": data.get("schema_version"),
        "model_digest": blessing.model_digest,
        "blessing": {
            "gate_passed": blessing.gate_passed,
            "forced": blessing.forced,
            "first_night": blessing.first_night,
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
        expected_latest=latest.sha256,
        transform_dir=transform_dir,
    )
    logger.info("pushed version=%s path=%s forced=%s", version, final, bool(blessing.forced))
    return {**manifest, "version": version, "path": final, "unchanged": False}


def _named(version: str | None, sha256: str | None, problem: str | None = None) -> str:
    if problem is not None:
        return f"damaged ({problem})"
    if sha256 is None:
        return "nothing in service (no LATEST)"
    return f"version {version}" if version else f"LATEST sha256 {sha256[:12]}"


def _existing(root: ModelRoot, model: str, version: str, *, unchanged: bool) -> dict:
    manifest = {k: v for k, v in root.verify_version(model, version).items() if k != "files"}
    return {**manifest, "version": version, "path": root.version_dir(model, version),
            "unchanged": unchanged}  # fmt: skip
