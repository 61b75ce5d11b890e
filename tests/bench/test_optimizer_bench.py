"""What one optimizer step costs on an embedding table, by table size: Adam against lazy Adam.

One step = the gradient of a batch of 256 ids (an IndexedSlices) applied to a table of
``rows x 32``. tf_keras' Adam moves every row each step; lazy Adam (``components.train.optimizer``)
only the rows in the batch. Rounds alternate the two optimizers; the medians of the per-round
milliseconds and of their ratio are recorded. Nothing here asserts on time.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import statistics
import time

import numpy as np
import pytest
import tensorflow as tf

from components.train.optimizer import make_optimizer

DIM, BATCH, STEPS, ROUNDS = 32, 256, 30, 5
TABLES = (10_000, 100_000, 1_000_000)  # rows: users of the 100k shop ... of the 10M-event run


def step_function(rows: int, *, lazy: bool):
    table = tf.keras.layers.Embedding(rows, DIM)
    optimizer = make_optimizer(1e-3, lazy_min_rows=0 if lazy else None)
    ids = tf.constant(np.random.default_rng(0).integers(0, rows, BATCH))
    table(ids)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(table(ids) ** 2)
        variables = table.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))

    for _ in range(3):  # trace and warm up
        step()
    return step


def milliseconds(step) -> float:
    start = time.perf_counter()
    for _ in range(STEPS):
        step()
    return (time.perf_counter() - start) / STEPS * 1000


@pytest.mark.bench
def test_embedding_update_cost_by_table_size(bench_record):
    results = {}
    for rows in TABLES:
        steps = {name: step_function(rows, lazy=name == "lazy") for name in ("adam", "lazy")}
        rounds = [{name: milliseconds(step) for name, step in steps.items()} for _ in range(ROUNDS)]
        results[str(rows)] = {
            "adam_ms_per_step": round(statistics.median(r["adam"] for r in rounds), 3),
            "lazy_ms_per_step": round(statistics.median(r["lazy"] for r in rounds), 3),
            "adam_over_lazy": round(statistics.median(r["adam"] / r["lazy"] for r in rounds), 1),
        }
        print(rows, results[str(rows)], flush=True)
    bench_record("optimizer_embedding_step", {"dim": DIM, "batch": BATCH, "tables": results})
