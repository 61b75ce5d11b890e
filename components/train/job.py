"""I/O shell of the train stage: transformed examples in, a serving model directory out."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft

from components import completion
from components.train import outputs
from components.train import signatures as sig
from components.train.catalog import CatalogTable, raw_tensors
from components.train.config import TrainConfig
from components.train.data import make_dataset
from components.train.export import (
    Recommender,
    build_recommender,
    embed_catalog,
    embeddings_table,
    save_recommender,
)
from components.train.model import TwoTowerModel
from components.train.optimizer import make_optimizer
from components.train.strategy import choose_strategy, is_chief, use_mixed_precision
from components.train.towers import CandidateTower, QueryTower, SharedEmbeddings, Vocabularies
from components.transform import outputs as transform_outputs
from schemas import SCHEMA_VERSION
from schemas import features as fs
from schemas.tables import ITEM_ID, USER_ID

logger = logging.getLogger(__name__)

MAX_POSITIVE_WEIGHT = 10.0
EMBED_BATCH_ROWS = 8192  # users embedded per call when writing embeddings/users.parquet


class ResumePoint(tf.keras.callbacks.Callback):
    """The optimizer step training starts from: 0, or where BackupAndRestore resumed."""

    step = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Read the step after earlier callbacks restored the backup."""
        self.step = int(self.model.optimizer.iterations.numpy())


def vocabularies(transform_output: tft.TFTransformOutput, oov_buckets: int) -> Vocabularies:
    """Embedding table sizes: vocabulary + OOV buckets + 1 (index 0 is padding).

    Args:
        transform_output: The TFT graph (its vocabulary files).
        oov_buckets: OOV buckets the transform used (``transform_oov_buckets``).
    """

    def rows(feature: str) -> int:
        size = transform_output.vocabulary_size_by_name(fs.vocabulary_name(feature))
        return size + oov_buckets + 1

    return Vocabularies(
        users=rows(USER_ID),
        items=rows(ITEM_ID),
        tokens=rows(fs.USER_TEXT),
        categories=rows(fs.HIST_EVENT_TYPES),
    )


def transform_oov_buckets(examples_dir: str) -> int:
    """The OOV buckets per vocabulary the transform used, from its manifest.

    Raises:
        completion.IncompleteOutput: the transform output has no manifest.
        ValueError: the manifest does not record them (an output from an older transform).
    """
    manifest = completion.read_manifest(examples_dir, transform_outputs.MANIFEST, stage="transform")
    try:
        return int(manifest[transform_outputs.OOV_BUCKETS])
    except (KeyError, TypeError, ValueError) as e:
        field = transform_outputs.OOV_BUCKETS
        raise ValueError(
            f"{examples_dir}/{transform_outputs.MANIFEST} records no {field} (written by an "
            "older transform): rerun the transform"
        ) from e


def label_statistics(pattern: str, *, items: int) -> tuple[np.ndarray, float, int]:
    """One pass over train examples: item frequencies, positive-label share, example count.

    Returns:
        ``(probability [items] of each transformed item id among positives, positive share,
        examples)``; the probabilities feed the logQ correction of in-batch negatives.
    """
    spec = {
        fs.transformed_name(ITEM_ID): tf.io.FixedLenFeature([], tf.int64),
        fs.transformed_name(fs.LABEL): tf.io.FixedLenFeature([], tf.float32),
    }
    counts = np.zeros(items, dtype=np.float64)
    positives, total = 0.0, 0
    files = tf.data.Dataset.list_files(pattern, shuffle=False)
    records = files.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"))
    for batch in records.batch(8192).map(lambda r: tf.io.parse_example(r, spec)):
        ids = batch[fs.transformed_name(ITEM_ID)].numpy()
        counts += np.bincount(ids, minlength=items)[:items]
        positives += float(batch[fs.transformed_name(fs.LABEL)].numpy().sum())
        total += len(ids)
    probability = (counts + 1.0) / (counts.sum() + items)  # add-one: no zero probabilities
    return probability.astype(np.float32), positives / max(total, 1), total


def split_dataset(
    examples_dir: str,
    split: str,
    transform_output: tft.TFTransformOutput,
    *,
    config: TrainConfig,
) -> tf.data.Dataset | None:
    """Batches of ``split``'s transformed examples as fit reads them; None when there are none.

    ``train`` is shuffled, other splits keep their order.
    """
    pattern = transform_outputs.transformed_pattern(examples_dir, split)
    if not tf.io.gfile.glob(pattern):
        return None
    # Multi-worker: shard batches, not files. FILE sharding needs a file per worker (the
    # transform may write one) and would change each worker's steps per epoch, which the
    # cardinality in train_dataset states; with one worker this option does nothing.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return make_dataset(
        pattern,
        transform_output,
        batch_size=config.batch_size,
        shuffle=split == "train",
        seed=config.seed,
    ).with_options(options)


