"""I/O shell of the push stage: a blessed model directory in, a new version under the root out."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging

from components.push import registry
from schemas import SCHEMA_VERSION

logger = logging.getLogger(__name__)


class NotBlessed(registry.PushError):
    """The gate did not bless the model; it is never pushed."""


def run(
    *,
    model_dir: str,
    metrics_path: str,
    blessing_path: str,
    data_manifest_path: str,
    model_root: str,
    model_name: str,
    now: dt.datetime | None = None,
) -> dict:
    """Publish ``model_dir`` as a new version if its blessing says so.

    Args:
        model_dir: The train output to publish.
        metrics_path: Evaluate's metrics JSON (copied into the version).
        blessing_path: Evaluate's blessing JSON; push refuses unless ``blessed`` is true.
        data_manifest_path: Ingest's manifest (its data window goes into the lineage).
        model_root: Local root of versions.
        model_name: Model name under the root.
        now: Push time (default: current UTC time); names the version.

    Returns:
        The version's manifest.

    Raises:
        NotBlessed: the blessing is negative.
        registry.PushConflict: the version exists already.
    """
    blessing = _read_json(blessing_path)
    if not blessing.get("blessed"):
        raise NotBlessed(f"{blessing_path}: not blessed ({'; '.join(blessing.get('reasons', []))})")
    data = _read_json(data_manifest_path)
    version = registry.new_version(now or dt.datetime.now(dt.UTC))
    manifest = {
        "model": model_name,
        "schema_version": SCHEMA_VERSION,
        "code_version": importlib.metadata.version("shoprec"),
        "parent_version": registry.read_latest(model_root, model_name),
        "data": {key: data.get(key) for key in ("input", "train_end", "eval_end", "now")},
        "pushed_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
    }
    final = registry.publish(
        model_dir,
        root=model_root,
        model=model_name,
        version=version,
        documents={"metrics": _read_json(metrics_path), "blessing": blessing},
        manifest=manifest,
    )
    logger.info("pushed version=%s path=%s", version, final)
    return {**manifest, "version": version, "path": final}


def _read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)
