"""No training/serving skew: the exported transform graph, applied in-process to the raw rows the
Beam run consumed, gives exactly the features the Beam run wrote.

Runs the real stage (ingest, then transform, both from the command line) on the bundled sample
once per module.
"""

from __future__ import annotations

import os

# Legacy Keras (tf_keras) before TensorFlow is first imported, as components/__init__.py does.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import glob

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.ingest import layout
from components.train.catalog import raw_tensors
from components.transform import outputs
from components.transform.text import tokenize
from schemas import ITEMS
from schemas import features as fs
from schemas.tables import IMAGE_EMBEDDING, ITEM_ID

TRAIN, EVAL = "train", "eval"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stage(tiny_examples) -> dict[str, str]:
    """The sample ingested and transformed by the stages' CLIs (the session's, shared)."""
    return {name: str(path) for name, path in tiny_examples.items()}


def raw_rows(examples_dir: str, split: str) -> pa.Table:
    path = os.path.join(outputs.raw_examples_dir(examples_dir, split), outputs.RAW_EXAMPLES_FILE)
    return pq.read_table(path)


def written(examples_dir: str, split: str, tft_output: tft.TFTransformOutput) -> dict:
    """The transformed examples Beam wrote for ``split``, ``{feature: [rows, ...]}`` numpy."""
    spec = {
        k: v
        for k, v in tft_output.transformed_feature_spec().items()
        if k in fs.example_output_names()
    }
    files = sorted(glob.glob(outputs.transformed_pattern(examples_dir, split)))
    assert files, f"no transformed {split} examples in {examples_dir}"
    records = list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())
    parsed = tf.io.parse_example(tf.constant(records), spec)
    return {k: v.numpy() for k, v in parsed.items()}


def served(rows: pa.Table, tft_output: tft.TFTransformOutput) -> dict:
    """``rows`` through the TFT Keras layer, as the exported model applies it at serving time."""
    layer = tft_output.transform_features_layer()
    out = layer(raw_tensors(rows, None))
    return {k: out[k].numpy() for k in fs.example_output_names()}


def in_row_order(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same rows sorted by their content: integer features first, then rounded floats.

    Beam may write rows in any order; the integer ids (user, item, history, tokens) identify an
    example, the floats only break ties.
    """
    names = sorted(columns)
    ints = [n for n in names if columns[n].dtype.kind in "iu"]
    floats = [n for n in names if columns[n].dtype.kind == "f"]
    rows = len(columns[names[0]])
    keys = [columns[n].reshape(rows, -1) for n in ints]
    keys += [np.round(columns[n].reshape(rows, -1), 4) for n in floats]
    matrix = np.concatenate(keys, axis=1)
    order = np.lexsort(matrix.T[::-1])
    return {n: columns[n][order] for n in names}


@pytest.mark.parametrize("split", [TRAIN, EVAL])
def test_serving_graph_reproduces_what_beam_wrote(stage: dict[str, str], split: str) -> None:
    tft_output = tft.TFTransformOutput(stage["graph"])
    rows = raw_rows(stage["examples"], split)
    beam_out = written(stage["examples"], split, tft_output)
    graph_out = served(rows, tft_output)

    assert set(beam_out) == set(graph_out) == set(fs.example_output_names())
    assert all(len(v) == rows.num_rows for v in beam_out.values())
    beam_out, graph_out = in_row_order(beam_out), in_row_order(graph_out)
    for name in sorted(beam_out):
        expected, actual = beam_out[name], graph_out[name]
        assert expected.shape == actual.shape, name
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=name)


def tokens_of(rows: pa.Table, feature: str) -> list[list[bytes]]:
    texts = [value[0] for value in rows[feature].to_pylist()]
    return tokenize(tf.constant(texts, tf.string)).to_list()


def test_a_token_seen_only_in_the_eval_window_is_out_of_vocabulary(
    stage: dict[str, str],
) -> None:
    examples = stage["examples"]
    train, evaluation = raw_rows(examples, TRAIN), raw_rows(examples, EVAL)
    catalog = pq.read_table(outputs.raw_catalog_path(examples))
    seen = {t for row in tokens_of(train, fs.USER_TEXT) for t in row}
    seen |= {t for row in tokens_of(catalog, fs.ITEM_TEXT) for t in row}
    eval_tokens = tokens_of(evaluation, fs.USER_TEXT)
    eval_only = {t for row in eval_tokens for t in row} - seen
    assert eval_only, "the sample should have a token that only eval-window users wrote"

    tft_output = tft.TFTransformOutput(stage["graph"])
    vocab_path = os.path.join(stage["graph"], "transform_fn", "assets", fs.TEXT_VOCAB)
    with open(vocab_path, "rb") as f:
        vocab = f.read().splitlines()
    assert len(vocab) > 100
    assert not eval_only & set(vocab)
    oov_id = len(vocab) + 1  # index + 1 (0 is padding); the single OOV bucket follows the vocab

    beam_out = written(examples, EVAL, tft_output)[fs.USER_TEXT_TOKENS]
    graph_out = served(evaluation, tft_output)[fs.USER_TEXT_TOKENS]
    checked = 0
    for row, tokens in enumerate(eval_tokens):
        for position, token in enumerate(tokens[: beam_out.shape[1]]):
            if token in eval_only:
                assert graph_out[row, position] == oov_id, (row, position, token)
                checked += 1
    assert checked
    # Beam's rows may be in another order: the same number of OOV ids overall.
    assert np.sum(beam_out == oov_id) == np.sum(graph_out == oov_id) >= checked


def test_catalog_embeddings_reach_the_graph_as_ingested_unit_vectors_with_flags(
    stage: dict[str, str],
) -> None:
    items = layout.read_table(stage["data"], ITEMS.name, columns=(ITEM_ID, IMAGE_EMBEDDING))
    ingested = dict(
        zip(items[ITEM_ID].to_pylist(), items[IMAGE_EMBEDDING].to_pylist(), strict=True)
    )
    catalog = pq.read_table(outputs.raw_catalog_path(stage["examples"]))
    ids = [i[0].decode() for i in catalog[ITEM_ID].to_pylist()]
    raw = np.array(catalog[IMAGE_EMBEDDING].to_pylist(), np.float32)
    expected = np.array([ingested[i] or [0.0] * fs.IMAGE_EMBEDDING_LEN for i in ids], np.float32)
    np.testing.assert_array_equal(raw, expected)
    has = np.array([ingested[i] is not None for i in ids])
    assert has.any() and not has.all()

    layer = tft.TFTransformOutput(stage["graph"]).transform_features_layer()
    out = layer(raw_tensors(catalog, None))
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    unit = np.where(has[:, None], raw / np.maximum(norms, 1e-30), 0.0)
    np.testing.assert_allclose(out[fs.IMAGE_EMBEDDING_UNIT].numpy(), unit, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[fs.IMAGE_EMBEDDING_VALID].numpy(), has.astype(np.float32))
