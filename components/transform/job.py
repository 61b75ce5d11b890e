"""I/O shell of the transform stage: ingested tables in, transformed examples and graph out."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

from components.ingest import layout
from components.transform import outputs
from components.transform.beam import analyze_and_transform
from components.transform.config import TransformConfig
from components.transform.examples import build_examples, build_requests
from components.transform.preprocessing import make_preprocessing_fn
from schemas import EVENTS, ITEMS, SCHEMA_VERSION
from schemas.features import example_feature_spec

logger = logging.getLogger(__name__)

TRAIN, EVAL, TEST = layout.TRAIN, layout.EVAL, layout.TEST


def run(data_dir: str, examples_dir: str, transform_dir: str, config: TransformConfig) -> dict:
    """Build examples for the train and eval windows and run TFT over them.

    Args:
        data_dir: An ingest output directory.
        examples_dir: Output: ``raw/<split>/*.parquet`` and ``<split>/*.tfrecord.gz``.
        transform_dir: Output: the TFT transform graph (``transform_fn/``,
            ``transformed_metadata/``).
        config: Transform settings.

    Returns:
        The manifest written to ``examples_dir/manifest.json`` (rows per split, timing).
    """
    started = time.monotonic()
    items = layout.read_table(data_dir, ITEMS.name, layout.ALL)
    rows = {}
    patterns = {}
    for split in (TRAIN, EVAL):
        events = layout.read_table(data_dir, EVENTS.name, split)
        examples = build_examples(events, items)
        rows[split] = examples.num_rows
        raw_dir = outputs.raw_examples_dir(examples_dir, split)
        os.makedirs(raw_dir, exist_ok=True)
        pq.write_table(examples, os.path.join(raw_dir, "part-00000.parquet"))
        patterns[split] = os.path.join(raw_dir, "*.parquet")
    # Requests as of each window's start: eval users have the train window as history; test
    # users have train + eval.
    history = layout.read_table(data_dir, EVENTS.name, TRAIN)
    for split in (EVAL, TEST):
        os.makedirs(os.path.dirname(outputs.requests_path(examples_dir, split)), exist_ok=True)
        pq.write_table(build_requests(history), outputs.requests_path(examples_dir, split))
        history = pa.concat_tables([history, layout.read_table(data_dir, EVENTS.name, split)])
    if rows[TRAIN] == 0:
        raise ValueError(f"{data_dir}: the train window has no events; nothing to learn from")
    with tempfile.TemporaryDirectory(prefix="tft-") as temp_dir:
        analyze_and_transform(
            train_pattern=patterns[TRAIN],
            eval_pattern=patterns[EVAL] if rows[EVAL] else None,
            feature_spec=example_feature_spec(),
            preprocessing_fn=make_preprocessing_fn(config),
            transform_dir=transform_dir,
            examples_dir=examples_dir,
            temp_dir=temp_dir,
            beam_args=config.beam_args,
        )
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "rows": rows,
        "seconds": round(time.monotonic() - started, 2),
        "beam_args": list(config.beam_args),
    }
    with open(os.path.join(examples_dir, outputs.MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    logger.info("transform done rows=%s seconds=%s", rows, manifest["seconds"])
    return manifest