def train_dataset(
    examples_dir: str,
    transform_output: tft.TFTransformOutput,
    *,
    config: TrainConfig,
    examples: int,
) -> tf.data.Dataset:
    """The exact dataset the trainer passes to ``fit``: shuffled train batches, known length.

    Args:
        examples_dir: Transform output holding ``train/`` TFRecords.
        transform_output: Gives the transformed feature spec.
        config: Batch size and shuffle seed.
        examples: Train examples (from ``label_statistics``): states ``ceil(examples /
            batch_size)`` steps per epoch.

    Raises:
        FileNotFoundError: ``examples_dir`` has no transformed train examples.
    """
    train = split_dataset(examples_dir, "train", transform_output, config=config)
    if train is None:
        raise FileNotFoundError(f"{examples_dir}/train: no transformed train examples")
    # A known number of steps per epoch: BackupAndRestore needs it to resume mid-epoch (the
    # interleaved TFRecords have unknown cardinality, and tf_keras then fails on restore with
    # "unsupported operand type(s) for -: 'NoneType' and 'int'").
    return train.apply(
        tf.data.experimental.assert_cardinality(math.ceil(examples / config.batch_size))
    )


def run(
    *,
    examples_dir: str,
    transform_dir: str,
    model_dir: str,
    config: TrainConfig,
) -> dict:
    """Train the two-tower model and export it with its transform graph.

    Args:
        examples_dir: Transform output: ``train/`` (and ``eval/``) TFRecords, the raw catalog,
            the serving requests.
        transform_dir: The TFT transform graph directory.
        model_dir: Output (layout: ``components.train.outputs``): the SavedModel, the
            embeddings, history, TensorBoard logs, checkpoints and the manifest; ``backup/``
            holds BackupAndRestore state while training (a restarted trainer with the same
            ``model_dir`` resumes from it).
        config: Training settings.

    Returns:
        The manifest written to ``outputs.manifest_path(model_dir)``.
    """
    started = time.monotonic()
    oov_buckets = transform_oov_buckets(examples_dir)  # also: the transform output is finished
    tf.keras.utils.set_random_seed(config.seed)
    mixed = use_mixed_precision(config.mixed_precision)
    strategy = choose_strategy()
    if is_chief(strategy):
        # Uncommitted until the manifest is written again, last (components.completion).
        completion.remove(outputs.manifest_path(model_dir))
    transform_output = tft.TFTransformOutput(transform_dir)
    sizes = vocabularies(transform_output, oov_buckets)
    train_pattern = transform_outputs.transformed_pattern(examples_dir, "train")
    if not tf.io.gfile.glob(train_pattern):
        raise FileNotFoundError(f"{examples_dir}/train: no transformed train examples")
    probability, positive_share, examples = label_statistics(train_pattern, items=sizes.items)
    positive_weight = config.positive_weight or float(
        min(MAX_POSITIVE_WEIGHT, (1.0 - positive_share) / max(positive_share, 1e-6))
    )
    catalog = pq.read_table(transform_outputs.raw_catalog_path(examples_dir))
    tft_layer = transform_output.transform_features_layer()
    with strategy.scope():
        shared = SharedEmbeddings(sizes, config.embedding_dim)
        query_tower = QueryTower(shared=shared, sizes=sizes, config=config)
        candidate_tower = CandidateTower(shared=shared, config=config)
        model = TwoTowerModel(
            query_tower=query_tower,
            candidate_tower=candidate_tower,
            catalog=CatalogTable(catalog, tft_layer, rows=sizes.items),
            config=config,
            item_probability=tf.constant(probability) if config.logq_correction else None,
            positive_weight=positive_weight,
        )
        model.compile(
            optimizer=make_optimizer(config.learning_rate, lazy_min_rows=config.lazy_adam_min_rows)
        )

    resume = ResumePoint()
    callbacks = [
        tf.keras.callbacks.BackupAndRestore(
            os.path.join(model_dir, outputs.BACKUP_DIR), save_freq=config.checkpoint_every_steps
        ),
        resume,  # after BackupAndRestore: sees the restored step
        tf.keras.callbacks.ModelCheckpoint(
            os.path.join(model_dir, outputs.CHECKPOINT_DIR, "epoch-{epoch:03d}"),
            save_weights_only=True,
        ),
        tf.keras.callbacks.TensorBoard(os.path.join(model_dir, outputs.LOGS_DIR)),
    ]
    train = train_dataset(examples_dir, transform_output, config=config, examples=examples)
    history = model.fit(
        train,
        epochs=config.epochs,
        validation_data=split_dataset(examples_dir, "eval", transform_output, config=config),
        callbacks=callbacks,
        verbose=2,
    )
    train_seconds = time.monotonic() - started

    item_ids, item_embeddings = embed_catalog(
        catalog, tft_layer=tft_layer, candidate_tower=candidate_tower
    )
    recommender = build_recommender(
        tft_layer=tft_layer,
        query_tower=query_tower,
        candidate_tower=candidate_tower,
        item_ids=item_ids,
        item_embeddings=item_embeddings,
        k=config.top_k,
        ranking_head=model.ranking_head,
    )
    # Every worker saves (saving may run collectives); only the chief writes to model_dir.
    chief = is_chief(strategy)
    out_dir = model_dir if chief else tempfile.mkdtemp(prefix="train-worker-")
    try:
        manifest = _write_outputs(
            out_dir,
            recommender=recommender,
            item_ids=item_ids,
            item_embeddings=item_embeddings,
            examples_dir=examples_dir,
            history=history,
            facts={
                "schema_version": SCHEMA_VERSION,
                "config": {
                    **{
                        k: getattr(config, k)
                        for k in config.__dataclass_fields__
                        if k != "modalities"
                    },
                    "modalities": sorted(m.value for m in config.modalities),
                },
                "strategy": type(strategy).__name__,
                "replicas": strategy.num_replicas_in_sync,
                "chief": chief,
                "weights_sha256": weights_digest(model),
                "mixed_precision": mixed,
                "examples": examples,
                "resumed_at_step": resume.step,
                "positive_share": round(positive_share, 4),
                "positive_weight": round(positive_weight, 3),
                "items_indexed": len(item_ids),
                "train_seconds": round(train_seconds, 2),
            },
            started=started,
        )
    finally:
        if not chief:
            shutil.rmtree(out_dir, ignore_errors=True)
    logger.info("train done %s", manifest)
    return manifest


