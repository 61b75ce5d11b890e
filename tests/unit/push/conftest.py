"""A small fake train output and the evaluate documents that bless it."""

import json

import pytest

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.push.job import run
from components.registry import store
from components.registry.digest import model_digest
from components.registry.model_root import LATEST, ModelRoot


def make_inputs(base, *, blessed=True, forced=None, variant="", first_night=None):
    """Model, transform graph, evaluation docs and ingest manifest under ``base``.

    ``variant`` changes the model's weights (another model); the blessing says nothing was in
    service (``bless`` re-blesses against a root's LATEST).
    """
    model = base / "model"
    (model / "serving" / "variables").mkdir(parents=True, exist_ok=True)
    (model / "serving" / "saved_model.pb").write_bytes(b"graph" * 100)
    weights = bytes(range(256)) * 10 + variant.encode()
    (model / "serving" / "variables" / "variables.data").write_bytes(weights)
    (model / "history.json").write_text("{}")
    graph = base / "tg"
    (graph / "transform_fn").mkdir(parents=True, exist_ok=True)
    (graph / "transform_fn" / "saved_model.pb").write_bytes(b"tft")
    ev = base / "ev"
    ev.mkdir(exist_ok=True)
    inputs = {"model": model, "graph": graph, "ev": ev, "data": base / "data"}
    bless(inputs, None, blessed=blessed, forced=forced, first_night=first_night)
    (ev / "metrics.json").write_text(json.dumps(MetricsDocument().as_dict()))
    inputs["data"].mkdir(exist_ok=True)
    (inputs["data"] / "manifest.json").write_text(
        json.dumps({"input": "x", "train_end": "t1", "eval_end": "t2", "now": "t3"})
    )
    return inputs


def bless(inputs, root, *, name="m", blessed=True, forced=None, first_night=None):
    """Write the blessing evaluate would write for ``inputs``' model against ``root`` now."""
    latest = ModelRoot(str(root)).latest(name) if root is not None else None
    blessing = BlessingDocument(
        blessed=blessed,
        gate_passed=blessed and forced is None and first_night is None,
        forced=forced,
        first_night=first_night,
        reasons=["test"],
        in_service_version=None if latest is None else latest.version,
        latest_sha256=None if latest is None else latest.sha256,
        model_digest=model_digest(str(inputs["model"])),
    )
    (inputs["ev"] / "blessing.json").write_text(json.dumps(blessing.as_dict()))


def renew(inputs, root, variant, *, name="m"):
    """Tonight's model of ``inputs`` is ``variant``, blessed against what ``root`` serves now."""
    weights = bytes(range(256)) * 10 + variant.encode()
    (inputs["model"] / "serving" / "variables" / "variables.data").write_bytes(weights)
    bless(inputs, root, name=name)
    return inputs


def night(base, root, variant, *, name="m"):
    """A new model (``variant``) evaluated tonight against what ``root`` serves now."""
    inputs = make_inputs(base, variant=variant)
    bless(inputs, root, name=name)
    return inputs


@pytest.fixture
def inputs(tmp_path):
    return make_inputs(tmp_path)


def push(inputs, root, now, store=None):
    """Push ``inputs``' model into ``root`` at ``now`` (push's core, in this process)."""
    return run(
        model_dir=str(inputs["model"]),
        metrics_path=str(inputs["ev"] / "metrics.json"),
        blessing_path=str(inputs["ev"] / "blessing.json"),
        data_manifest_path=str(inputs["data"] / "manifest.json"),
        model_root=root,
        model_name="m",
        transform_dir=str(inputs["graph"]),
        now=now,
        store=store,
    )


def swap_latest(root: str, data: bytes) -> None:
    """Overwrite model ``m``'s LATEST under ``root`` with ``data`` (any bytes: damage too)."""
    models = store.open_store(root)
    current = models.read_bytes(f"m/{LATEST}")
    models.swap(f"m/{LATEST}", data, expected=store.sha256_bytes(current) if current else None)
