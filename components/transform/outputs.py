"""Where transform output lives; train and evaluate import this, never retype the paths.

```
<examples>/raw/<split>/examples.parquet         raw examples (TFT input)
<examples>/raw/train/catalog.parquet            raw catalog rows as of the train cut-off
<examples>/raw/spans/<day>/examples.parquet     train examples of one UTC day (analyzer cache on)
<examples>/<split>/part-*.tfrecord.gz            transformed examples (train, eval)
<examples>/requests/<split>/part-00000.parquet   serving requests as of the split's start
                                                 (validation, eval, test)
<examples>/raw/relations.parquet                the catalog's item relations, ranked
<examples>/manifest.json                          written last: the output is finished
<transform_graph>/transform_fn, transformed_metadata   the TFT graph
```
"""

from __future__ import annotations

import os

import numpy as np

MANIFEST = "manifest.json"
# Manifest field: out-of-vocabulary buckets of every vocabulary (train sizes its tables by it).
OOV_BUCKETS = "oov_buckets"
REQUESTS_DIR = "requests"
# The validation window (the end of the train window, ``validation_start`` to the train cut-off)
# gets its own serving requests, as of its start: model selection scores them.
VALIDATION = "validation"
RAW_RELATIONS_FILE = "relations.parquet"
RAW_DIR = "raw"
RAW_EXAMPLES_FILE = "examples.parquet"
RAW_CATALOG_FILE = "catalog.parquet"
SPANS_DIR = "spans"
# What a run writes under each output root; a rerun clears exactly these, nothing else there.
EXAMPLE_SUBDIRS = (RAW_DIR, REQUESTS_DIR, "train", "eval")
GRAPH_SUBDIRS = ("transform_fn", "transformed_metadata")


def requests_path(examples_dir: str, split: str) -> str:
    """Serving requests for users as of the start of ``split`` (eval: the train cut-off)."""
    return os.path.join(examples_dir, REQUESTS_DIR, split, "part-00000.parquet")


def raw_examples_dir(examples_dir: str, split: str) -> str:
    """Raw (untransformed) examples of ``split``."""
    return os.path.join(examples_dir, RAW_DIR, split)


def transformed_pattern(examples_dir: str, split: str) -> str:
    """Glob of the transformed TFRecords of ``split``."""
    return os.path.join(examples_dir, split, "*.tfrecord.gz")


def raw_catalog_path(examples_dir: str) -> str:
    """Raw catalog rows: every item's content."""
    return os.path.join(examples_dir, RAW_DIR, "train", RAW_CATALOG_FILE)


def raw_relations_path(examples_dir: str) -> str:
    """The item relations (``src_item, dst_item, kind, rank``): the model's graph signal."""
    # Not under raw/train/: TFT analyzes every file there.
    return os.path.join(examples_dir, RAW_DIR, RAW_RELATIONS_FILE)


def raw_span_path(examples_dir: str, span: str) -> str:
    """Raw train examples of one span (a UTC day, ``YYYY-MM-DD``), analyzed and cached alone."""
    return os.path.join(examples_dir, RAW_DIR, SPANS_DIR, span, RAW_EXAMPLES_FILE)


def span_names(times: np.ndarray, *, days: int, cutoff_micros: int) -> np.ndarray:
    """``[rows]`` name of the analyzer-cache span of each time (str).

    Spans are aligned on the epoch (day number // ``days``) and named by their first UTC day; a
    span the train cut-off falls into is not complete yet (tomorrow's run adds rows to it), so
    its name also carries the cut-off and no later run mistakes its cache for its own.

    Args:
        times: ``[rows]`` int64 epoch microseconds.
        days: UTC days per span.
        cutoff_micros: End of the train window (epoch microseconds).
    """
    day_number = np.asarray(times, dtype="datetime64[us]").astype("datetime64[D]").astype(np.int64)
    first_day = (day_number // days) * days
    names = {}
    for day in np.unique(first_day):
        name = str(np.datetime64(int(day), "D"))
        if int(day + days) * 86_400 * 1_000_000 > cutoff_micros:
            name = f"{name}-until-{cutoff_micros}"
        names[int(day)] = name
    out = np.empty(len(first_day), dtype=object)
    for day, name in names.items():
        out[first_day == day] = name
    return out


def owned_paths(examples_dir: str, transform_dir: str) -> list[str]:
    """Directories a run writes (and a rerun clears first), each ending in ``/``."""
    return [os.path.join(examples_dir, d, "") for d in EXAMPLE_SUBDIRS] + [
        os.path.join(transform_dir, d, "") for d in GRAPH_SUBDIRS
    ]
