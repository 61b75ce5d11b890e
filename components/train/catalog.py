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

from components.train.scoring import catalog_positions
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
    """Every catalog row's static candidate features, transformed once (constants, not weights).

    Rows are in raw catalog order (a catalog position names an item, cold items included);
    ``positions`` maps a transformed item id to its row (``scoring.catalog_positions``), and
    position ``I`` is an all-zero row for ids with none.

    Args:
        catalog: Raw catalog rows (``transform.outputs.raw_catalog_path``).
        tft_layer: The transform graph's layer.
        vocab_rows: Rows of the item id table (vocabulary + OOV buckets + padding).
        batch_size: Catalog rows transformed per call.
    """

    def __init__(
        self,
        catalog: pa.Table,
        tft_layer: tf.keras.Model,
        *,
        vocab_rows: int,
        batch_size: int = 2048,
    ) -> None:
        super().__init__(name="catalog_table", trainable=False)
        chunks: list[dict[str, np.ndarray]] = []
        for start in range(0, catalog.num_rows, batch_size):
            raw = raw_tensors(catalog.slice(start, batch_size), fs.Side.CANDIDATE)
            chunks.append({k: v.numpy() for k, v in transform_candidates(raw, tft_layer).items()})
        merged = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        self.items = catalog.num_rows
        self.vocab_ids = merged[xf(ITEM_ID)].astype(np.int64)
        self.positions = tf.constant(catalog_positions(self.vocab_ids, vocab_rows=vocab_rows))
        self.static_names = sorted(set(merged) - {xf(fs.IMAGE)})
        self.tables = {}
        for name in self.static_names:
            values = merged[name]
            if name == IMAGE_PIXELS:  # uint8 keeps the table 4x smaller than float32
                values = np.round(values * 255.0).astype(np.uint8)
            padded = np.zeros((self.items + 1, *values.shape[1:]), dtype=values.dtype)
            padded[: self.items] = values
            self.tables[name] = tf.constant(padded)

    def item_tokens(self) -> tf.Tensor | None:
        """``[item id rows, T]`` each transformed item id's text tokens (0 where none), or None.

        The query tower reads the words of the user's history through it.
        """
        (text,) = fs.features(fs.Side.CANDIDATE, fs.Modality.TEXT) or (None,)
        name = None if text is None else fs.output_names(text.name)[0]
        if name not in self.tables:
            return None
        return tf.gather(self.tables[name], self.positions)

    def position_of(self, ids: tf.Tensor) -> tf.Tensor:
        """Catalog positions (``I``: none) of transformed item ids, any shape."""
        return tf.gather(self.positions, ids)

    def rows(self, positions: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """The candidate tower's inputs of catalog ``positions`` (None: every row, in order)."""
        out = {}
        for name, table in self.tables.items():
            values = table[: self.items] if positions is None else tf.gather(table, positions)
            out[name] = tf.cast(values, tf.float32) / 255.0 if name == IMAGE_PIXELS else values
        return out

    def call(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """The candidate tower's inputs for a batch of examples (by their item id)."""
        return self.rows(self.position_of(features[xf(ITEM_ID)]))
