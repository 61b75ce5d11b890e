"""The exported model, loaded in a fresh process, ranks planted users' next items high.

A small shop is generated with planted signal and split at the generator's own history cut;
the real ingest, transform and train stages build the model; a subprocess that imports only
TensorFlow, pyarrow and numpy loads ``serving/`` and answers the transform's eval serving
requests. Its hit rate@20 on the eval users' new items must clearly beat most-popular's.
"""

import collections
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from components.ingest import layout
from components.train.outputs import SERVING_DIR
from components.transform.outputs import requests_path
from schemas.tables import EVENTS, ITEM_ID, USER_ID
from tests.tiny_shop import NOW, stage

K = 20

# A fresh process with no project code: raw request rows in, each user's ranked raw ids out.
SERVE = """
import os, sys, json
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, pyarrow.parquet as pq, tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
rows = pq.read_table(sys.argv[2])
feed = {name: tf.constant(np.array(rows[name].to_pylist()), dtype=spec.dtype)
        for name, spec in serve.structured_input_signature[1].items()}
ids = serve(**feed)["item_ids"].numpy()
users = rows["user_id"].to_pylist()
print(json.dumps({u: [i.decode() for i in row] for u, row in zip(users, ids)}))
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    work = tmp_path_factory.mktemp("planted")
    raw, data, examples, graph, model = (work / n for n in ("raw", "data", "ex", "tg", "model"))
    stage("components.sources.generate", "--users", "400", "--items", "150",
          "--events", "20000", "--seed", "3", "--out", str(raw))  # fmt: skip
    world = json.loads((raw / "_meta.json").read_text())["world"]
    stage("components.ingest", "--input", str(raw), "--out", str(data),
          "--train-end", world["history_cut"], "--eval-end", world["eval_end"],
          "--now", NOW, "--quiet")  # fmt: skip
    stage("components.transform", "--data", str(data), "--examples", str(examples),
          "--transform-graph", str(graph))  # fmt: skip
    stage("components.train", "--examples", str(examples), "--transform-graph", str(graph),
          "--model", str(model), "--epochs", "5", "--batch-size", "128")  # fmt: skip
    return {"data": data, "examples": examples, "model": model}


def interactions(data: pathlib.Path, split: str) -> dict[str, list[str]]:
    """Each user's items in one window, in event order."""
    events = layout.read_table(data, EVENTS.name, split)
    out = collections.defaultdict(list)
    for user, item in zip(events[USER_ID].to_pylist(), events[ITEM_ID].to_pylist(), strict=True):
        out[user].append(item)
    return out


def hit_rate(ranked: dict[str, list[str]], seen: dict, new: dict[str, set]) -> float:
    """Share of users with one of their new items among their top K unseen ranked items."""
    hits = []
    for user, targets in new.items():
        top = [i for i in ranked[user] if i not in seen[user]][:K]
        hits.append(bool(targets & set(top)))
    return float(np.mean(hits))


@pytest.mark.slow
def test_exported_model_in_a_fresh_process_beats_most_popular(shop):
    served = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE,
            str(shop["model"] / SERVING_DIR),
            requests_path(str(shop["examples"]), layout.EVAL),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    ranked = json.loads(served.stdout)
    before, after = (
        interactions(shop["data"], layout.TRAIN),
        interactions(shop["data"], layout.EVAL),
    )
    seen = {u: set(items) for u, items in before.items()}
    new = {u: set(after[u]) - seen[u] for u in after if u in seen and set(after[u]) - seen[u]}
    assert len(new) > 50 and set(new) <= set(ranked)

    counts = collections.Counter(i for items in before.values() for i in items)
    popular = [i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    model_rate = hit_rate(ranked, seen, new)
    popular_rate = hit_rate(dict.fromkeys(new, popular), seen, new)
    print(f"hit_rate@{K} users={len(new)} model={model_rate:.3f} most_popular={popular_rate:.3f}")
    assert model_rate > popular_rate + 0.1, (model_rate, popular_rate)
