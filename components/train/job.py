"""I/O shell of the train stage: transformed examples in, a serving model directory out."""

from __future__ import annotations

import json
import logging
import os
import time

import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft

from components.ingest import layout
from components.train.config import TrainConfig
from components.train.data import make_dataset
from components.train.export import (
    SERVING_DIR,
    build_recommender,
    embed_items,
    embeddings_table,
    save_recommender,
)
from components.train.model import TwoTowerModel
from components.train.towers import CandidateTower, QueryTower
from components.transform import outputs
from components.transform.preprocessing import vocabulary_name
from schemas import ITEMS, SCHEMA_VERSION
from schemas.features import ITEM_TEXT
from schemas.tables import ITEM_ID, USER_ID

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
HISTORY = "history.json"
EMBEDDINGS_DIR = "embeddings"


def vocab_size(transform_output: tft.TFTransformOutput, feature: str, oov_buckets: int) -> int:
    """Rows an embedding over ``feature``'s vocabulary needs (vocabulary + OOV buckets)."""
    return transform_output.vocabulary_size_by_name(vocabulary_name(feature)) + oov_buckets


def run(
    *,
    data_dir: str,
    examples_dir: str,
    transform_dir: str,
    model_dir: str,
    config: TrainConfig,
    oov_buckets: int = 1,
) -> dict:
    """Train the two-tower model and export it with its transform graph.

    Args:
        data_dir: Ingest output (the catalog to index comes from its items table).
        examples_dir: Transform output with ``train/`` (and optionally ``eval/``) TFRecords.
        transform_dir: The TFT transform graph directory.
        model_dir: Output: ``serving/`` SavedModel, ``embeddings/items.parquet``, history, manifest.
        config: Training settings.
        oov_buckets: OOV buckets the transform used (must match TransformConfig).

    Returns:
        The manifest written to ``model_dir/manifest.json``.
    """
    started = time.monotonic()
    tf.keras.utils.set_random_seed(config.seed)
    transform_output = tft.TFTransformOutput(transform_dir)
    query_tower = QueryTower(
        user_vocab_size=vocab_size(transform_output, USER_ID, oov_buckets),
        dim=config.embedding_dim,
    )
    candidate_tower = CandidateTower(
        item_vocab_size=vocab_size(transform_output, ITEM_ID, oov_buckets),
        text_vocab_size=vocab_size(transform_output, ITEM_TEXT, oov_buckets),
        dim=config.embedding_dim,
    )
    model = TwoTowerModel(query_tower, candidate_tower)
    model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=config.learning_rate))

    def dataset(split: str, shuffle: bool) -> tf.data.Dataset | None:
        pattern = outputs.transformed_pattern(examples_dir, split)
        if not tf.io.gfile.glob(pattern):
            return None
        return make_dataset(
            pattern,
            transform_output,
            batch_size=config.batch_size,
            shuffle=shuffle,
            seed=config.seed,
        )

    train_ds = dataset("train", shuffle=True)
    if train_ds is None:
        raise FileNotFoundError(f"{examples_dir}/train: no transformed train examples")
    history = model.fit(
        train_ds, epochs=config.epochs, validation_data=dataset("eval", False), verbose=2
    )
    train_seconds = time.monotonic() - started

    tft_layer = transform_output.transform_features_layer()
    items = layout.read_table(data_dir, ITEMS.name, layout.ALL)
    item_ids, item_embeddings = embed_items(
        items, tft_layer=tft_layer, candidate_tower=candidate_tower
    )
    recommender = build_recommender(
        tft_layer=tft_layer,
        query_tower=query_tower,
        item_ids=item_ids,
        item_embeddings=item_embeddings,
        k=config.top_k,
    )
    os.makedirs(os.path.join(model_dir, EMBEDDINGS_DIR), exist_ok=True)
    save_recommender(recommender, os.path.join(model_dir, SERVING_DIR))
    pq.write_table(
        embeddings_table(item_ids, item_embeddings, id_column=ITEM_ID),
        os.path.join(model_dir, EMBEDDINGS_DIR, "items.parquet"),
    )
    losses = {k: [float(x) for x in v] for k, v in history.history.items()}
    with open(os.path.join(model_dir, HISTORY), "w") as f:
        json.dump(losses, f, indent=2)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "items_indexed": len(item_ids),
        "train_seconds": round(train_seconds, 2),
        "total_seconds": round(time.monotonic() - started, 2),
        "final_loss": losses["loss"][-1],
    }
    with open(os.path.join(model_dir, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    logger.info("train done %s", manifest)
    return manifest
