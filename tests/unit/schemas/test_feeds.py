"""Feeds: a sequence that is null or empty on a row becomes padding; another length is refused."""

import numpy as np
import pyarrow as pa
import pytest

from schemas import features as fs
from schemas.feeds import FeedError, to_feed

W = fs.IMAGE_EMBEDDING_LEN


def _rows(embeddings: list, ages: list | None = None) -> pa.Table:
    n = len(embeddings)
    columns = {f.name: pa.nulls(n, pa.list_(pa.float32()) if f.length else pa.float32())
               for f in fs.features(fs.Side.CANDIDATE) if not f.is_string}  # fmt: skip
    columns[fs.IMAGE_EMBEDDING] = pa.array(embeddings, pa.list_(pa.float32()))
    columns[fs.HIST_AGE_DAYS] = pa.array(ages or [None] * n, pa.list_(pa.float32()))
    return pa.table(columns)


def test_a_row_without_an_embedding_is_fed_zeros():
    feed = to_feed(_rows([[1.0] * W, None, []]), names={fs.IMAGE_EMBEDDING})
    expected = np.zeros((3, W), np.float32)
    expected[0] = 1.0
    np.testing.assert_array_equal(feed[fs.IMAGE_EMBEDDING], expected)


def test_padding_is_the_feature_s_own():
    ages = [[2.0] * fs.HISTORY_LEN, None]
    feed = to_feed(_rows([None, None], ages), names={fs.HIST_AGE_DAYS})
    np.testing.assert_array_equal(feed[fs.HIST_AGE_DAYS][1], [fs.NO_AGE] * fs.HISTORY_LEN)
    np.testing.assert_array_equal(feed[fs.HIST_AGE_DAYS][0], [2.0] * fs.HISTORY_LEN)


def test_another_width_is_refused_naming_the_feature_row_and_width():
    with pytest.raises(FeedError, match=rf"'image_embedding': 1 rows .* declared {W} \(row 1: 3\)"):
        to_feed(_rows([[1.0] * W, [1.0] * 3]), names={fs.IMAGE_EMBEDDING})
