"""I/O shell of the train stage: transformed examples in, a serving model directory out."""

from __future__ import annotations

import dataclasses
import datetime as dt
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
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf
import tensorflow_transform as tft

from components import completion
from components.protocol import requests_for
from components.train import outputs, selection
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
from components.train.scoring import (
    CatalogScorer,
    CoVisitation,
    RelationGraph,
    co_visitation,
    neighbour_table,
    popularity_timeline,
)
from components.train.strategy import choose_strategy, is_chief, use_mixed_precision
from components.train.towers import CandidateTower, QueryTower, SharedEmbeddings, Vocabularies
from components.transform import outputs as transform_outputs
from schemas import SCHEMA_VERSION, feeds
from schemas import features as fs
from schemas.contract import Modality
from schemas.tables import DST_ITEM, ITEM_ID, KIND, SRC_ITEM, USER_ID

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


@dataclasses.dataclass(frozen=True)
class TrainInputs:
    """What every fit of one run shares (read once).

    Attributes:
        transform_output: The TFT graph.
        tft_layer: Its layer (raw -> transformed features).
        sizes: Embedding table rows.
        catalog: Raw catalog rows (catalog order = catalog positions).
        catalog_ids: ``[I]`` their raw item ids.
        relations: The transform's ranked item relations.
        example_positions: ``[n]`` catalog position of each train example's item.
        example_days: ``[n]`` its event day.
        example_users: ``[n]`` its user, as a dense integer code.
        probability: ``[vocab rows]`` item sampling probability (logQ).
        positive_share: Share of positive ranking labels.
        examples: Train examples.
        raw_examples: The raw train examples' user, item and day (model selection's validation
            set comes from them).
        cutoffs: ``{"validation": day, "train": day}`` (days since the epoch).
    """

    transform_output: tft.TFTransformOutput
    tft_layer: tf.keras.Model
    sizes: Vocabularies
    catalog: pa.Table
    catalog_ids: np.ndarray
    relations: pa.Table
    example_positions: np.ndarray
    example_days: np.ndarray
    example_users: np.ndarray
    probability: np.ndarray
    positive_share: float
    examples: int
    raw_examples: pa.Table
    cutoffs: dict[str, float]


def read_inputs(examples_dir: str, transform_dir: str, oov_buckets: int) -> TrainInputs:
    """Read the transform output once: graph, catalog, relations, example items and days."""
    transform_output = tft.TFTransformOutput(transform_dir)
    sizes = vocabularies(transform_output, oov_buckets)
    train_pattern = transform_outputs.transformed_pattern(examples_dir, "train")
    if not tf.io.gfile.glob(train_pattern):
        raise FileNotFoundError(f"{examples_dir}/train: no transformed train examples")
    probability, positive_share, examples = label_statistics(train_pattern, items=sizes.items)
    catalog = pq.read_table(transform_outputs.raw_catalog_path(examples_dir))
    catalog_ids = np.asarray(
        feeds.flat_values(catalog[ITEM_ID]).cast(pa.string()).to_pylist(), dtype=object
    )
    relations_path = transform_outputs.raw_relations_path(examples_dir)
    relations = (
        pq.read_table(relations_path)
        if os.path.isfile(relations_path)
        else pa.table({n: pa.array([], pa.string()) for n in (SRC_ITEM, DST_ITEM, KIND)})
    )
    raw = pq.read_table(
        os.path.join(
            transform_outputs.raw_examples_dir(examples_dir, "train"),
            transform_outputs.RAW_EXAMPLES_FILE,
        ),
        columns=[USER_ID, ITEM_ID, fs.EVENT_DAY],
    )
    position = {item: i for i, item in enumerate(catalog_ids)}
    items = feeds.flat_values(raw[ITEM_ID]).cast(pa.string()).to_pylist()
    return TrainInputs(
        transform_output=transform_output,
        tft_layer=transform_output.transform_features_layer(),
        sizes=sizes,
        catalog=catalog,
        catalog_ids=catalog_ids,
        relations=relations,
        example_positions=np.fromiter((position.get(i, -1) for i in items), np.int64, len(items)),
        example_days=feeds.flat_values(raw[fs.EVENT_DAY]).to_numpy().astype(np.float64),
        example_users=pc.dictionary_encode(feeds.flat_values(raw[USER_ID]))
        .indices.to_numpy(zero_copy_only=False)
        .astype(np.int64),
        probability=probability,
        positive_share=positive_share,
        examples=examples,
        raw_examples=raw,
        cutoffs=transform_cutoffs(examples_dir),
    )


