"""Images inside the TF graph (so serving takes raw bytes and raw vectors).

Bytes are decoded, resized and normalized; precomputed embeddings are L2-normalized and flagged.

A graph has no try/except and ``decode_image`` raises on empty, truncated or corrupt bytes, so
decoding runs as an in-graph tf.data pipeline over (row, bytes) with ``ignore_errors()``; what
decodes is scattered back into a zero batch beside a validity flag. A bad image therefore gives
zeros and flag 0 for its row, never a failed batch (measured on this stack: STACK-NOTES).
"""

from __future__ import annotations

import tensorflow as tf


def decode_images(encoded: tf.Tensor, *, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Decode PNG/JPEG bytes to ``[batch, size, size, 3]`` float32 in [0, 1] and a valid flag.

    Args:
        encoded: ``[batch]`` encoded image bytes; empty or corrupt entries are allowed.
        size: Output height and width.

    Returns:
        ``(images [batch, size, size, 3], valid [batch] float32 1.0/0.0)``.
    """
    encoded = tf.reshape(encoded, [-1])
    batch = tf.shape(encoded, out_type=tf.int64)[0]
    # Only non-empty bytes are decoded (a failed decode costs an error inside tf.data; most rows
    # of a batch may carry no image at all). A sentinel row (-1, a 1x1 black PNG) keeps the
    # dataset from ever being empty.
    present = tf.where(tf.strings.length(encoded) > 0)[:, 0]
    sentinel = tf.io.encode_png(tf.zeros([1, 1, 3], tf.uint8))
    rows = tf.concat([present, [-1]], axis=0)
    data = tf.concat([tf.gather(encoded, present), [sentinel]], axis=0)

    def decode(row: tf.Tensor, raw: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_image(raw, channels=3, expand_animations=False)
        image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), [size, size])
        return row, tf.ensure_shape(image, [size, size, 3])

    decoded = (
        tf.data.Dataset.from_tensor_slices((rows, data))
        .map(decode)
        .ignore_errors()
        .batch(tf.shape(rows, out_type=tf.int64)[0])
        .get_single_element()
    )
    keep = decoded[0] >= 0
    good_rows = tf.boolean_mask(decoded[0], keep)[:, None]
    good = tf.boolean_mask(decoded[1], keep)
    images = tf.scatter_nd(good_rows, good, tf.stack([batch, size, size, 3]))
    valid = tf.scatter_nd(good_rows, tf.ones_like(good_rows[:, 0], tf.float32), [batch])
    return images, valid


def unit_embeddings(vectors: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """L2-normalize precomputed embeddings; a row of zeros (no embedding) is flagged, not scaled.

    A row with a non-finite value counts as missing too (ingest refuses NaN and inf, a serving
    request might not).

    Args:
        vectors: ``[batch, width]`` float32.

    Returns:
        ``(unit [batch, width], valid [batch] float32 1.0/0.0)``; unit rows of missing
        embeddings are zeros.
    """
    vectors = tf.cast(vectors, tf.float32)
    finite = tf.reduce_all(tf.math.is_finite(vectors), axis=1)
    safe = tf.where(finite[:, None], vectors, tf.zeros_like(vectors))
    norm = tf.sqrt(tf.reduce_sum(tf.square(safe), axis=1))
    valid = tf.logical_and(finite, norm > 0)
    unit = tf.where(valid[:, None], safe / tf.maximum(norm, 1e-30)[:, None], tf.zeros_like(safe))
    return unit, tf.cast(valid, tf.float32)
