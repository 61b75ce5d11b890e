"""Set-up the train and serving benchmarks share: one generated shop, transformed once per session,
and the trainer's model built in-process on it.

The shop is the transform benchmark's 100k-event one (2,000 users, 500 items, seed 7), ingested and
transformed by the real stages in subprocesses. ``BENCH_SHOP_DIR`` reuses a directory an earlier
run prepared (it must hold ``.prepared``); otherwise it is built under pytest's tmp directory.

``build_trainer`` repeats what ``components.train.job.run`` does before ``fit`` (vocabularies,
label statistics, catalog table, towers, compile) with the job's own functions, and takes the
dataset from ``job.train_dataset``, the one ``run`` passes to ``fit``. Keep it in step with
``run`` (a ``build_model`` in job.py would remove the repetition).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys
import time

import pytest

from tests.tiny_shop import NOW, REPO

EVENTS = 100_000
USERS = 2_000
ITEMS = 500
SEED = 7
READY = ".prepared"


@dataclasses.dataclass(frozen=True)
class Shop:
    """Paths of a prepared shop: ingest output, transform examples and graph."""

    root: pathlib.Path
    data: pathlib.Path
    examples: pathlib.Path
    graph: pathlib.Path


_PREPARED: dict[str, Shop] = {}


def _shop_at(root: pathlib.Path) -> Shop:
    return Shop(root=root, data=root / "data", examples=root / "ex", graph=root / "tg")


def prepare_shop(root: pathlib.Path) -> Shop:
    """Generate, ingest and transform the 100k-event shop into ``root`` (skipped when ready)."""
    from components.sources.generate import generate_shop

    shop = _shop_at(root)
    if (root / READY).exists():
        return shop
    raw = root / "raw"
    generate_shop(str(raw), users=USERS, items=ITEMS, events=EVENTS, seed=SEED)
    ingest = ["--input", str(raw), "--out", str(shop.data), "--now", NOW, "--quiet"]
    transform = ["--data", str(shop.data), "--examples", str(shop.examples)]
    for module, args in (
        ("components.ingest", ingest),
        ("components.transform", [*transform, "--transform-graph", str(shop.graph)]),
    ):
        subprocess.run(
            [sys.executable, "-m", module, *args], cwd=REPO, check=True, capture_output=True
        )
    (root / READY).write_text("ok\n")
    return shop


def shared_shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The session's prepared shop: ``BENCH_SHOP_DIR``, or built once under pytest's tmp."""
    given = os.environ.get("BENCH_SHOP_DIR")
    key = given or "tmp"
    if key not in _PREPARED:
        root = pathlib.Path(given) if given else tmp_path_factory.mktemp("shop")
        _PREPARED[key] = prepare_shop(root)
    return _PREPARED[key]


@dataclasses.dataclass
class Trainer:
    """What ``job.run`` holds right before ``fit``."""

    model: object  # TwoTowerModel
    query_tower: object
    candidate_tower: object
    tft_layer: object
    catalog: object  # pyarrow.Table: raw catalog rows
    catalog_table: object  # CatalogTable: the per-step gathers of static item content
    dataset: object  # tf.data.Dataset: job.train_dataset, as fit gets it
    examples: int


def build_trainer(shop: Shop, config) -> Trainer:
    """The model, towers and train dataset ``job.run`` would fit with ``config`` on ``shop``."""
    import pyarrow.parquet as pq
    import tensorflow as tf
    import tensorflow_transform as tft

    from components.train import job
    from components.train.catalog import CatalogTable
    from components.train.model import TwoTowerModel
    from components.train.strategy import choose_strategy, use_mixed_precision
    from components.train.towers import CandidateTower, QueryTower, SharedEmbeddings
    from components.transform import outputs

    examples_dir = str(shop.examples)
    tf.keras.utils.set_random_seed(config.seed)
    use_mixed_precision(config.mixed_precision)
    strategy = choose_strategy()
    transform_output = tft.TFTransformOutput(str(shop.graph))
    sizes = job.vocabularies(transform_output, job.transform_oov_buckets(examples_dir))
    probability, positive_share, examples = job.label_statistics(
        outputs.transformed_pattern(examples_dir, "train"), items=sizes.items
    )
    positive_weight = config.positive_weight or float(
        min(job.MAX_POSITIVE_WEIGHT, (1.0 - positive_share) / max(positive_share, 1e-6))
    )
    catalog = pq.read_table(outputs.raw_catalog_path(examples_dir))
    tft_layer = transform_output.transform_features_layer()
    with strategy.scope():
        shared = SharedEmbeddings(sizes, config.embedding_dim)
        query_tower = QueryTower(shared=shared, sizes=sizes, config=config)
        candidate_tower = CandidateTower(shared=shared, config=config)
        catalog_table = CatalogTable(catalog, tft_layer, rows=sizes.items)
        model = TwoTowerModel(
            query_tower=query_tower,
            candidate_tower=candidate_tower,
            catalog=catalog_table,
            config=config,
            item_probability=tf.constant(probability) if config.logq_correction else None,
            positive_weight=positive_weight,
        )
        model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=config.learning_rate))
    dataset = job.train_dataset(examples_dir, transform_output, config=config, examples=examples)
    return Trainer(
        model=model,
        query_tower=query_tower,
        candidate_tower=candidate_tower,
        tft_layer=tft_layer,
        catalog=catalog,
        catalog_table=catalog_table,
        dataset=dataset,
        examples=examples,
    )


def epoch_clock():
    """A Keras callback recording each epoch's wall seconds (``.seconds``), batches only when
    fit has no validation data."""
    import tensorflow as tf

    class EpochClock(tf.keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return EpochClock()