def transform_cutoffs(examples_dir: str) -> dict[str, float]:
    """``{"validation": day, "train": day}``: the validation start and the train cut-off.

    Raises:
        ValueError: the transform manifest records no cut-offs (an older transform).
    """
    manifest = completion.read_manifest(examples_dir, transform_outputs.MANIFEST, stage="transform")
    try:
        cut = manifest["cutoffs"]
        iso = {"validation": cut[transform_outputs.VALIDATION], "train": cut["eval"]}
    except (KeyError, TypeError) as e:
        raise ValueError(
            f"{examples_dir}/{transform_outputs.MANIFEST} records no cut-offs (written by an "
            "older transform): rerun the transform"
        ) from e
    return {k: dt.datetime.fromisoformat(v).timestamp() / 86_400 for k, v in iso.items()}


@dataclasses.dataclass
class Fitted:
    """One built (and maybe fitted) model with the parts the export needs."""

    model: TwoTowerModel
    query_tower: QueryTower
    candidate_tower: CandidateTower
    catalog_table: CatalogTable


def build_model(
    inputs: TrainInputs,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    *,
    cutoff_day: float,
    positive_weight: float,
    blend: float | None,
) -> Fitted:
    """The model of one fit, on the examples before ``cutoff_day`` (compiled, not fitted).

    ``blend``: the item-kNN blend term's weight (0 while selection tries weights), or None for
    no term (``TrainConfig.covisit_neighbours`` 0, or a weight of 0 chosen: a term that adds
    nothing is not built, served or saved).
    """
    exact = config.exact_softmax(inputs.catalog.num_rows)
    with strategy.scope():
        shared = SharedEmbeddings(inputs.sizes, config.embedding_dim)
        catalog_table = CatalogTable(
            inputs.catalog, inputs.tft_layer, vocab_rows=inputs.sizes.items
        )
        query_tower = QueryTower(
            shared=shared,
            sizes=inputs.sizes,
            config=config,
            item_tokens=catalog_table.item_tokens(),
        )
        candidate_tower = CandidateTower(shared=shared, config=config, sparse_pooling=exact)
        scorer = timeline = None
        if exact:
            neighbours = neighbour_table(inputs.relations, inputs.catalog_ids)
            graph = (
                RelationGraph(neighbours, recency_buckets=len(fs.RECENCY_BOUNDARIES) + 2)
                if config.uses(Modality.RELATION) and neighbours.kinds
                else None
            )
            popularity = config.uses(Modality.BEHAVIOR)
            covisit = None
            if popularity and config.covisit_neighbours > 0 and blend is not None:
                covisit = CoVisitation(
                    co_visitation(
                        inputs.example_positions,
                        inputs.example_users,
                        inputs.example_days,
                        items=inputs.catalog.num_rows,
                        cutoff_day=cutoff_day,
                        neighbours=config.covisit_neighbours,
                    ),
                    blend=blend,
                )
            scorer = CatalogScorer(
                items=inputs.catalog.num_rows,
                graph=graph,
                popularity=popularity,
                covisit=covisit,
            )
            if popularity:
                timeline = popularity_timeline(
                    inputs.example_positions,
                    inputs.example_days,
                    items=inputs.catalog.num_rows,
                    cutoff_day=cutoff_day,
                    bucket_days=config.popularity_bucket_days,
                    window=config.popularity_window,
                )
        model = TwoTowerModel(
            query_tower=query_tower,
            candidate_tower=candidate_tower,
            catalog=catalog_table,
            config=config,
            scorer=scorer,
            timeline=timeline,
            item_probability=tf.constant(inputs.probability) if config.logq_correction else None,
            positive_weight=positive_weight,
            cutoff_day=cutoff_day,
        )
        model.compile(
            optimizer=make_optimizer(config.learning_rate, lazy_min_rows=config.lazy_adam_min_rows)
        )
    return Fitted(model, query_tower, candidate_tower, catalog_table)


