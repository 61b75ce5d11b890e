"""The gate's world: a good and a planted worse model from the real stages on the bundled sample.

Session-scoped, so every gate test module (test_gate_and_push, test_gate_protected_slice) shares
one pair of trainings.
"""

import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.ingest import layout
from tests.e2e.test_pipeline_local import TINY


def stage(*args):
    subprocess.run([sys.executable, "-m", *args], check=True, capture_output=True)


def build(work, data):
    examples, graph, model = work / "examples", work / "tg", work / "model"
    stage("components.transform", "--data", str(data), "--examples", str(examples),
          "--transform-graph", str(graph))  # fmt: skip
    stage("components.train", "--examples", str(examples), "--transform-graph", str(graph),
          "--model", str(model), "--epochs", "3")  # fmt: skip
    return {"data": data, "examples": examples, "graph": graph, "model": model}


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    work = tmp_path_factory.mktemp("gate")
    data = work / "data"
    stage("components.ingest", "--input", str(TINY), "--out", str(data),
          "--now", "2026-11-24T00:00:00Z", "--quiet")  # fmt: skip
    good = build(work / "good", data)
    shuffled = work / "shuffled-data"
    shutil.copytree(data, shuffled)
    path = layout.table_path(shuffled, "events", layout.TRAIN)
    events = pq.read_table(path)
    # Planted worse model: an id-mapping bug that swaps the most and least popular items of the
    # train window (consistently). Shuffling per event keeps popularity, which on the tiny
    # sample is about as good as the real model, so that would not be a clearly worse model.
    counts = pc.value_counts(events["item_id"].combine_chunks())
    order = np.argsort(-np.asarray(counts.field("counts")), kind="stable")
    ids = pc.take(counts.field("values"), pa.array(order))
    wrong = pc.take(ids, pa.array(np.arange(len(ids))[::-1].copy()))
    relabelled = pc.take(wrong, pc.index_in(events["item_id"], value_set=ids))
    item = events.schema.get_field_index("item_id")
    pq.write_table(events.set_column(item, "item_id", relabelled), path)
    worse = build(work / "worse", shuffled)
    return {"work": work, "good": good, "worse": worse, "data": data}
