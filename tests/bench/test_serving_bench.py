"""Serving latency of the exported top-K model: p50/p99 per call, batch 1 and 256, by index size.

One full model is trained (1 epoch: latency does not depend on how well it ranks) on the generated
100k-event shop (``shop.py``; its catalog has 500 items). It is exported by the trainer's own
functions (``embed_catalog``, ``build_recommender``, ``save_recommender``) three times, with a
BruteForce index of the catalog itself and of 10k and 100k items. The larger indexes replicate the
catalog's candidate embeddings under new ids (``<id>#<copy>``) with a small jitter, so scores do
not tie: the serving path is the one a 100k-item catalog would take (raw features -> TFT ->
query tower -> a [batch, dim] x [dim, items] matmul -> top-K -> id gather); only the candidate
tower, which runs at export and not per request, never sees 100k items. Training on a 100k-item
catalog would cost the transform and the catalog table far more and change none of that path.

The exports are loaded in one fresh interpreter that imports only TensorFlow, NumPy and PyArrow
(``tf.saved_model.load``), fed the eval serving requests (transform's requests Parquet, cast to the
signature's dtypes as ``components.exported_model`` does; the conversion is not timed), warmed
up, then timed per call with the outputs fetched to NumPy. ``query_embedding`` (TFT + query
tower, no index) is timed too: the difference is what the index costs; so are the index's two
steps alone (scores matmul, ``tf.math.top_k``) on random candidates of the same shape. The calls
of all exports are interleaved (round robin, order rotated) so that other jobs on this shared
machine load them alike and ratios between index sizes are fair. Nothing here asserts on time.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from components.train.config import TrainConfig
from components.train.export import build_recommender, embed_catalog, save_recommender
from components.transform.outputs import requests_path
from tests.bench.shop import REPO, build_trainer, shared_shop

INDEX_SIZES = {"catalog": None, "10k": 10_000, "100k": 100_000}
CALLS = {1: 300, 256: 60}  # timed calls per batch size (>= 200 and >= 50)
WARMUP = 20
JITTER = 0.01  # of each dimension's std: replicated candidates do not tie

CHILD = r"""
import json, os, sys, time
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import pyarrow.parquet as pq
import tensorflow as tf

plan = json.loads(sys.argv[1])
results = {"load_s": {}}
models = {}
for name, path in plan["dirs"].items():
    start = time.perf_counter()
    models[name] = tf.saved_model.load(path)
    results["load_s"][name] = time.perf_counter() - start
# Every index's top-K signature, and one query_embedding (the same towers in every export).
first = next(iter(plan["dirs"]))
targets = {f"{name}/serving_default": m.signatures["serving_default"] for name, m in models.items()}
targets[f"{first}/query_embedding"] = models[first].signatures["query_embedding"]
requests = pq.read_table(plan["requests"])
rows = results["request_rows"] = requests.num_rows
_, specs = targets[f"{first}/serving_default"].structured_input_signature

def feed(offset, size):
    batch = requests.take([(offset + i) % rows for i in range(size)])
    out = {}
    for name, spec in specs.items():
        values = batch[name].to_pylist()
        if spec.shape.rank and spec.shape.rank > 1:
            values = np.asarray(values)
        out[name] = tf.constant(values, dtype=spec.dtype)
    return out

# The index's two steps alone, on random [items, dim] candidates: scores = queries x candidates^T,
# then top_k (what TFRS BruteForce does before gathering the ids).
matmul = tf.function(lambda q, c: tf.linalg.matmul(q, c, transpose_b=True))
top_k = tf.function(lambda s: tf.math.top_k(s, k=plan["k"]))
candidates = {
    name: tf.random.normal([items, plan["dim"]], seed=1)
    for name, items in plan["op_items"].items()
}

