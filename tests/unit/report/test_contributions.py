import numpy as np
import pyarrow as pa
import pytest

from components.report.contributions import (
    blank,
    modalities_in_model,
    score_drops,
    top_modality,
)
from schemas import features as fs
from schemas.contract import Modality
from schemas.feeds import take, to_feed
from schemas.tables import BRAND, COUNTRY, ITEM_ID, PRICE, USER_ID


def _feed(side, rows, **values):
    """A feed of ``rows`` rows: every feature blank except ``values``."""
    out = {}
    for f in fs.features(side):
        shape = [rows, *f.shape]
        out[f.name] = (
            np.full(shape, b"", dtype=object) if f.is_string else np.zeros(shape, np.float32)
        )
    for name, v in values.items():
        out[name] = np.asarray(v, dtype=out[name].dtype).reshape(out[name].shape)
    return out


def embed_query(feed):
    # [n, 3]: a user-id dim, a country dim and a history dim.
    return np.stack(
        [
            (feed[USER_ID] != b"").astype(float),
            (feed[COUNTRY] == b"DE").astype(float) * 2,
            (feed[fs.HIST_ITEM_IDS] != b"").sum(axis=1).astype(float),
        ],
        axis=1,
    )


def embed_candidate(feed):
    return np.stack(
        [
            (feed[ITEM_ID] != b"").astype(float),
            (feed[BRAND] == b"acme").astype(float) + feed[PRICE],
            np.ones(len(feed[ITEM_ID])),
        ],
        axis=1,
    )


def test_score_drop_per_modality_is_hand_computable():
    history = [[b"i1", b"i2"] + [b""] * (fs.HISTORY_LEN - 2)]
    queries = _feed(fs.Side.QUERY, 1, user_id=[b"u1"], country=[b"DE"], hist_item_ids=history)
    candidates = _feed(fs.Side.CANDIDATE, 1, item_id=[b"i9"], brand=[b"acme"], price=[0.5])
    base, drops = score_drops(
        embed_queries=embed_query,
        embed_candidates=embed_candidate,
        queries=queries,
        candidates=candidates,
        modalities=[Modality.ID, Modality.PROFILE, Modality.BEHAVIOR, Modality.TEXT],
    )
    # q = [1, 2, 2], c = [1, 1.5, 1]: score 1 + 3 + 2 = 6
    assert base.tolist() == [6.0]
    # id off: q0 = 0, c0 = 0 -> 5; profile off (country, brand, price): q1 = 0, c1 = 0 -> 3;
    # behavior off (history): q2 = 0 -> 4; text: nothing here uses it -> 6
    assert drops[Modality.ID].tolist() == [1.0]
    assert drops[Modality.PROFILE].tolist() == [3.0]
    assert drops[Modality.BEHAVIOR].tolist() == [2.0]
    assert drops[Modality.TEXT].tolist() == [0.0]
    assert top_modality({m: d[0] for m, d in drops.items()}) is Modality.PROFILE


def test_blank_uses_each_features_padding_and_leaves_the_rest_alone():
    feed = _feed(fs.Side.QUERY, 2, n_events=[3.0, 4.0], country=[b"DE", b"FR"])
    feed[fs.HIST_AGE_DAYS] = np.full((2, fs.HISTORY_LEN), 1.5, np.float32)
    out = blank(feed, Modality.BEHAVIOR, fs.Side.QUERY)
    assert (out[fs.HIST_AGE_DAYS] == fs.NO_AGE).all()
    assert (out[fs.N_EVENTS] == 0).all()
    assert out[COUNTRY].tolist() == [b"DE", b"FR"]
    assert feed[fs.N_EVENTS].tolist() == [3.0, 4.0]  # the input is not changed


def test_top_modality_is_none_when_no_blanking_lowers_the_score():
    assert top_modality({Modality.TEXT: -0.2, Modality.IMAGE: 0.0}) is None
    assert top_modality({Modality.TEXT: 0.3, Modality.IMAGE: 0.3}) is Modality.TEXT


def test_feed_from_requests_and_from_feature_rows_agree():
    plain = pa.table(
        {
            f.name: pa.array(
                [[("" if f.is_string else 0.0)] * f.length]
                if f.length
                else ["x" if f.is_string else 2.0]
            )
            for f in fs.features(fs.Side.QUERY)
        }
    )
    listed = pa.table(
        {
            n: pa.array([[v] if not isinstance(v, list) else v for v in plain[n].to_pylist()])
            for n in plain.column_names
        }
    )
    a, b = to_feed(plain, fs.Side.QUERY), to_feed(listed, fs.Side.QUERY)
    for name in a:
        assert a[name].shape == b[name].shape and a[name].tolist() == b[name].tolist(), name
    assert a[USER_ID].tolist() == [b"x"] and a[fs.HIST_ITEM_IDS].shape == (1, fs.HISTORY_LEN)
    assert take(a, [0, 0])[USER_ID].tolist() == [b"x", b"x"]


def test_modalities_in_model_always_include_ids():
    assert modalities_in_model(["text", "behavior"]) == [
        Modality.ID,
        Modality.TEXT,
        Modality.BEHAVIOR,
    ]
    assert modalities_in_model([]) == [Modality.ID]
    with pytest.raises(ValueError):
        modalities_in_model(["smell"])
