"""The gate's world: a good and a planted worse model from the real stages on the bundled sample.

Session-scoped, so every gate test module (test_gate_and_push, test_gate_protected_slice) shares
one pair of models; the good one is the session's ``tiny_model`` (tests/conftest.py).
"""

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.ingest import layout
from tests import tiny_shop


@pytest.fixture(scope="session")
def world(tmp_path_factory, tiny_data, tiny_examples, tiny_model):
    work = tmp_path_factory.mktemp("gate")
    good = {**tiny_examples, "model": tiny_model}
    shuffled = work / "shuffled-data"
    shutil.copytree(tiny_data, shuffled)
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
    worse = tiny_shop.transform(shuffled, work / "worse")
    worse["model"] = tiny_shop.train(
        worse, work / "worse" / "model", "--epochs", str(tiny_shop.TRAIN_EPOCHS)
    )
    return {"work": work, "good": good, "worse": worse, "data": tiny_data}