for size, calls in plan["calls"].items():
    size = int(size)
    feeds = [feed(i * size, size) for i in range(min(calls, max(rows // size, 1) * 4))]
    run = {key: (lambda f, fn=fn: fn(**f)) for key, fn in targets.items()}
    queries = tf.random.normal([size, plan["dim"]], seed=2)
    for name, cands in candidates.items():
        run[f"{name}/op_matmul"] = lambda f, c=cands: matmul(queries, c)
        run[f"{name}/op_top_k"] = lambda f, s=matmul(queries, cands): top_k(s)
    for key, fn in run.items():
        start = time.perf_counter()
        fn(feeds[0])
        results[f"{key}/b{size}/first_call_ms"] = (time.perf_counter() - start) * 1e3
        for i in range(plan["warmup"]):
            fn(feeds[i % len(feeds)])
    times = {key: [] for key in run}
    keys = list(run)
    for i in range(calls):
        f = feeds[i % len(feeds)]
        for j in range(len(keys)):  # interleaved, order rotated: all targets see the same load
            key = keys[(i + j) % len(keys)]
            start = time.perf_counter()
            out = run[key](f)
            _ = tf.nest.map_structure(lambda t: t.numpy(), out)
            times[key].append(time.perf_counter() - start)
    for key, seconds in times.items():
        ms = np.asarray(seconds) * 1e3
        results[f"{key}/b{size}"] = {
            "calls": calls,
            "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()),
            "distinct_feeds": len(feeds),
        }
project = sorted(m for m in sys.modules if m.split(".")[0] in ("components", "schemas", "tests"))
results["project_modules"] = project
print(json.dumps(results))
"""


def replicate(ids: np.ndarray, embeddings: np.ndarray, size: int, *, seed: int = 0):
    """``size`` candidates: the originals, then copies ``<id>#<n>`` with a small jitter.

    Returns:
        ``(ids [size] str, embeddings [size, dim] float32)``.
    """
    copies = -(-size // len(ids))
    new_ids = np.asarray(
        [i if c == 0 else f"{i}#{c}" for c in range(copies) for i in ids][:size], dtype=str
    )
    tiled = np.tile(embeddings, (copies, 1))[:size]
    noise = np.random.default_rng(seed).normal(size=tiled.shape) * embeddings.std(axis=0)
    noise[: len(ids)] = 0.0  # the originals stay as trained
    return new_ids, (tiled + JITTER * noise).astype(np.float32)


def disk_bytes(path: pathlib.Path) -> int:
    """Bytes of every file under ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict:
    """``{index name: (serving dir, items)}``, plus the shop under ``"shop"``."""
    import tensorflow as tf

    shop = shared_shop(tmp_path_factory)
    config = TrainConfig(epochs=1)
    trainer = build_trainer(shop, config)
    trainer.model.fit(trainer.dataset, epochs=1, verbose=0)
    item_ids, embeddings = embed_catalog(
        trainer.catalog, tft_layer=trainer.tft_layer, candidate_tower=trainer.candidate_tower
    )
    out = tmp_path_factory.mktemp("serving")
    exported: dict = {"shop": shop}
    for name, size in INDEX_SIZES.items():
        ids, vectors = (
            (item_ids, embeddings) if size is None else replicate(item_ids, embeddings, size)
        )
        recommender = build_recommender(
            tft_layer=trainer.tft_layer,
            query_tower=trainer.query_tower,
            candidate_tower=trainer.candidate_tower,
            item_ids=ids,
            item_embeddings=vectors,
            k=config.top_k,
            ranking_head=trainer.model.ranking_head,  # as job.run exports (ranking_weight > 0)
        )
        path = out / name
        save_recommender(recommender, str(path))
        exported[name] = (path, len(ids))
    del trainer
    tf.keras.backend.clear_session()
    return exported


def serve_in_fresh_process(dirs: dict[str, pathlib.Path], requests_file: str) -> dict:
    """Load every export in one new interpreter and time their calls interleaved (see CHILD)."""
    plan = {
        "dirs": {name: str(path) for name, path in dirs.items()},
        "requests": requests_file,
        "calls": {str(size): calls for size, calls in CALLS.items()},
        "warmup": WARMUP,
        "k": TrainConfig.top_k,
        "dim": TrainConfig.embedding_dim,
        "op_items": {name: items for name, items in INDEX_SIZES.items() if items},
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(plan)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_serving_latency(exports, bench_record) -> None:
    requests_file = requests_path(str(exports["shop"].examples), "eval")
    served = serve_in_fresh_process({n: exports[n][0] for n in INDEX_SIZES}, requests_file)
    assert not served["project_modules"], served["project_modules"]
    first = next(iter(INDEX_SIZES))
    results: dict = {"request_rows": served["request_rows"], "k": TrainConfig.top_k}
    for name in INDEX_SIZES:
        path, items = exports[name]
        entry = {
            "items": items,
            "disk_mib": round(disk_bytes(path) / 2**20, 2),
            "variables_mib": round(disk_bytes(path / "variables") / 2**20, 2),
            "saved_model_pb_mib": round((path / "saved_model.pb").stat().st_size / 2**20, 2),
            "load_s": round(served["load_s"][name], 2),
        }
        for size in CALLS:
            top_k = served[f"{name}/serving_default/b{size}"]
            embed = served[f"{first}/query_embedding/b{size}"]
            entry[f"b{size}"] = {
                "p50_ms": round(top_k["p50_ms"], 3),
                "p99_ms": round(top_k["p99_ms"], 3),
                "mean_ms": round(top_k["mean_ms"], 3),
                "calls": top_k["calls"],
                "first_call_ms": round(served[f"{name}/serving_default/b{size}/first_call_ms"], 1),
                # TFT + query tower alone, timed interleaved with the top-K calls
                "index_share_of_p50": round(1.0 - embed["p50_ms"] / top_k["p50_ms"], 3),
            }
        results[name] = entry
    for size in CALLS:
        embed = served[f"{first}/query_embedding/b{size}"]
        results[f"query_embedding_b{size}"] = {
            "p50_ms": round(embed["p50_ms"], 3),
            "p99_ms": round(embed["p99_ms"], 3),
        }
        key = f"b{size}"
        for name, items in INDEX_SIZES.items():
            if items:
                ops = {
                    op: served[f"{name}/op_{op}/b{size}"]["p50_ms"] for op in ("matmul", "top_k")
                }
                results[name][key]["op_p50_ms"] = {op: round(v, 3) for op, v in ops.items()}
        results[f"p50_100k_vs_10k_{key}"] = round(
            results["100k"][key]["p50_ms"] / results["10k"][key]["p50_ms"], 2
        )
    for key, value in results.items():
        print(f"serving bench {key}: {value}")
    bench_record("serving_latency_topk", results)
