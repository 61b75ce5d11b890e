"""Where train output lives; evaluate, report and push import this, never retype the paths.

```
<model>/serving/                  the SavedModel (its contract: ``components.train.signatures``)
<model>/embeddings/items.parquet  every catalog item's candidate embedding (item_id, embedding)
<model>/embeddings/users.parquet  the eval requests' query embeddings (user_id, embedding)
<model>/history.json              loss and metrics per epoch
<model>/logs/                     TensorBoard
<model>/checkpoints/epoch-NNN     weights after each epoch
<model>/backup/                   BackupAndRestore state while training (a restart resumes)
<model>/manifest.json             written last: the output is finished
```

Light on purpose (standard library only): importing it pulls in no TensorFlow.
"""

from __future__ import annotations

import os

MANIFEST = "manifest.json"
HISTORY = "history.json"
SERVING_DIR = "serving"
EMBEDDINGS_DIR = "embeddings"
LOGS_DIR = "logs"
CHECKPOINT_DIR = "checkpoints"
BACKUP_DIR = "backup"


def serving_dir(model_dir: str) -> str:
    """``<model>/serving``: the exported SavedModel."""
    return os.path.join(model_dir, SERVING_DIR)


def item_embeddings_path(model_dir: str) -> str:
    """``<model>/embeddings/items.parquet``: every catalog item's candidate embedding."""
    return os.path.join(model_dir, EMBEDDINGS_DIR, "items.parquet")


def user_embeddings_path(model_dir: str) -> str:
    """``<model>/embeddings/users.parquet``: the eval requests' query embeddings."""
    return os.path.join(model_dir, EMBEDDINGS_DIR, "users.parquet")


def manifest_path(model_dir: str) -> str:
    """``<model>/manifest.json``: what was trained, with which settings (written last)."""
    return os.path.join(model_dir, MANIFEST)


def history_path(model_dir: str) -> str:
    """``<model>/history.json``: loss and metrics per epoch."""
    return os.path.join(model_dir, HISTORY)
