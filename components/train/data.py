"""tf.data input over the transform stage's TFRecords."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from schemas.features import example_output_names


def make_dataset(
    file_pattern: str,
    transform_output: tft.TFTransformOutput,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
) -> tf.data.Dataset:
    """Batches of transformed feature dicts, parsed in parallel and prefetched.

    Args:
        file_pattern: Glob of gzipped TFRecord files of transformed tf.Examples.
        transform_output: Gives the transformed feature spec.
        batch_size: Examples per batch.
        shuffle: Shuffle files and examples (train) or keep order (eval).
        seed: Shuffle seed.
    """
    files = tf.data.Dataset.list_files(file_pattern, shuffle=shuffle, seed=seed)
    records = files.interleave(
        lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=not shuffle,
    )
    if shuffle:
        records = records.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
    wanted = example_output_names()
    spec = {k: v for k, v in transform_output.transformed_feature_spec().items() if k in wanted}
    return (
        records.batch(batch_size)
        .map(lambda r: tf.io.parse_example(r, spec), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
