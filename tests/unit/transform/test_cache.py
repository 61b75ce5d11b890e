"""The analyzer cache per span: a warm run (older spans from the cache, only the new span and
the catalog analyzed) builds the same transform graph as a cold run over all spans.

The warm run's cache is the cold run's cache without the newest span and the catalog: TFT's cache
entries of a span depend only on that span's rows and the analyzers, so this is the cache a
previous night's run over the older spans leaves behind.
"""

from __future__ import annotations

import os

# Legacy Keras (tf_keras) before TensorFlow is first imported, as components/__init__.py does.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import pathlib
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow_transform as tft

from components.train.catalog import raw_tensors
from components.transform import outputs
from components.transform.config import TransformConfig
from components.transform.job import run, write_spans

SPAN_DAYS = 30  # the sample's train window makes 4 spans (1-day spans: 89, too slow here)


def us(text: str) -> int:
    return int(np.datetime64(text, "us").astype(np.int64))


def test_spans_are_utc_days_and_the_one_the_cut_off_cuts_is_named_by_it(tmp_path) -> None:
    rows = pa.table({"x": [1, 2, 3, 4]})
    times = np.array([us(t) for t in ("2024-01-01T23:59", "2024-01-03T00:00", "2024-01-01T00:00")])
    times = np.append(times, us("2024-01-03T09:00"))
    cutoff = us("2024-01-03T12:00")

    spans = write_spans(rows, times, str(tmp_path), days=1, cutoff_micros=cutoff)

    assert {n: pq.read_table(p)["x"].to_pylist() for n, p in spans.items()} == {
        "2024-01-01": [1, 3],
        f"2024-01-03-until-{cutoff}": [2, 4],
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_data) -> dict[str, dict]:
    """The ingested sample; a cold cached run, then a warm one missing the newest span's cache."""
    root = tmp_path_factory.mktemp("cache")
    data = str(tiny_data)
    out = {}
    for name in ("cold", "warm"):
        cache = root / f"cache-{name}"
        if name == "warm":
            spans = out["cold"]["manifest"]["spans"]
            newest = max(s for s in spans if not s.startswith("catalog"))
            kept = [s for s in spans if s != newest and not s.startswith("catalog")]
            for span in kept:
                shutil.copytree(root / "cache-cold" / span, cache / span)
        dirs = {"examples": str(root / f"ex-{name}"), "graph": str(root / f"tg-{name}")}
        config = TransformConfig(cache_dir=str(cache), span_days=SPAN_DAYS)
        manifest = run(data, dirs["examples"], dirs["graph"], config)
        out[name] = {**dirs, "manifest": manifest, "cache": cache}
    return out


def assets(graph: str) -> dict[str, bytes]:
    folder = pathlib.Path(graph, "transform_fn", "assets")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.slow
def test_the_warm_run_analyzes_only_the_new_span_and_the_catalog(runs: dict) -> None:
    spans = runs["cold"]["manifest"]["spans"]
    assert len(spans) >= 3
    assert runs["warm"]["manifest"]["spans"] == spans
    assert runs["cold"]["manifest"]["analyzed_spans"] == spans
    newest = max(s for s in spans if not s.startswith("catalog"))
    catalog = [s for s in spans if s.startswith("catalog")]
    assert runs["warm"]["manifest"]["analyzed_spans"] == sorted([newest, *catalog])
    assert sorted(os.listdir(runs["warm"]["cache"])) == sorted(spans)


@pytest.mark.slow
def test_warm_and_cold_runs_build_the_same_transform_graph(runs: dict) -> None:
    cold, warm = assets(runs["cold"]["graph"]), assets(runs["warm"]["graph"])
    assert set(cold) == {"categorical_vocab", "item_id_vocab", "text_vocab", "user_id_vocab"}
    for name in cold:
        assert warm[name] == cold[name], name

    rows = pq.read_table(
        os.path.join(
            outputs.raw_examples_dir(runs["cold"]["examples"], "train"), outputs.RAW_EXAMPLES_FILE
        )
    ).slice(0, 64)
    catalog = pq.read_table(outputs.raw_catalog_path(runs["cold"]["examples"])).slice(0, 64)
    for table in (rows, catalog):
        raw = raw_tensors(table, None)
        cold_out = tft.TFTransformOutput(runs["cold"]["graph"]).transform_features_layer()(raw)
        warm_out = tft.TFTransformOutput(runs["warm"]["graph"]).transform_features_layer()(raw)
        assert set(cold_out) == set(warm_out)
        for name in sorted(cold_out):
            expected, actual = cold_out[name].numpy(), warm_out[name].numpy()
            if expected.dtype.kind == "f":
                # z-scores: the same per-span moments merged in the same order.
                np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6, err_msg=name)
            else:
                np.testing.assert_array_equal(actual, expected, err_msg=name)
