"""Same inputs and seed, same outputs: ingest, transform and train run twice on the tiny sample.

What "same" means per output (measured on tests/fixtures/shop-tiny):
- ingest: every file byte-identical (Parquet also compared by content), across two output
  directories, across batch sizes, and on a rerun into the same directory (a rerun is a no-op).
- transform: raw feature Parquet and vocabulary files byte-identical; TFRecords identical record
  by record as parsed tf.Examples (their canonical serialization), not as raw bytes: tfx_bsl's
  ``RecordBatchToExamplesEncoder`` writes an Example's feature map in hash-table order, which
  differs even between two encodings of one batch in one process; the transform graph has the
  same functions and nodes, but ``saved_model.pb`` is not byte-stable (node order varies, and
  the random ``tempfile`` directory TFT analyzes in is baked into hash-table names).
- train: the same seed gives the same weights (sha256 of every variable) and the same history
  within ``METRIC_RTOL``; another seed gives other weights, so the comparison can fail.
  (tests/e2e/test_train_tiny.py proves chief and worker of one 2-worker run agree; this is two
  separate runs.)
"""

from __future__ import annotations

import glob
import gzip
import json
import math
import pathlib
import re
import struct
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from components.ingest import job, layout
from components.ingest.config import IngestConfig, parse_timestamp
from components.registry.digest import model_digest
from tests.tiny_shop import NOW as TINY_NOW
from tests.tiny_shop import REPO, TINY

NOW = parse_timestamp(TINY_NOW)
# Same seed, same machine: measured identical; the tolerance allows for a thread-count change.
METRIC_RTOL = 1e-6
TIMING_KEYS = {"seconds", "feature_seconds"}
TRAIN_FLAGS = ("--epochs", "1", "--batch-size", "64", "--modalities", "none")
TEMP_DIR = re.compile(rb"/tft-[A-Za-z0-9_]+/")


