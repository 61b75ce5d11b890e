"""I/O shell of the transform stage: ingested tables in, feature rows and the TFT graph out."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions

from components import completion
from components.ingest import layout
from components.transform import outputs, shards
from components.transform.beam import analyze_and_transform
from components.transform.config import TransformConfig
from components.transform.embeddings import check_embedding_widths
from components.transform.examples import (
    Context,
    build_catalog,
    build_examples,
    build_requests,
    example_times,
    request_users,
)
from components.transform.feature_pipeline import (
    auto_shards,
    build_features,
    describe_counts,
    table_file,
)
from components.transform.preprocessing import make_preprocessing_fn
from components.transform.relations import ranked_relations
from schemas import EVENTS, ITEM_RELATIONS, ITEMS, REVIEWS, SCHEMA_VERSION, USER_RELATIONS, USERS
from schemas import features as fs
from schemas.tables import IMAGE_EMBEDDING, ITEM_ID, USER_ID

logger = logging.getLogger(__name__)

TRAIN, EVAL, TEST = layout.TRAIN, layout.EVAL, layout.TEST


def read_context(data_dir: str) -> tuple[Context, dict[str, pa.Table]]:
    """Every canonical table ingest wrote, all windows (lookups only see the past).

    Returns:
        The context, and the events of each time window (read once, used for both).
    """
    windows = {s: layout.read_table(data_dir, EVENTS.name, s) for s in layout.TIME_SPLITS}
    context = Context(
        users=layout.read_table(data_dir, USERS.name),
        items=layout.read_table(data_dir, ITEMS.name),
        events=pa.concat_tables(windows.values()),
        reviews=pa.concat_tables(
            layout.read_table(data_dir, REVIEWS.name, s) for s in layout.TIME_SPLITS
        ),
        user_links=layout.read_table(data_dir, USER_RELATIONS.name),
        item_links=layout.read_table(data_dir, ITEM_RELATIONS.name),
    )
    return context, windows


def cutoffs(data_dir: str) -> dict[str, int]:
    """Window starts in epoch microseconds: eval starts at train_end, test at eval_end.

    The validation window starts at ``validation_start`` (train_end for an ingest output
    written before there was one: an empty validation window).
    """
    with FileSystems.open(f"{data_dir.rstrip('/')}/{layout.MANIFEST}") as f:
        manifest = json.load(f)

    def us(text: str) -> int:
        return int(dt.datetime.fromisoformat(text).timestamp() * 1_000_000)

    return {
        EVAL: us(manifest["train_end"]),
        TEST: us(manifest["eval_end"]),
        outputs.VALIDATION: us(manifest.get("validation_start", manifest["train_end"])),
    }


@contextlib.contextmanager
def tft_temp_dir(beam_args: tuple[str, ...]) -> Iterator[str]:
    """TFT's scratch space: under ``--temp_location`` when given, else a local temp directory.

    Remote workers (Dataflow, Flink, Spark) write there, so it must be shared storage.
    """
    root = PipelineOptions(list(beam_args)).view_as(GoogleCloudOptions).temp_location
    if root:
        yield f"{root.rstrip('/')}/tft-{uuid.uuid4().hex}"
        return
    with tempfile.TemporaryDirectory(prefix="tft-") as temp_dir:
        yield temp_dir


def is_catalog_batch(batch: pa.RecordBatch) -> pa.Array:
    """Catalog rows of a transformed batch: their user id is padding (transformed to 0)."""
    user = batch.column(batch.schema.get_field_index(fs.transformed_name(USER_ID)))
    return pc.equal(pc.list_element(user, 0), 0)


def run(data_dir: str, examples_dir: str, transform_dir: str, config: TransformConfig) -> dict:
    """Build feature rows for the train and eval windows and the catalog, then run TFT.

    Args:
        data_dir: An ingest output directory.
        examples_dir: Output (see ``components.transform.outputs``).
        transform_dir: Output: the TFT transform graph.
        config: Transform settings.

    Returns:
        The manifest written to ``examples_dir/manifest.json`` (rows, counts of rows with no
        history / text / image / image embedding, timing).

    Raises:
        EmbeddingWidthError: an item's image embedding is not ``IMAGE_EMBEDDING_LEN`` wide.
    """
    started = time.monotonic()
    completion.require(data_dir, layout.MANIFEST, stage="ingest")
    starts = cutoffs(data_dir)
    # Refused before any output is cleared or any Beam step runs (the shards check too).
    items = layout.read_table(data_dir, ITEMS.name, columns=(ITEM_ID, IMAGE_EMBEDDING))
    check_embedding_widths(
        items[IMAGE_EMBEDDING],
        items[ITEM_ID],
        width=fs.IMAGE_EMBEDDING_LEN,
        column=f"{data_dir}: {ITEMS.name}.{IMAGE_EMBEDDING}",
    )
    clear_outputs(examples_dir, transform_dir)
    shard_count = None
    if config.in_process_features:
        rows, summary, spans = build_features_in_process(
            data_dir, examples_dir, starts=starts, config=config
        )
    else:
        shard_count = config.shards or auto_shards(data_dir)
        counts = build_features(
            data_dir,
            examples_dir,
            starts=starts,
            shard_count=shard_count,
            beam_args=config.beam_args,
            span_days=config.span_days if config.cache_dir is not None else None,
        )
        summary = {
            TRAIN: counts.outputs[shards.TRAIN_EXAMPLES],
            EVAL: counts.outputs[shards.EVAL_EXAMPLES],
            "catalog": counts.outputs[shards.CATALOG],
        }
        rows = {split: summary[split]["rows"] for split in (TRAIN, EVAL)}
        spans = dict(sorted(counts.spans.items()))
    relations = write_relations(data_dir, examples_dir)
    if rows[TRAIN] == 0:
        raise ValueError(f"{data_dir}: the train window has no events; nothing to learn from")
    if spans:
        # The catalog is as of this run's cut-off: a new span every night, never reused.
        spans[f"catalog-{starts[EVAL]}"] = outputs.raw_catalog_path(examples_dir)
    feature_time = time.monotonic() - started
    with tft_temp_dir(config.beam_args) as temp_dir:
        analyzed = analyze_and_transform(
            analyze_pattern=os.path.join(outputs.raw_examples_dir(examples_dir, TRAIN), "*"),
            eval_pattern=(
                os.path.join(outputs.raw_examples_dir(examples_dir, EVAL), "*")
                if rows[EVAL]
                else None
            ),
            feature_spec=fs.example_feature_spec(),
            preprocessing_fn=make_preprocessing_fn(config),
            is_catalog_row=is_catalog_batch,
            example_outputs=fs.example_output_names(),
            transform_dir=transform_dir,
            examples_dir=examples_dir,
            temp_dir=temp_dir,
            beam_args=config.beam_args,
            spans=spans or None,
            cache_dir=config.cache_dir,
        )
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "rows": rows,
        "catalog_items": summary["catalog"]["rows"],
        "item_relations": relations,
        "cutoffs": {name: _iso(us) for name, us in sorted(starts.items())},
        "summary": summary,
        "feature_seconds": round(feature_time, 2),
        "seconds": round(time.monotonic() - started, 2),
        "beam_args": list(config.beam_args),
        "features": "in_process" if config.in_process_features else "beam",
        "shards": shard_count,
        outputs.OOV_BUCKETS: config.oov_buckets,
    }
    if config.cache_dir is not None:
        manifest["spans"] = sorted(spans)
        manifest["analyzed_spans"] = analyzed
    completion.write_manifest(os.path.join(examples_dir, outputs.MANIFEST), manifest)
    logger.info("transform done rows=%s seconds=%s", rows, manifest["seconds"])
    return manifest


def write_relations(data_dir: str, examples_dir: str) -> int:
    """The ingested item relations, ranked (``outputs.raw_relations_path``); returns rows.

    Local or gs:// (read and written through Beam's FileSystems, like the rest of the stage).
    """
    with FileSystems.open(table_file(data_dir, ITEM_RELATIONS.name, layout.ALL)) as f:
        links = pq.read_table(f, schema=ITEM_RELATIONS.arrow_schema())
    ranked = ranked_relations(links)
    path = outputs.raw_relations_path(examples_dir)
    if not path.startswith(completion.GS):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as sink:
        pq.write_table(ranked, sink)
    return ranked.num_rows


def _iso(micros: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)).isoformat()


def clear_outputs(examples_dir: str, transform_dir: str) -> None:
    """Uncommit, then remove what an earlier (perhaps killed) run into the same paths wrote.

    The manifest goes first, so a run killed from here on leaves an output that train and
    evaluate refuse; stale shards, Beam temp files or an older graph never mix with new ones.
    """
    completion.remove(os.path.join(examples_dir, outputs.MANIFEST))
    for directory in outputs.owned_paths(examples_dir, transform_dir):
        if directory.startswith(completion.GS):
            stale = [m.path for m in FileSystems.match([directory + "**"])[0].metadata_list]
            if stale:
                logger.info("clearing an earlier run's output under %s", directory)
                FileSystems.delete(stale)
        elif os.path.isdir(directory):
            logger.info("clearing an earlier run's output under %s", directory)
            shutil.rmtree(directory)


def build_features_in_process(
    data_dir: str, examples_dir: str, *, starts: dict[str, int], config: TransformConfig
) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, str]]:
    """The reference feature build: every table in this process (small data, tests, bench).

    Writes the same files as ``feature_pipeline.build_features`` (rows in another order).

    Returns:
        Example rows per split, the summary (``describe``) per output, span files (cache on).
    """
    ctx, windows = read_context(data_dir)
    rows, summary, spans = {}, {}, {}
    for split in (TRAIN, EVAL):
        window = windows[split]
        examples = build_examples(ctx, window)
        if split == TRAIN and config.cache_dir is not None:
            spans = write_spans(
                examples,
                example_times(ctx, window),
                examples_dir,
                days=config.span_days,
                cutoff_micros=starts[EVAL],
            )
        rows[split] = examples.num_rows
        summary[split] = describe(examples)
        os.makedirs(outputs.raw_examples_dir(examples_dir, split), exist_ok=True)
        pq.write_table(
            examples,
            os.path.join(outputs.raw_examples_dir(examples_dir, split), outputs.RAW_EXAMPLES_FILE),
        )
    catalog = build_catalog(ctx)
    pq.write_table(catalog, outputs.raw_catalog_path(examples_dir))
    summary["catalog"] = describe(catalog)
    for split in (outputs.VALIDATION, EVAL, TEST):
        users = request_users(ctx, starts[split])
        path = outputs.requests_path(examples_dir, split)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(build_requests(ctx, users, starts[split]), path)
    return rows, summary, spans


def write_spans(
    examples: pa.Table, times: np.ndarray, examples_dir: str, *, days: int, cutoff_micros: int
) -> dict[str, str]:
    """Write ``examples`` split into spans of ``days`` UTC days; ``{span name: Parquet path}``.

    A span's name is its analyzer cache key, so it must name exactly its rows (see
    ``outputs.span_names``).

    Args:
        examples: Train-window example rows.
        times: ``[rows]`` int64 epoch microseconds of each row's event.
        examples_dir: Output root (see ``outputs.raw_span_path``).
        days: UTC days per span.
        cutoff_micros: End of the train window (epoch microseconds).
    """
    if len(times) != examples.num_rows:
        raise ValueError(f"{len(times)} event times for {examples.num_rows} example rows")
    names = outputs.span_names(times, days=days, cutoff_micros=cutoff_micros)
    paths = {}
    for name in sorted(set(names)):
        path = outputs.raw_span_path(examples_dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(examples.filter(pa.array(names == name)), path)
        paths[name] = path
    return paths


def describe(rows: pa.Table) -> dict[str, int]:
    """Rows, and counts of rows with no history, no text, no image (defined, never dropped)."""
    return {"rows": rows.num_rows, **describe_counts(rows)}