def select_epochs(
    inputs: TrainInputs,
    config: TrainConfig,
    strategy: tf.distribute.Strategy,
    *,
    examples_dir: str,
    positive_weight: float,
) -> dict:
    """Fit on the examples before the validation window, choose the epoch count on it.

    With the item-kNN blend term, each epoch is scored at every ``config.blend_weights`` (the
    co-visitation table counted before the window too) and keeps its best; the chosen epoch's
    weight is the blend weight.

    Returns:
        ``{"best_epoch", "blend", "metric", "curve": [metrics per epoch], "users",
        "cold_users", "validation_start_day"}``.
    """
    start, end = inputs.cutoffs["validation"], inputs.cutoffs["train"]
    vset = selection.validation_set(
        inputs.raw_examples, inputs.catalog_ids, start_day=start, end_day=end
    )
    requests = requests_for(
        pq.read_table(transform_outputs.requests_path(examples_dir, transform_outputs.VALIDATION)),
        vset.users,
    )
    features = inputs.tft_layer(raw_tensors(requests, fs.Side.QUERY))
    fitted = build_model(
        inputs, config, strategy, cutoff_day=start, positive_weight=positive_weight, blend=0.0
    )

    def score(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        batch = {k: tf.gather(v, rows) for k, v in features.items()}
        extra = fitted.model.covisit_scores(batch)
        base = fitted.model.score_catalog(batch, blend=False).numpy()
        return base, None if extra is None else extra.numpy()

    def evaluate() -> dict[str, float]:
        figures = selection.blended_metrics(score, vset, ks=ks, weights=config.blend_weights)
        if not figures:
            return {}
        weight, best = selection.best_blend(figures, config.selection_metric)
        return best | {"blend": weight}

    ks = tuple(sorted({10, 20, 50, 100, int(config.selection_metric.split("@")[1])}))
    chooser = selection.EpochSelection(
        evaluate, metric=config.selection_metric, patience=config.patience
    )
    train = train_dataset(
        examples_dir, inputs.transform_output, config=config, examples=inputs.examples
    )
    fitted.model.fit(train, epochs=config.epochs, callbacks=[chooser], verbose=2)
    best = max(chooser.best_epoch, 1)
    return {
        "best_epoch": best,
        "blend": chooser.curve[best - 1].get("blend", 0.0) if chooser.curve else 0.0,
        "metric": config.selection_metric,
        "curve": chooser.curve,
        "users": len(vset.users),
        "cold_users": sum(not h for h in vset.history),
        "validation_start_day": start,
    }


def run(
    *,
    examples_dir: str,
    transform_dir: str,
    model_dir: str,
    config: TrainConfig,
) -> dict:
    """Choose the epoch count on validation, train the two-tower model, export it.

    Args:
        examples_dir: Transform output: ``train/`` TFRecords, the raw catalog and relations,
            the serving requests (validation, eval).
        transform_dir: The TFT transform graph directory.
        model_dir: Output (layout: ``components.train.outputs``): the SavedModel, the
            embeddings, history, selection, TensorBoard logs, checkpoints and the manifest;
            ``backup/`` holds BackupAndRestore state while training (a restarted trainer with
            the same ``model_dir`` resumes from it).
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
    inputs = read_inputs(examples_dir, transform_dir, oov_buckets)
    head_problem = None
    if config.ranking_weight > 0 and inputs.positive_share in (0.0, 1.0):
        # One event type (every interaction a purchase): every label is the same, the head
        # has nothing to learn, and its "probability" would be a constant.
        head_problem = (
            f"every train label is {inputs.positive_share:.0f}: the ranking head has nothing "
            "to learn and is off"
        )
        logger.warning("%s", head_problem)
        config = dataclasses.replace(config, ranking_weight=0.0)
    positive_weight = config.positive_weight or float(
        min(
            MAX_POSITIVE_WEIGHT,
            (1.0 - inputs.positive_share) / max(inputs.positive_share, 1e-6),
        )
    )
    epochs, chosen = config.epochs, None
    if config.select_epochs and inputs.cutoffs["validation"] < inputs.cutoffs["train"]:
        key = {"config": config_facts(config), "examples": inputs.examples, **inputs.cutoffs}
        chosen = selection.read_selection(model_dir, key)
        if chosen is None:
            chosen = select_epochs(
                inputs,
                config,
                strategy,
                examples_dir=examples_dir,
                positive_weight=positive_weight,
            ) | {"key": key}
            if is_chief(strategy):
                selection.write_selection(model_dir, chosen)
        epochs = chosen["best_epoch"]
        tf.keras.utils.set_random_seed(config.seed)  # the final fit starts like the first
    blend = chosen.get("blend") if chosen else None  # no selection: no blend term
    fitted = build_model(
        inputs,
        config,
        strategy,
        cutoff_day=inputs.cutoffs["train"],
        positive_weight=positive_weight,
        blend=blend or None,
    )
    model = fitted.model
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
    train = train_dataset(
        examples_dir, inputs.transform_output, config=config, examples=inputs.examples
    )
    history = model.fit(train, epochs=epochs, callbacks=callbacks, verbose=2)
    train_seconds = time.monotonic() - started

    item_ids, item_embeddings = embed_catalog(
        inputs.catalog, tft_layer=inputs.tft_layer, candidate_tower=fitted.candidate_tower
    )
    recommender = build_recommender(
        tft_layer=inputs.tft_layer,
        model=model,
        item_ids=item_ids,
        item_embeddings=item_embeddings,
        k=config.top_k,
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
            selection=chosen,
            facts={
                "schema_version": SCHEMA_VERSION,
                "config": config_facts(config),
                "strategy": type(strategy).__name__,
                "replicas": strategy.num_replicas_in_sync,
                "chief": chief,
                "weights_sha256": weights_digest(model),
                "mixed_precision": mixed,
                "examples": inputs.examples,
                "resumed_at_step": resume.step,
                "positive_share": round(inputs.positive_share, 4),
                "positive_weight": round(positive_weight, 3),
                "ranking_head": head_problem or ("on" if config.ranking_weight > 0 else "off"),
                "softmax": "exact" if model.scorer is not None else "in_batch",
                "blend": blend,  # the weight chosen on validation; None: never tried
                "epochs": epochs,
                "selection": None
                if chosen is None
                else {k: v for k, v in chosen.items() if k != "key"},
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


def config_facts(config: TrainConfig) -> dict:
    """The settings as JSON-ready facts (modalities as sorted names)."""
    facts = {
        k: list(v) if isinstance(v, tuple) else v
        for k in config.__dataclass_fields__
        if k != "modalities"
        for v in [getattr(config, k)]
    }
    return facts | {"modalities": sorted(m.value for m in config.modalities)}


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
    selection: dict | None,
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
    # Every entry is one number per epoch. The selection curve (phase A, on the validation
    # window; it may have more epochs than the final fit) is kept under ``validation_<metric>``.
    curves = {}
    for row in [] if selection is None else selection["curve"]:
        for metric in dict.fromkeys((selection["metric"], "recall@20", "ndcg@20")):
            if metric in row:
                curves.setdefault(f"validation_{metric}", []).append(float(row[metric]))
    with open(outputs.history_path(model_dir), "w") as f:
        json.dump({**losses, **curves}, f, indent=2)
    manifest = {
        **facts,
        "total_seconds": round(time.monotonic() - started, 2),
        "final_loss": losses["loss"][-1],
    }
    completion.write_manifest(outputs.manifest_path(model_dir), manifest)
    return manifest