def weights_digest(model: tf.keras.Model) -> str:
    """SHA-256 over every weight's bytes, in model order: the same digest = the same model."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def write_user_embeddings(
    embed: Callable[[pa.Table], np.ndarray],
    requests: str,
    out: str,
    *,
    dim: int,
    batch_rows: int = EMBED_BATCH_ROWS,
) -> int:
    """``embed`` of every serving request's user, streamed ``batch_rows`` at a time.

    Neither the requests (1M users at 10M events, each with its history lists) nor their
    embeddings are ever whole in memory.

    Args:
        embed: Raw request rows -> ``[rows, dim]`` query embeddings.
        requests: Parquet file of serving requests (``components.transform.outputs.requests_path``).
        out: Parquet file written: ``user_id``, ``embedding``, in the requests' order.
        dim: Embedding width (for the schema when there are no requests).
        batch_rows: Requests embedded per call.

    Returns:
        Users written.
    """
    empty = embeddings_table(np.zeros(0, object), np.zeros((0, dim), "f4"), id_column=USER_ID)
    written = 0
    with pq.ParquetFile(requests) as source, pq.ParquetWriter(out, empty.schema) as sink:
        for batch in source.iter_batches(batch_size=batch_rows):
            rows = pa.Table.from_batches([batch])
            ids = np.asarray(rows[USER_ID].to_pylist(), dtype=object)
            sink.write_table(embeddings_table(ids, embed(rows), id_column=USER_ID))
            written += rows.num_rows
    return written


def _write_outputs(
    model_dir: str,
    *,
    recommender: Recommender,
    item_ids: np.ndarray,
    item_embeddings: np.ndarray,
    examples_dir: str,
    history: tf.keras.callbacks.History,
    facts: dict,
    started: float,
) -> dict:
    """SavedModel, embeddings, history and manifest into ``model_dir``; returns the manifest."""
    os.makedirs(os.path.join(model_dir, outputs.EMBEDDINGS_DIR), exist_ok=True)
    save_recommender(recommender, outputs.serving_dir(model_dir))
    pq.write_table(
        embeddings_table(item_ids, item_embeddings, id_column=ITEM_ID),
        outputs.item_embeddings_path(model_dir),
    )
    write_user_embeddings(
        lambda rows: recommender.query_embedding(raw_tensors(rows, fs.Side.QUERY))[
            sig.EMBEDDING
        ].numpy(),
        transform_outputs.requests_path(examples_dir, "eval"),
        outputs.user_embeddings_path(model_dir),
        dim=item_embeddings.shape[1],
    )
    losses = {k: [float(x) for x in v] for k, v in history.history.items()}
    with open(outputs.history_path(model_dir), "w") as f:
        json.dump(losses, f, indent=2)
    manifest = {
        **facts,
        "total_seconds": round(time.monotonic() - started, 2),
        "final_loss": losses["loss"][-1],
    }
    completion.write_manifest(outputs.manifest_path(model_dir), manifest)
    return manifest
