"""Model selection never sees the eval window: changing eval-window events changes no choice.

The tiny shop is ingested a second time with its eval-window events changed (half dropped,
the rest moved to other items) and the same cut-offs; transform, train and evaluate run on it
as on the original. The trainer's choices (the epoch curve on the validation window, the
epoch count, the very weights) and every peer's tuned setting must come out the same; the eval
figures must not (the perturbation is real).
"""

import datetime as dt
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.evaluate.config import EvaluateConfig
from components.evaluate.documents import CANDIDATE
from components.evaluate.job import run
from components.ingest import layout
from tests import tiny_shop

pytestmark = pytest.mark.slow


def _perturbed_raw(out, train_end: str):
    """The tiny shop's raw files with every event at or after ``train_end`` changed."""
    shutil.copytree(tiny_shop.TINY, out)
    path = out / "events" / "part-00000.parquet"
    events = pq.read_table(path)
    cut = pa.scalar(dt.datetime.fromisoformat(train_end.replace("Z", "+00:00")), events["ts"].type)
    late = pc.greater_equal(events["ts"], cut)
    early, after = events.filter(pc.invert(late)), events.filter(late)
    assert after.num_rows > 50
    rng = np.random.default_rng(0)
    after = after.take(np.sort(rng.choice(after.num_rows, after.num_rows // 2, replace=False)))
    items = np.asarray(pc.unique(events["item_id"]).to_pylist())
    moved = rng.choice(items, after.num_rows)
    after = after.set_column(after.schema.get_field_index("item_id"), after.schema.field("item_id"),
                             pa.array(moved, pa.string()))  # fmt: skip
    pq.write_table(pa.concat_tables([early, after]).replace_schema_metadata(events.schema.metadata),
                   path)  # fmt: skip
    return out


def _evaluate(data, transformed, model, out):
    metrics, _ = run(
        data_dir=str(data),
        examples_dir=str(transformed["examples"]),
        model_dir=str(model),
        model_root=str(out / "root"),
        model_name="shoprec",
        metrics_path=str(out / "metrics.json"),
        blessing_path=str(out / "blessing.json"),
        config=EvaluateConfig(infra_requests=0),
    )
    return metrics.as_dict()


def test_changing_eval_window_events_changes_no_choice(tiny_examples, tiny_model, tmp_path):
    original = json.loads((tiny_examples["data"] / "manifest.json").read_text())
    raw = _perturbed_raw(tmp_path / "raw", original["train_end"])
    data = tiny_shop.stage_ingest(raw, tmp_path / "data", "--train-end", original["train_end"],
                                  "--eval-end", original["eval_end"],
                                  "--validation-start", original["validation_start"])  # fmt: skip
    changed = json.loads((data / "manifest.json").read_text())
    for key in ("train_end", "eval_end", "validation_start"):
        assert changed[key] == original[key]
    before = layout.read_table(tiny_examples["data"], "events", layout.EVAL)
    after = layout.read_table(data, "events", layout.EVAL)
    assert after.num_rows < before.num_rows  # the eval window did change
    assert layout.read_table(data, "events", layout.TRAIN).equals(
        layout.read_table(tiny_examples["data"], "events", layout.TRAIN)
    )
    transformed = tiny_shop.transform(data, tmp_path)
    model = tiny_shop.train(transformed, tmp_path / "model", *tiny_shop.TINY_MODEL_FLAGS)

    # The trainer: the same validation curve, epoch count and weights.
    first = json.loads((tiny_model / "manifest.json").read_text())
    second = json.loads((model / "manifest.json").read_text())
    assert first["selection"] is not None and first["selection"]["curve"]
    for key in ("selection", "epochs", "blend", "weights_sha256"):
        assert second[key] == first[key], key

    # The peers: the same setting chosen for each, with the same validation score.
    a = _evaluate(tiny_examples["data"], tiny_examples, tiny_model, tmp_path / "a")
    b = _evaluate(data, transformed, model, tmp_path / "b")
    assert a["peers"]["chosen"] and b["peers"]["chosen"] == a["peers"]["chosen"]
    assert a["eval_users"] != b["eval_users"] or a["models"][CANDIDATE] != b["models"][CANDIDATE]
