"""On a refused night, keep the model in service, restricted to today's catalog.

The gate refused the candidate, so the model in service keeps serving; it was trained with the
catalog of its own night, and whatever keeps serving must not recommend what is no longer sold.
``keep`` reads the blessing (refused) and today's catalog (ingest's items), and if the model in
service knows items that are not on sale any more, publishes a new version: the same model
restricted to today's catalog (``catalog_view.restrict_export``), infra-validated in a fresh
process, with lineage ``kept_from`` (the version whose weights it serves) and the items it
dropped. That is the ranking the gate re-judged the model in service by (``evaluate``: items
outside today's catalog are never ranked). LATEST moves by the same compare-and-swap as push:
only if it still holds what evaluate read. With nothing delisted it changes nothing.

A restriction always starts from the version whose weights are served (``kept_from`` of a kept
version), so consecutive refused nights do not nest restrictions, and an item back on sale
comes back.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile

import pyarrow.parquet as pq

from components.evaluate.documents import DocumentError, read_blessing, read_metrics
from components.evaluate.infra import validate_in_fresh_process
from components.ingest import layout as ingest_layout
from components.push.catalog_view import CannotRestrict, restrict_export
from components.push.errors import MissingInput, PushError, StaleInput
from components.push.publish import new_version, point_latest, publish
from components.registry import model_root as root_layout
from components.registry import store as stores
from components.registry.digest import model_digest
from components.registry.errors import LatestMoved
from components.registry.model_root import ModelRoot
from components.train import outputs as train_outputs
from components.transform.outputs import requests_path
from schemas import ITEMS, SCHEMA_VERSION
from schemas.tables import ITEM_ID

logger = logging.getLogger(__name__)
INFRA_REQUESTS = 32


def keep(
    *,
    data_dir: str,
    examples_dir: str,
    metrics_path: str,
    blessing_path: str,
    model_root: str,
    model_name: str,
    now: dt.datetime | None = None,
    store: stores.Store | None = None,
) -> dict:
    """Restrict the model in service to today's catalog if it knows delisted items.

    Args:
        data_dir: Ingest output (its items table is today's catalog; its window the lineage).
        examples_dir: Transform output (eval serving requests for the infra validation).
        metrics_path: Evaluate's metrics (copied into the new version).
        blessing_path: Evaluate's blessing; must be a refusal (a blessed model is pushed).
        model_root: Root of versions: local directory or ``gs://bucket/prefix``.
        model_name: Model name under the root.
        now: Time of the new version (default: now).
        store: The model root's store (tests inject faults).

    Returns:
        ``{"version", "unchanged", "delisted", "kept_from", ...}``: the version now in service
        (``unchanged`` when nothing was delisted or nothing is in service).

    Raises:
        StaleInput: the blessing blesses (push it instead) or is unreadable.
        LatestMoved: LATEST changed since evaluate read it.
        CannotRestrict: the model in service cannot be restricted (an old export); the message
            says to push a new model or roll back.
    """
    now = now or dt.datetime.now(dt.UTC)
    try:
        blessing = read_blessing(blessing_path)
        metrics = read_metrics(metrics_path)
    except DocumentError as e:
        raise StaleInput(str(e)) from e
    if blessing.blessed:
        raise StaleInput(f"{blessing_path}: the candidate is blessed: push it, nothing to keep")
    root = ModelRoot(model_root, store=store)
    latest = root.latest(model_name)
    if latest.sha256 != blessing.latest_sha256:
        raise LatestMoved(
            f"{root.store.path(model_name)}/LATEST moved since evaluate read it; nothing kept "
            "(re-run evaluate against the model now in service)"
        )
    if latest.version is None:
        logger.info("nothing in service to keep problem=%s", latest.problem)
        return {"version": None, "unchanged": True, "delisted": 0, "problem": latest.problem}
    catalog = _catalog(data_dir)
    manifest = root.verify_version(model_name, latest.version)
    origin = manifest.get("kept_from") or latest.version
    with tempfile.TemporaryDirectory(prefix="keep-") as work:
        served_home = root.fetch_version(model_name, latest.version, os.path.join(work, "served"))
        served_items = _items(os.path.join(served_home, root_layout.MODEL_SUBDIR))
        delisted_now = sorted(set(served_items) - catalog)
        if not delisted_now:
            logger.info("model in service sells only listed items version=%s", latest.version)
            return {"version": latest.version, "unchanged": True, "delisted": 0}
        home = (
            served_home
            if origin == latest.version
            else root.fetch_version(model_name, origin, os.path.join(work, "origin"))
        )
        model = os.path.join(work, "model")
        source = os.path.join(home, root_layout.MODEL_SUBDIR)
        shutil.copytree(source, model, ignore=shutil.ignore_patterns(train_outputs.SERVING_DIR))
        restricted = restrict_export(
            train_outputs.serving_dir(source), catalog, train_outputs.serving_dir(model)
        )
        _restrict_item_embeddings(model, set(restricted.kept))
        infra = _infra(model, examples_dir, set(restricted.kept))
        if not infra.ok:
            raise PushError(
                f"the model in service restricted to today's catalog fails infra validation "
                f"({infra.detail}); nothing kept"
            )
        digest = model_digest(model)
        same = root.versions_with_digest(model_name, digest)
        if same:
            point_latest(root, model_name, same[-1], expected=latest.sha256)
            return {"version": same[-1], "unchanged": False, "delisted": len(delisted_now)}
        graph = os.path.join(home, root_layout.TRANSFORM_SUBDIR)
        version = new_version(now)
        lineage = {
            "model": model_name,
            "schema_version": SCHEMA_VERSION,
            "metrics_schema": metrics.metrics_schema,
            "code_version": importlib.metadata.version("shoprec"),
            "parent_version": latest.version,
            "kept_from": origin,
            "delisted_items": restricted.delisted,
            "served_items": len(restricted.kept),
            "served_k": restricted.k,
            # The weights' data window is the kept model's; the catalog is tonight's.
            "data": manifest.get("data"),
            "catalog_data": _window(data_dir),
            "model_digest": digest,
            "blessing": {
                "gate_passed": False,
                "forced": None,
                "first_night": None,
                "in_service_version": blessing.in_service_version,
                "kept": "the candidate was refused; the model in service is kept on today's "
                "catalog",
            },
            "infra": {"ok": infra.ok, "detail": infra.detail},
            "has_transform_graph": os.path.isdir(graph),
            "pushed_at": now.isoformat(),
        }
        final = publish(
            model,
            root=root,
            model=model_name,
            version=version,
            documents={"metrics": metrics.as_dict(), "blessing": blessing.as_dict()},
            manifest=lineage,
            expected_latest=latest.sha256,
            transform_dir=graph if os.path.isdir(graph) else None,
        )
    logger.info(
        "kept model in service on today's catalog version=%s kept_from=%s delisted=%d",
        version,
        origin,
        len(delisted_now),
    )
    return {**lineage, "version": version, "path": final, "unchanged": False,
            "delisted": len(delisted_now)}  # fmt: skip


def _catalog(data_dir: str) -> set[str]:
    path = ingest_layout.table_path(data_dir, ITEMS.name, ingest_layout.ALL)
    if not os.path.isfile(path):
        raise MissingInput(f"{path}: no items table: today's catalog is unknown, nothing kept")
    return set(pq.read_table(path, columns=[ITEM_ID])[ITEM_ID].to_pylist())


def _window(data_dir: str) -> dict:
    """Tonight's ingest window (where today's catalog comes from)."""
    try:
        with open(os.path.join(data_dir, ingest_layout.MANIFEST)) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise MissingInput(f"{data_dir}: no readable ingest manifest ({e})") from e
    return {key: data.get(key) for key in ("input", "train_end", "eval_end", "now")}


def _items(model_dir: str) -> list[str]:
    """The catalog an exported model serves (its ``catalog_items``)."""
    from components.exported_model import ExportedModel, ModelUnavailable, ServingInputError

    try:
        return ExportedModel(train_outputs.serving_dir(model_dir)).catalog_items()
    except (ModelUnavailable, ServingInputError) as e:
        raise CannotRestrict(f"{model_dir}: its catalog cannot be read ({e})") from e


def _restrict_item_embeddings(model_dir: str, kept: set[str]) -> None:
    path = train_outputs.item_embeddings_path(model_dir)
    if os.path.isfile(path):
        table = pq.read_table(path)
        keep = [i in kept for i in table[ITEM_ID].to_pylist()]
        pq.write_table(table.filter(keep), path)


def _infra(model_dir: str, examples_dir: str, catalog: set[str]):
    path = requests_path(examples_dir, ingest_layout.EVAL)
    if not os.path.isfile(path):
        raise MissingInput(f"{path}: no serving requests to validate the kept model with")
    requests = pq.read_table(path).slice(0, INFRA_REQUESTS)
    return validate_in_fresh_process(
        train_outputs.serving_dir(model_dir), requests, catalog=catalog
    )
