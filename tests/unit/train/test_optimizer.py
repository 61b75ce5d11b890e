"""Lazy Adam: Adam's update on the rows a batch touched, nothing on the others (large tables)."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf

from components.train.optimizer import LazyAdam, make_optimizer


def lazy(**kwargs):
    return LazyAdam(lazy_min_rows=0, **kwargs)


def train_table(optimizer_class, batches, *, rows=6, dim=4):
    """An embedding table after one step per batch of ids (weighted squared-norm loss)."""
    tf.keras.utils.set_random_seed(1)
    table = tf.keras.layers.Embedding(rows, dim)
    table(tf.constant([0]))
    optimizer = optimizer_class(learning_rate=0.05)
    for ids in batches:
        ids = tf.constant(ids)
        weights = tf.range(1, len(ids) + 1, dtype=tf.float32)[:, None]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(table(ids) ** 2 * weights)
        gradients = tape.gradient(loss, table.trainable_variables)
        assert isinstance(gradients[0], tf.IndexedSlices)
        optimizer.apply_gradients(zip(gradients, table.trainable_variables, strict=True))
    return table.embeddings.numpy()


def test_with_every_row_in_every_batch_lazy_adam_is_adam():
    batches = [[0, 1, 2, 3, 4, 5, 2, 2]] * 5  # repeated ids: their gradients add up

    lazy_table = train_table(lazy, batches)
    adam = train_table(tf.keras.optimizers.Adam, batches)

    np.testing.assert_allclose(lazy_table, adam, atol=1e-6)


def test_a_row_left_out_of_a_batch_stays_put_under_lazy_adam_but_not_adam():
    batches = [[0, 1, 2]] * 3 + [[0, 1]] * 3  # row 2 trained, then absent; rows 3-5 never seen
    start = train_table(lazy, batches[:3])

    lazy_table = train_table(lazy, batches)
    adam = train_table(tf.keras.optimizers.Adam, batches)

    np.testing.assert_array_equal(lazy_table[2], start[2])  # no step without a gradient
    assert np.abs(adam[2] - start[2]).max() > 1e-3  # Adam's momentum keeps moving it
    np.testing.assert_allclose(lazy_table[:2], adam[:2], atol=1e-6)  # in every batch: the same
    np.testing.assert_array_equal(lazy_table[3:], adam[3:])


def test_tables_below_the_row_threshold_get_adam_s_update():
    batches = [[0, 1, 2]] * 3 + [[0, 1]] * 3

    small = train_table(lambda **kw: LazyAdam(lazy_min_rows=7, **kw), batches, rows=6)
    adam = train_table(tf.keras.optimizers.Adam, batches, rows=6)

    # The same update; the sparse gradient is densified first, so rounding may differ.
    np.testing.assert_allclose(small, adam, rtol=1e-6, atol=1e-7)
    config = make_optimizer(0.01, lazy_min_rows=500_000).get_config()
    assert config["lazy_min_rows"] == 500_000


def test_dense_gradients_get_adam_s_update():
    def fit(optimizer):
        tf.keras.utils.set_random_seed(2)
        layer = tf.keras.layers.Dense(3)
        x = tf.random.normal((8, 5))
        layer(x)
        for _ in range(4):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x) ** 2)
            grads = tape.gradient(loss, layer.trainable_variables)
            optimizer.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
        return [w.numpy() for w in layer.weights]

    every_table_lazy = fit(make_optimizer(0.01, lazy_min_rows=0))
    adam = fit(tf.keras.optimizers.Adam(learning_rate=0.01))

    for a, b in zip(every_table_lazy, adam, strict=True):
        np.testing.assert_array_equal(a, b)
