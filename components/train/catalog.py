"""The catalog as model inputs: static content per item, transformed once, gathered per batch.

Examples carry only the candidate feature that names their item (its id); an item's
content (text, category, brand, price, image, neighbours) is the same in every example, so it is
transformed once here, through the same TFT layer serving uses, images decoded by the same
function the exported model uses, and gathered by item index at each step.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf

from components.train.towers import IMAGE_PIXELS, IMAGE_VALID
from components.transform.image import decode_images
from schemas import features as fs
from schemas import feeds
from schemas.tables import ITEM_ID

xf = fs.transformed_name


def raw_tensors(rows: pa.Table, side: fs.Side | None) -> dict[str, tf.Tensor]:
    """One side's raw features of ``rows`` (all: None) as tensors ``[rows, *shape]``.

    Works on feature-row tables (large list columns) and on serving requests (scalars or lists):
    ``schemas.feeds.to_feed``, as tensors.
    """
    return {
        name: tf.constant(values, dtype=fs.feature(name).dtype)
        for name, values in feeds.to_feed(rows, side).items()
    }


def transform_candidates(raw: dict[str, tf.Tensor], tft_layer: tf.keras.Model) -> dict:
    """Raw candidate features -> the candidate tower's inputs (TFT outputs + decoded image)."""
    transformed = tft_layer(raw)
    features = {name: transformed[name] for name in transformed}
    pixels, valid = decode_images(transformed[xf(fs.IMAGE)], size=fs.IMAGE_SIZE)
    features[IMAGE_PIXELS] = pixels
    features[IMAGE_VALID] = valid
    return features


class CatalogTable(tf.keras.layers.Layer):
    """Static candidate features indexed by transformed item id (constants, not weights)."""

    def __init__(
        self, catalog: pa.Table, tft_layer: tf.keras.Model, *, rows: int, batch_size: int = 2048
    ) -> None:
        super().__init__(name="catalog_table", trainable=False)
        chunks: list[dict[str, np.ndarray]] = []
        for start in range(0, catalog.num_rows, batch_size):
            raw = raw_tensors(catalog.slice(start, batch_size), fs.Side.CANDIDATE)
            chunks.append({k: v.numpy() for k, v in transform_candidates(raw, tft_layer).items()})
        merged = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        index = merged[xf(ITEM_ID)].astype(np.int64)
        self.static_names = sorted(
            set(merged) - {xf(n) for n in fs.DYNAMIC_CANDIDATE_FEATURES} - {xf(fs.IMAGE)}
        )
        self.tables = {}
        for name in self.static_names:
            values = merged[name]
            if name == IMAGE_PIXELS:  # uint8 keeps the table 4x smaller than float32
                values = np.round(values * 255.0).astype(np.uint8)
            table = np.zeros((rows, *values.shape[1:]), dtype=values.dtype)
            table[index] = values
            self.tables[name] = tf.constant(table)

    def call(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The candidate tower's inputs for a batch: static ones gathered, dynamic ones kept."""
        ids = features[xf(ITEM_ID)]
        out = {xf(n): features[xf(n)] for n in fs.DYNAMIC_CANDIDATE_FEATURES}
        for name in self.static_names:
            gathered = tf.gather(self.tables[name], ids)
            out[name] = tf.cast(gathered, tf.float32) / 255.0 if name == IMAGE_PIXELS else gathered
        return out
