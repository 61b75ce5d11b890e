"""The planted answers of a synthetic shop (``<out>/_truth/``), for tests and ablation checks.

Ingest ignores ``_truth``; these columns are not part of the raw contract, so their names live
here rather than in ``schemas/``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.sources.assemble import category_path
from components.sources.world import CATEGORIES_PER_CLUSTER, MODALITIES, World
from schemas import tables

CLUSTER = "cluster"
SIGNAL_MODALITY = "signal_modality"


def users_truth(world: World) -> pa.Table:
    """``user_id, cluster, signal_modality`` for every good user."""
    return pa.table(
        {
            tables.USER_ID: world.user_ids,
            CLUSTER: pa.array(world.user_cluster.astype(np.int32)),
            SIGNAL_MODALITY: pa.array(MODALITIES).take(pa.array(world.user_modality)),
        }
    )


def items_truth(world: World) -> pa.Table:
    """``item_id, cluster, category`` for every good item (the category even when hidden)."""
    cluster = world.item_category // CATEGORIES_PER_CLUSTER
    vocab = world.vocab
    paths = [
        category_path((vocab.departments[c // CATEGORIES_PER_CLUSTER], vocab.category_nouns[c]))
        for c in world.item_category.tolist()
    ]
    return pa.table(
        {
            tables.ITEM_ID: world.item_ids,
            CLUSTER: pa.array(cluster.astype(np.int32)),
            tables.CATEGORY: pa.array(paths, pa.string()),
        }
    )
