"""The exported model never serves an item of the request's own history (issue 17).

Evaluation removes each user's history from their ranking, so the served top-K must as well:
``serving_default`` excludes ``hist_item_ids`` (always on: the exclusion the gate measured),
while ``catalog_scores`` scores every item, history included, for a caller who wants it.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from components.exported_model import ExportedModel
from components.ingest import layout
from components.train import outputs
from components.transform.outputs import requests_path
from schemas import features as fs

pytestmark = pytest.mark.slow


def test_served_top_k_never_repeats_the_request_history(tiny_model, tiny_examples) -> None:
    requests = pq.read_table(requests_path(str(tiny_examples["examples"]), layout.EVAL))
    model = ExportedModel(outputs.serving_dir(str(tiny_model)))
    lists, _ = model.top_k(requests)
    history = [set(h or ()) - {""} for h in requests[fs.HIST_ITEM_IDS].to_pylist()]
    assert sum(map(len, history)) > 100  # not an empty comparison
    assert all(not set(row) & h for row, h in zip(lists, history, strict=True))
    # The history is excluded by the signature, not absent from the catalog: the raw scores
    # would have ranked some of it into the top-K.
    items = np.asarray(model.catalog_items())
    scores = np.concatenate(list(model.catalog_scores(requests)))
    k = len(lists[0])
    raw_top = [set(items[np.argsort(-s)[:k]]) for s in scores]
    assert sum(len(top & h) for top, h in zip(raw_top, history, strict=True)) > 0
