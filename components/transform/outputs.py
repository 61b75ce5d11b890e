"""Where transform output lives; train and evaluate import this, never retype the paths.

```
<examples>/raw/<split>/part-00000.parquet        raw examples (TFT input)
<examples>/<split>/part-*.tfrecord.gz            transformed tf.Examples (train, eval)
<examples>/requests/<split>/part-00000.parquet   serving requests as of the split's start
<examples>/manifest.json
<transform_graph>/transform_fn, transformed_metadata   the TFT graph
```
"""

from __future__ import annotations

import os

MANIFEST = "manifest.json"
REQUESTS_DIR = "requests"
RAW_DIR = "raw"


def requests_path(examples_dir: str, split: str) -> str:
    """Serving requests for users as of the start of ``split`` (eval: the train cut-off)."""
    return os.path.join(examples_dir, REQUESTS_DIR, split, "part-00000.parquet")


def raw_examples_dir(examples_dir: str, split: str) -> str:
    """Raw (untransformed) examples of ``split``."""
    return os.path.join(examples_dir, RAW_DIR, split)


def transformed_pattern(examples_dir: str, split: str) -> str:
    """Glob of the transformed TFRecords of ``split``."""
    return os.path.join(examples_dir, split, "*.tfrecord.gz")