def files(root: pathlib.Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def differing(a: pathlib.Path, b: pathlib.Path) -> dict[str, str]:
    """Files that differ between two output trees, with how (empty: byte-identical trees)."""
    fa, fb = files(a), files(b)
    out = {rel: "missing" for rel in set(fa) ^ set(fb)}
    for rel in set(fa) & set(fb):
        if fa[rel] == fb[rel]:
            continue
        how = "bytes"
        if rel.endswith(".parquet"):
            ta, tb = pq.read_table(a / rel), pq.read_table(b / rel)
            how = "bytes" if ta.equals(tb, check_metadata=True) else "content"
        out[rel] = how
    return out


def ingest(out: pathlib.Path, **options) -> dict:
    return job.run(str(TINY), str(out), IngestConfig(now=NOW, progress=False, **options))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> pathlib.Path:
    """Ingest run twice, into ``a`` and ``b``."""
    root = tmp_path_factory.mktemp("ingest")
    for name in ("a", "b"):
        ingest(root / name)
    return root


def test_ingest_twice_gives_byte_identical_outputs(ingested) -> None:
    first, second = (json.loads((ingested / n / layout.MANIFEST).read_text()) for n in "ab")
    assert first == second
    assert sum(t["read"] for t in first["tables"].values()) > 4_000  # not an empty comparison
    assert differing(ingested / "a", ingested / "b") == {}


def test_ingest_batch_size_does_not_change_the_content(ingested) -> None:
    """Batches are validated in parallel and deduplicated across: the split must not matter."""
    ingest(ingested / "small-batches", batch_rows=97)
    changed = differing(ingested / "a", ingested / "small-batches")
    assert {rel: how for rel, how in changed.items() if how != "bytes"} == {}


def test_ingest_rerun_into_the_same_directory_changes_nothing(ingested) -> None:
    out = ingested / "rerun"
    ingest(out)
    before = files(out)
    ingest(out)
    assert files(out) == before
    assert not (out / "_staging").exists()


# --- transform ---------------------------------------------------------------------------------


def stage(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=REPO, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory) -> tuple[pathlib.Path, pathlib.Path]:
    work = tmp_path_factory.mktemp("transform")
    data = work / "data"
    ingest(data)
    runs = []
    for name in ("one", "two"):
        out = work / name
        stage("components.transform", "--data", str(data), "--examples", str(out / "examples"),
              "--transform-graph", str(out / "graph"))  # fmt: skip
        runs.append(work / name)
    return runs[0], runs[1]


def tfrecords(path: pathlib.Path) -> list[bytes]:
    """The records of a gzipped TFRecord file (length, crc, data, crc framing)."""
    data = gzip.decompress(path.read_bytes())
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        out.append(data[i + 12 : i + 12 + n])
        i += 12 + n + 4
    return out


def canonical(records: list[bytes]) -> list[bytes]:
    import tensorflow as tf

    return [tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in records]


@pytest.mark.slow
def test_transform_twice_gives_the_same_features_vocabularies_and_examples(transformed) -> None:
    one, two = transformed
    changed = differing(one, two)
    stable = [
        rel
        for rel in files(one)
        if rel.endswith(".parquet") or "/assets/" in rel or "transformed_metadata/" in rel
    ]
    assert any("/assets/" in rel for rel in stable) and any("raw/" in rel for rel in stable)
    assert {rel: changed[rel] for rel in stable if rel in changed} == {}
    shards = sorted(glob.glob(str(one / "examples" / "*" / "*.tfrecord.gz")))
    assert len(shards) >= 2
    for shard in shards:
        rel = pathlib.Path(shard).relative_to(one)
        a, b = tfrecords(one / rel), tfrecords(two / rel)
        assert len(a) == len(b) > 0, rel
        assert canonical(a) == canonical(b), rel
    manifests = [json.loads((run / "examples" / "manifest.json").read_text()) for run in (one, two)]
    assert [{k: v for k, v in m.items() if k not in TIMING_KEYS} for m in manifests] == [
        {k: v for k, v in manifests[0].items() if k not in TIMING_KEYS}
    ] * 2


@pytest.mark.slow
def test_transform_graph_has_the_same_functions_and_nodes(transformed) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    def nodes(run: pathlib.Path) -> dict[str, list[bytes]]:
        model = saved_model_pb2.SavedModel()
        model.ParseFromString((run / "graph" / "transform_fn" / "saved_model.pb").read_bytes())
        graph = model.meta_graphs[0].graph_def
        out = {"": sorted(TEMP_DIR.sub(b"/tft-X/", str(n).encode()) for n in graph.node)}
        for f in graph.library.function:
            out[f.signature.name] = sorted(
                TEMP_DIR.sub(b"/tft-X/", str(n).encode()) for n in f.node_def
            )
        return out

    one, two = transformed
    a, b = nodes(one), nodes(two)
    assert len(a) > 10 and len(a[""]) > 10
    assert a == b


# --- train -------------------------------------------------------------------------------------


def train(transformed_run: pathlib.Path, model: pathlib.Path, seed: int) -> tuple[dict, dict]:
    stage("components.train", "--examples", str(transformed_run / "examples"),
          "--transform-graph", str(transformed_run / "graph"), "--model", str(model),
          "--seed", str(seed), *TRAIN_FLAGS)  # fmt: skip
    manifest = json.loads((model / "manifest.json").read_text())
    history = json.loads((model / "history.json").read_text())
    return manifest, history


@pytest.mark.slow
def test_train_same_seed_same_weights_and_metrics(transformed, tmp_path) -> None:
    run = transformed[0]
    (m1, h1), (m2, h2) = train(run, tmp_path / "a", 7), train(run, tmp_path / "b", 7)
    m3, _ = train(run, tmp_path / "c", 8)
    assert m3["weights_sha256"] != m1["weights_sha256"]  # the digest does see a change
    assert set(h1) == set(h2) and h1
    for name, values in h1.items():
        assert len(values) == len(h2[name])
        for x, y in zip(values, h2[name], strict=True):
            if isinstance(x, dict):  # the validation curve: one dict of numbers per epoch
                assert set(x) == set(y), (name, x, y)
                pairs = [(x[k], y[k]) for k in x if isinstance(x[k], int | float)]
            else:
                pairs = [(x, y)]
            for a, b in pairs:
                assert math.isclose(a, b, rel_tol=METRIC_RTOL, abs_tol=1e-9), (name, a, b)
    # Stronger than the tolerance, and true on this machine: the very same weights.
    assert m1["weights_sha256"] == m2["weights_sha256"]
    # So the same model: the registry digest agrees (an unchanged night is not a new version)
    # although saved_model.pb, the fingerprint's UUID, the logs and the timings differ.
    a, b, c = (model_digest(str(tmp_path / n)) for n in "abc")
    assert a == b != c


def test_files_digest_helper_notices_a_change(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pq.write_table(
        pq.read_table(TINY / "users" / "part-00000.parquet"), tmp_path / "a" / "u.parquet"
    )
    table = pq.read_table(TINY / "users" / "part-00000.parquet")
    pq.write_table(table.slice(1), tmp_path / "b" / "u.parquet")
    assert differing(tmp_path / "a", tmp_path / "b") == {"u.parquet": "content"}
