"""A small fake train output and the evaluate documents that bless it."""

import json

import pytest

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.registry import model_root


def make_inputs(base, *, blessed=True, forced=None):
    """Model, transform graph, evaluation docs and ingest manifest under ``base``."""
    model = base / "model"
    (model / "serving" / "variables").mkdir(parents=True)
    (model / "serving" / "saved_model.pb").write_bytes(b"graph" * 100)
    (model / "serving" / "variables" / "variables.data").write_bytes(bytes(range(256)) * 10)
    (model / "history.json").write_text("{}")
    graph = base / "tg"
    (graph / "transform_fn").mkdir(parents=True)
    (graph / "transform_fn" / "saved_model.pb").write_bytes(b"tft")
    ev = base / "ev"
    ev.mkdir()
    blessing = BlessingDocument(
        blessed=blessed,
        gate_passed=blessed and forced is None,
        forced=forced,
        reasons=["test"],
        model_digest=model_root.tree_digest(str(model)),
    )
    (ev / "blessing.json").write_text(json.dumps(blessing.as_dict()))
    (ev / "metrics.json").write_text(json.dumps(MetricsDocument().as_dict()))
    data = base / "data"
    data.mkdir()
    (data / "manifest.json").write_text(
        json.dumps({"input": "x", "train_end": "t1", "eval_end": "t2", "now": "t3"})
    )
    return {"model": model, "graph": graph, "ev": ev, "data": data}


@pytest.fixture
def inputs(tmp_path):
    return make_inputs(tmp_path)
