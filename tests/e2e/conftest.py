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
    # Planted worse model: a join bug that gives every train event a random item of the catalog
    # (seeded). Swapping the most and least popular items, or shuffling items between events,
    # left too much signal for the exact-softmax model with its popularity and relation-graph
    # terms (on the tiny sample the swapped model ranked as well as the real one).
    ids = pc.unique(events["item_id"].combine_chunks())
    rng = np.random.default_rng(0)
    relabelled = pc.take(ids, pa.array(rng.integers(0, len(ids), events.num_rows)))
    item = events.schema.get_field_index("item_id")
    pq.write_table(events.set_column(item, events.schema.field(item), relabelled), path)
    worse = tiny_shop.transform(shuffled, work / "worse")
    # The same flags as the good one, but in-batch negatives: the exact softmax adds score terms
    # that do not come from the (corrupted) interactions (the relation graph reads the catalog's
    # true relations), and on 120 items those alone rank about as well as the real model.
    worse["model"] = tiny_shop.train(
        worse, work / "worse" / "model", *tiny_shop.TINY_MODEL_FLAGS, "--softmax", "in_batch"
    )
    return {"work": work, "good": good, "worse": worse, "data": tiny_data}
