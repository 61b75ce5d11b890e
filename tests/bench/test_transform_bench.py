"""Transform wall time and peak RSS on generated events (100k; 1M with BENCH_BIG=1).

Measured in one run on the same ingested data:
- the project's transform (the CLI in a subprocess, so its peak RSS is its own), split into the
  sharded Beam feature build (``feature_seconds`` of its manifest) and the rest (the TFT run);
- a bare TFT run over the same raw example rows (train examples + catalog) with the same
  preprocessing_fn, analyze only: the overhead of our pipeline around TFT's analyzers;
- a bare TFT run producing the same outputs as the stage's TFT part (analyze, transform train and
  eval, encode and write gzipped TFRecords, write the graph): the overhead for the same work;
- the pyarrow reference: the same non-TFT aggregations by the pure in-process build (every table
  in one process: ``job.build_features_in_process``), timed in this process, reads and writes
  included, as the Beam build;
- the analyzer cache (smallest size only): a cold cached run, then a warm "next night" whose cache
  lacks the newest span (and the catalog, new every night), against the uncached run;
- growth from the smallest to each larger size (ratios of times and of events).
Figures go to bench-results/ via ``bench_record``; nothing here asserts on time.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from components.sources.generate import generate_shop
from tests.tiny_shop import NOW, REPO

SPAN_DAYS = 30  # cached spans: 1-day spans (120 here) make a Beam graph too big for 2 cores
SIZES = [100_000] + ([1_000_000] if os.environ.get("BENCH_BIG") == "1" else [])
MEASURED: dict[int, dict] = {}  # results per size, for the growth figures of the larger sizes


def pyarrow_reference(data: str, out_dir: str) -> float:
    """Seconds of the in-process pure feature build (reads, aggregations, Parquet writes)."""
    from components.transform.config import TransformConfig
    from components.transform.job import build_features_in_process, cutoffs

    start = time.perf_counter()
    build_features_in_process(data, out_dir, starts=cutoffs(data), config=TransformConfig())
    return time.perf_counter() - start


def bare_tft_analyze(pattern: str, out_dir: str) -> float:
    """Seconds of TFT alone: read the Parquet rows, run the analyzers, write the graph."""
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tfx_bsl.tfxio.parquet_tfxio import ParquetTFXIO

    from components.transform.beam import pipeline_options
    from components.transform.config import TransformConfig
    from components.transform.preprocessing import make_preprocessing_fn
    from schemas import features as fs

    spec = fs.example_feature_spec()
    tfxio = ParquetTFXIO(
        file_pattern=pattern,
        column_names=list(spec),
        schema=tft.DatasetMetadata.from_feature_spec(spec).schema,
        telemetry_descriptors=["bench"],
    )
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as temp_dir,
        beam.Pipeline(options=pipeline_options(())) as pipeline,
        tft_beam.Context(temp_dir=temp_dir),
    ):
        transform_fn = (
            pipeline | tfxio.BeamSource(),
            tfxio.TensorAdapterConfig(),
        ) | tft_beam.AnalyzeDataset(make_preprocessing_fn(TransformConfig()))
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
    return time.perf_counter() - start


def bare_tft_full(train_pattern: str, eval_pattern: str, out_dir: str) -> float:
    """Seconds of TFT alone producing what the stage's TFT part produces: analyze the train rows,
    transform train and eval, encode tf.Examples and write gzipped TFRecords, write the graph.

    No catalog filtering and all transformed columns written: TFT's own cost for the same outputs.
    """
    import apache_beam as beam
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder
    from tfx_bsl.tfxio.parquet_tfxio import ParquetTFXIO

    from components.transform.beam import pipeline_options
    from components.transform.config import TransformConfig
    from components.transform.preprocessing import make_preprocessing_fn
    from schemas import features as fs

    spec = fs.example_feature_spec()
    schema = tft.DatasetMetadata.from_feature_spec(spec).schema

    def source(pattern: str) -> ParquetTFXIO:
        return ParquetTFXIO(
            file_pattern=pattern, column_names=list(spec), schema=schema,
            telemetry_descriptors=["bench"],
        )  # fmt: skip

    def write(batches, label: str) -> None:
        _ = (
            batches
            | f"Encode{label}"
            >> beam.FlatMap(lambda b: RecordBatchToExamplesEncoder().encode(b[0]))
            | f"Write{label}"
            >> beam.io.WriteToTFRecord(
                os.path.join(out_dir, label, "part"), file_name_suffix=".tfrecord.gz"
            )
        )

    train, evaluation = source(train_pattern), source(eval_pattern)
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as temp_dir,
        beam.Pipeline(options=pipeline_options(())) as pipeline,
        tft_beam.Context(temp_dir=temp_dir),
    ):
        (batches, _), transform_fn = (
            pipeline | "ReadTrain" >> train.BeamSource(),
            train.TensorAdapterConfig(),
        ) | tft_beam.AnalyzeAndTransformDataset(
            make_preprocessing_fn(TransformConfig()), output_record_batches=True
        )
        write(batches, "train")
        eval_batches, _ = (
            (pipeline | "ReadEval" >> evaluation.BeamSource(), evaluation.TensorAdapterConfig()),
            transform_fn,
        ) | tft_beam.TransformDataset(output_record_batches=True)
        write(eval_batches, "eval")
        _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(out_dir, "graph"))
    return time.perf_counter() - start


@pytest.mark.parametrize("events", SIZES, ids=lambda n: f"{n // 1_000}k")
def test_transform(events: int, tmp_path: pathlib.Path, bench_record, run_measured) -> None:
    raw, data, ex, tg = (str(tmp_path / n) for n in ("raw", "data", "ex", "tg"))
    generate_shop(
        raw, users=max(events // 50, 1_000), items=max(events // 200, 500), events=events, seed=7
    )
    ingest = ["components.ingest", "--input", raw, "--out", data, "--now", NOW, "--quiet"]
    subprocess.run([sys.executable, "-m", *ingest], cwd=REPO, check=True, capture_output=True)

    transform = ["components.transform", "--data", data, "--examples", ex]
    measured = run_measured([sys.executable, "-m", *transform, "--transform-graph", tg])
    manifest = json.loads(pathlib.Path(ex, "manifest.json").read_text())
    bare_s = bare_tft_analyze(os.path.join(ex, "raw", "train", "*"), str(tmp_path / "tg-bare"))
    bare_full_s = bare_tft_full(
        os.path.join(ex, "raw", "train", "*"),
        os.path.join(ex, "raw", "eval", "*"),
        str(tmp_path / "bare-full"),
    )

    reference_s = pyarrow_reference(data, str(tmp_path / "ex-reference"))

    cached = {}
    for night in ("cold", "warm") if events == SIZES[0] else ():
        cache = tmp_path / f"cache-{night}"
        if night == "warm":
            spans = [s for s in cached["cold"]["spans"] if not s.startswith("catalog")]
            for span in sorted(spans)[:-1]:
                shutil.copytree(tmp_path / "cache-cold" / span, cache / span)
        out = str(tmp_path / f"ex-{night}")
        args = ["--data", data, "--examples", out, "--transform-graph", str(tmp_path / night)]
        args += ["--cache-dir", str(cache), "--span-days", str(SPAN_DAYS)]
        night_run = run_measured([sys.executable, "-m", "components.transform", *args])
        cached[night] = {
            **json.loads(pathlib.Path(out, "manifest.json").read_text()),
            "wall_s": night_run["wall_s"],
        }

    features_s = manifest["feature_seconds"]
    tft_part_s = manifest["seconds"] - features_s
    results = {
        "events": events,
        "example_rows": manifest["rows"],
        "catalog_items": manifest["catalog_items"],
        "wall_s": round(measured["wall_s"], 2),
        "stage_s": manifest["seconds"],
        "features_beam_s": features_s,
        "tft_beam_part_s": round(tft_part_s, 2),
        "bare_tft_analyze_s": round(bare_s, 2),
        "overhead_stage_vs_bare_tft": round(manifest["seconds"] / bare_s, 2),
        "tft_part_vs_bare_tft": round(tft_part_s / bare_s, 2),
        "bare_tft_full_s": round(bare_full_s, 2),
        "overhead_stage_vs_bare_tft_full": round(manifest["seconds"] / bare_full_s, 2),
        "tft_part_vs_bare_tft_full": round(tft_part_s / bare_full_s, 2),
        "tft_part_vs_features": round(tft_part_s / max(features_s, 1e-3), 1),
        "peak_rss_mib": round(measured["peak_rss_bytes"] / 2**20, 1),
        "pyarrow_reference_s": round(reference_s, 2),
        "stage_vs_pyarrow_reference": round(manifest["seconds"] / reference_s, 2),
        "features_beam_vs_pyarrow_reference": round(features_s / reference_s, 2),
        "shards": manifest["shards"],
    }
    if cached:
        results |= {
            "cached_spans": len(cached["cold"]["spans"]),
            "cached_cold_stage_s": cached["cold"]["seconds"],
            "cached_warm_stage_s": cached["warm"]["seconds"],
            "warm_analyzed_spans": len(cached["warm"]["analyzed_spans"]),
            "warm_vs_cold_cached": round(cached["warm"]["seconds"] / cached["cold"]["seconds"], 2),
            "warm_vs_uncached": round(cached["warm"]["seconds"] / manifest["seconds"], 2),
        }
    smallest = MEASURED.get(SIZES[0])
    if smallest is not None and events != SIZES[0]:
        results["growth_vs_smallest"] = {
            name: round(results[name] / smallest[name], 2)
            for name in (
                "events", "stage_s", "features_beam_s", "tft_beam_part_s",
                "bare_tft_analyze_s", "bare_tft_full_s", "pyarrow_reference_s", "peak_rss_mib",
            )
        }  # fmt: skip
    MEASURED[events] = results
    bench_record(f"transform_{events // 1_000}k_events", results)
