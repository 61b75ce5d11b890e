"""Precomputed image embeddings: fixed width or refused (naming every width), missing ones as
zeros, unit vectors and a validity flag in the graph."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import dataclasses
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from components.ingest import layout
from components.sources import images
from components.transform.config import TransformConfig
from components.transform.embeddings import (
    EmbeddingWidthError,
    fixed_width_embeddings,
    missing_embeddings,
)
from components.transform.examples import build_catalog
from components.transform.image import unit_embeddings
from components.transform.job import run
from schemas import ITEMS
from schemas import features as fs
from schemas.tables import IMAGE_EMBEDDING, ITEM_ID
from tests.unit.transform.test_examples import context

W = fs.IMAGE_EMBEDDING_LEN
THREE_FOUR = [3.0, 4.0] + [0.0] * (W - 2)  # norm 5


def _vectors(rows: list) -> pa.Array:
    return pa.array(rows, pa.list_(pa.float32()))


def test_the_declared_width_is_the_generator_s():
    assert images.EMBEDDING_DIM == fs.IMAGE_EMBEDDING_LEN


def test_missing_embeddings_become_zeros_and_present_ones_stay_as_they_are():
    ids = pa.array(["a", "b", "c"])
    fixed = fixed_width_embeddings(_vectors([THREE_FOUR, None, []]), ids, width=W, column="c")
    assert fixed.to_pylist() == [THREE_FOUR, [0.0] * W, [0.0] * W]
    assert missing_embeddings(np.array(fixed.to_pylist())) == 2


def test_another_width_is_refused_naming_every_width_and_its_items():
    ids = pa.array(["a", "b", "c", "d", "e"])
    vectors = _vectors([THREE_FOUR, [1.0] * 512, [1.0] * 512, None, [1.0, 2.0]])
    with pytest.raises(EmbeddingWidthError) as raised:
        fixed_width_embeddings(vectors, ids, width=W, column="items.image_embedding")
    message = str(raised.value)
    assert message.startswith("items.image_embedding: 1 of 5 items have width 2 (e.g. 'e'); ")
    assert "2 of 5 items have width 512 (e.g. 'b', 'c')" in message
    assert f"declares width {W}" in message and "IMAGE_EMBEDDING_LEN" in message


def test_catalog_rows_carry_each_item_s_embedding_or_zeros():
    ctx = context()
    given = [THREE_FOUR, None, [0.5] * W]
    ctx = dataclasses.replace(ctx, items=_with_embeddings(ctx.items, given))
    rows = build_catalog(ctx)
    assert rows.schema == fs.example_arrow_schema()
    assert rows[fs.IMAGE_EMBEDDING].to_pylist() == [THREE_FOUR, [0.0] * W, [0.5] * W]


def test_a_catalog_with_another_width_is_refused_by_its_items():
    ctx = context()
    given = [THREE_FOUR, [1.0] * (W + 1), None]
    ctx = dataclasses.replace(ctx, items=_with_embeddings(ctx.items, given))
    with pytest.raises(EmbeddingWidthError, match=rf"items have width {W + 1} \(e.g. 'i2'\)"):
        build_catalog(ctx)


def _with_embeddings(items: pa.Table, vectors: list) -> pa.Table:
    index = items.schema.get_field_index(IMAGE_EMBEDDING)
    return items.set_column(index, items.schema.field(index), _vectors(vectors))


def test_unit_vectors_and_flags_worked_by_hand():
    vectors = tf.constant(
        [THREE_FOUR, [0.0] * W, [np.nan] + [1.0] * (W - 1), [-2.0] + [0.0] * (W - 1)], tf.float32
    )
    unit, valid = unit_embeddings(vectors)
    expected = np.zeros((4, W), np.float32)
    expected[0, :2] = [0.6, 0.8]
    expected[3, 0] = -1.0
    np.testing.assert_allclose(unit.numpy(), expected, rtol=1e-6)
    np.testing.assert_array_equal(valid.numpy(), [1.0, 0.0, 0.0, 1.0])


def test_scale_does_not_change_a_unit_vector():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, W)).astype(np.float32)
    small, _ = unit_embeddings(tf.constant(vectors * 1e-3))
    large, _ = unit_embeddings(tf.constant(vectors * 1e3))
    np.testing.assert_allclose(small.numpy(), large.numpy(), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(large.numpy(), axis=1), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_the_transform_stage_refuses_another_width_before_writing_anything(tiny_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    path = layout.table_path(data, ITEMS.name, layout.ALL)
    items = pq.read_table(path, schema=ITEMS.arrow_schema())
    widths = [None if v is None else len(v) for v in items[IMAGE_EMBEDDING].to_pylist()]
    assert W in widths and None in widths  # the tiny shop has both
    wide = [None if w is None else [0.1] * 16 for w in widths]
    pq.write_table(_with_embeddings(items, wide), path)
    first = next(i for i, w in zip(items[ITEM_ID].to_pylist(), widths, strict=True) if w)
    examples, graph = tmp_path / "examples", tmp_path / "graph"
    with pytest.raises(EmbeddingWidthError, match=rf"have width 16 \(e.g. '{first}'"):
        run(str(data), str(examples), str(graph), TransformConfig(in_process_features=True))
    assert not examples.exists() and not graph.exists()
