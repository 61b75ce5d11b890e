"""Training throughput, full model vs ID-only, and the input pipeline alone, in one run.

On the generated 100k-event shop (``shop.py``), same batch size (the trainer's default) throughout,
each figure examples/s over one pass of the train examples:
- training: ``fit`` on ``job.train_dataset``, the dataset the trainer fits on (parallel parsing,
  shuffle, prefetch), without validation and without the trainer's I/O callbacks;
- input only: that dataset iterated without a model;
- input with gathers: that dataset with the catalog gathers mapped in. The trainer does these
  gathers (``CatalogTable``: an item's static content by id) inside the model's step, not in
  tf.data; this figure is what the input would cost if they moved there;
- cached input: ``fit`` on the same batches cached in memory, i.e. with almost no input cost.
  Training / cached training near 1 means the model sets the pace, not the input: the direct
  test, since in ``fit`` the input pipeline and the model share this machine's two cores.

The machine is shared and noisy: after a warm-up round (traces, fills the cache), each round
measures the four passes back to back; ratios are taken within a round, and the medians over
rounds are reported, with the CPU seconds (this process, all threads) of each pass: less
sensitive to other jobs than wall time, and on two cores the input's CPU time is taken from the
model's. Nothing here asserts on time.
"""

from __future__ import annotations

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import statistics
import time

import pytest
import tensorflow as tf

from components.train.config import ALL_MODALITIES, TrainConfig
from tests.bench.shop import build_trainer, epoch_clock, shared_shop

ROUNDS = 6  # measured rounds, after one warm-up round
MODELS = {"full": ALL_MODALITIES, "id_only": frozenset()}
PASSES = ("train", "cached_input_train", "input_only", "input_with_gathers")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return shared_shop(tmp_path_factory)


def iterate_seconds(dataset: tf.data.Dataset) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of one pass over ``dataset``, every element fetched."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _batch in dataset:
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def fit_seconds(model: tf.keras.Model, dataset: tf.data.Dataset) -> tuple[float, float]:
    """``(wall, CPU)`` seconds of one epoch of ``model.fit`` on ``dataset``; wall counts the
    batches only, CPU (this process, all threads) the whole ``fit`` call."""
    clock = epoch_clock()
    cpu = time.process_time()
    model.fit(dataset, epochs=1, callbacks=[clock], verbose=0)
    return clock.seconds[0], time.process_time() - cpu


def with_catalog_gathers(dataset: tf.data.Dataset, catalog_table) -> tf.data.Dataset:
    """``dataset`` plus the candidate content the model gathers from the catalog each step."""
    return dataset.map(lambda f: {**f, **catalog_table(f)}, num_parallel_calls=tf.data.AUTOTUNE)


def measure_model(trainer) -> dict:
    """Seconds of each pass per round (warm-up round dropped) and their medians as examples/s."""
    passes = {
        "train": lambda: fit_seconds(trainer.model, trainer.dataset),
        "cached_input_train": lambda: fit_seconds(trainer.model, cached),
        "input_only": lambda: iterate_seconds(trainer.dataset),
        "input_with_gathers": lambda: iterate_seconds(gathered),
    }
    cached = trainer.dataset.cache()
    gathered = with_catalog_gathers(trainer.dataset, trainer.catalog_table)
    rounds, cpu_rounds = [], []
    for _ in range(ROUNDS + 1):
        measured = {name: run() for name, run in passes.items()}
        rounds.append({name: wall for name, (wall, _) in measured.items()})
        cpu_rounds.append({name: cpu for name, (_, cpu) in measured.items()})
    warmup, rounds, cpu_rounds = rounds[0], rounds[1:], cpu_rounds[1:]

    def median(values) -> float:
        return statistics.median(list(values))

    out = {
        f"{name}_examples_per_s": round(trainer.examples / median(r[name] for r in rounds), 1)
        for name in PASSES
    }
    # Within-round ratios (> 1: the input is faster than training)
    for name in ("input_only", "input_with_gathers"):
        out[f"{name}_vs_train"] = round(median(r["train"] / r[name] for r in rounds), 2)
    out["train_vs_cached_input_train"] = round(
        median(r["cached_input_train"] / r["train"] for r in rounds), 2
    )
    # CPU seconds per epoch: on 2 cores the input pipeline's work competes with the model's
    out["cpu_s_per_epoch"] = {
        name: round(median(r[name] for r in cpu_rounds), 2) for name in PASSES
    }
    out["input_cpu_vs_cached_train_cpu"] = round(
        median(r["input_only"] / r["cached_input_train"] for r in cpu_rounds), 2
    )
    out["wall_s_per_round"] = [{k: round(v, 2) for k, v in r.items()} for r in rounds]
    out["warmup_round_wall_s"] = {k: round(v, 2) for k, v in warmup.items()}
    return out


def test_train_throughput(shop, bench_record) -> None:
    results: dict = {}
    for name, modalities in MODELS.items():
        trainer = build_trainer(shop, TrainConfig(modalities=modalities))
        results[name] = {
            "modalities": sorted(m.value for m in modalities),
            **measure_model(trainer),
        }
        examples = trainer.examples
        print(f"train bench {name}: {results[name]}")
        del trainer
        tf.keras.backend.clear_session()
    results.update(
        {
            "examples_per_epoch": examples,
            "batch_size": TrainConfig.batch_size,
            "steps_per_epoch": -(-examples // TrainConfig.batch_size),
            "rounds": ROUNDS,
            "full_vs_id_only_train_examples_per_s": round(
                results["full"]["train_examples_per_s"]
                / results["id_only"]["train_examples_per_s"],
                3,
            ),
        }
    )
    bench_record("train_throughput_100k_events", results)
