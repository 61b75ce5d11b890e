"""The Beam pipeline that runs tensorflow-transform over Parquet feature rows.

Data enters Beam from files through tfx_bsl's Parquet TFXIO (never beam.Create: measured to grow
superlinearly); the runner and its options are plain Beam flags, so DirectRunner, Dataflow, Flink
and Spark need no code change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_transform.beam import analysis_graph_builder, analyzer_cache
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder
from tfx_bsl.tfxio.parquet_tfxio import ParquetTFXIO
from tfx_bsl.tfxio.tensor_adapter import TensorAdapter, TensorAdapterConfig

TELEMETRY = ["shoprec", "transform"]


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """PipelineOptions from pass-through flags; DirectRunner in-memory when none is given.

    On 2 cores the DirectRunner's multi_processing mode was measured slower than in_memory.
    """
    args = list(beam_args)
    if not any(a.startswith("--runner") for a in args):
        args.append("--runner=DirectRunner")
    if not any(a.startswith("--direct_running_mode") for a in args):
        args.append("--direct_running_mode=in_memory")
    return PipelineOptions(args)


def analyze_and_transform(
    *,
    analyze_pattern: str,
    eval_pattern: str | None,
    feature_spec: dict,
    preprocessing_fn: Callable[[dict], dict],
    is_catalog_row: Callable[[pa.RecordBatch], pa.Array],
    example_outputs: Collection[str],
    transform_dir: str,
    examples_dir: str,
    temp_dir: str,
    beam_args: Sequence[str] = (),
    spans: Mapping[str, str] | None = None,
    cache_dir: str | None = None,
) -> list[str]:
    """Analyze train examples + catalog rows; write transformed examples (train, eval) + graph.

    Args:
        analyze_pattern: Glob of the train-window example and catalog Parquet files: analyzers
            see only these.
        eval_pattern: Glob of eval-window example Parquet files, or None.
        feature_spec: Raw TFT feature spec of the rows.
        preprocessing_fn: The TFT preprocessing function.
        is_catalog_row: ``[rows]`` bool mask of catalog rows in a transformed record batch
            (catalog rows only feed the analyzers; the trainer transforms the small catalog).
        example_outputs: Transformed features written for examples.
        transform_dir: Where the transform graph goes (a TFTransformOutput directory).
        examples_dir: Where ``train/`` and ``eval/`` gzipped TFRecords of tf.Examples go.
        temp_dir: Scratch space for TFT.
        beam_args: Beam flags (runner and its options).
        spans: With ``cache_dir``: the same rows as ``analyze_pattern`` split into spans,
            span name -> file glob. A span's name is its cache key: its rows must never change
            under that name (a day's examples only depend on events before them).
        cache_dir: Analyzer cache directory, or None to analyze ``analyze_pattern`` uncached.
            Spans found there are not read for analysis; new spans' results are added.

    Returns:
        The names of the spans whose rows were analyzed (empty without ``cache_dir``).
    """
    schema = tft.DatasetMetadata.from_feature_spec(feature_spec).schema
    columns = list(feature_spec)

    def source(pattern: str) -> ParquetTFXIO:
        return ParquetTFXIO(
            file_pattern=pattern,
            column_names=columns,
            schema=schema,
            telemetry_descriptors=TELEMETRY,
        )

    def read(pipeline: beam.Pipeline, label: str, pattern: str):
        tfxio = source(pattern)
        return pipeline | f"Read{label}" >> tfxio.BeamSource(), tfxio.TensorAdapterConfig()

    analyzed: list[str] = []
    with (
        beam.Pipeline(options=pipeline_options(beam_args)) as pipeline,
        tft_beam.Context(temp_dir=temp_dir),
    ):
        if cache_dir is None:
            # Analyze and transform read the files separately (not AnalyzeAndTransformDataset
            # over one read): a PCollection consumed by two stages is held whole between them,
            # which on DirectRunner kept every raw row in memory (1M events: peak RSS 3.64 GiB).
            transform_fn = read(pipeline, "Analyze", analyze_pattern) | "Analyze" >> (
                tft_beam.AnalyzeDataset(preprocessing_fn)
            )
            batches, _ = (
                read(pipeline, "Train", analyze_pattern),
                transform_fn,
            ) | "TransformTrain" >> tft_beam.TransformDataset(output_record_batches=True)
        else:
            if not spans:
                raise ValueError(f"cache_dir {cache_dir!r} given without spans to analyze")
            transform_fn, analyzed = _analyze_spans(
                pipeline,
                read,
                source(analyze_pattern).TensorAdapterConfig(),
                spans,
                preprocessing_fn,
                cache_dir,
            )
            batches, _ = (
                read(pipeline, "Train", analyze_pattern),
                transform_fn,
            ) | "TransformTrain" >> tft_beam.TransformDataset(output_record_batches=True)
        examples = batches | "DropCatalog" >> beam.Map(
            lambda batch: batch[0].filter(pc.invert(is_catalog_row(batch[0])))
        )
        _write(examples, example_outputs, os.path.join(examples_dir, "train"), "Train")
        if eval_pattern is not None:
            eval_batches, _ = (
                read(pipeline, "Eval", eval_pattern),
                transform_fn,
            ) | "TransformEval" >> tft_beam.TransformDataset(output_record_batches=True)
            _write(
                eval_batches | "EvalBatches" >> beam.Map(lambda batch: batch[0]),
                example_outputs,
                os.path.join(examples_dir, "eval"),
                "Eval",
            )
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_dir)
    return analyzed


def _analyze_spans(
    pipeline: beam.Pipeline,
    read: Callable[[beam.Pipeline, str, str], tuple],
    adapter_config: TensorAdapterConfig,
    spans: Mapping[str, str],
    preprocessing_fn: Callable[[dict], dict],
    cache_dir: str,
) -> tuple[beam.pvalue.PCollection, list[str]]:
    """Analyze ``spans`` with TFT's analyzer cache; ``(transform_fn, names of spans read)``.

    Only spans whose cached results are missing (or stale: another preprocessing_fn) are read,
    and only spans that were not in the cache are written to it: rewriting a span that came
    from the cache would duplicate its entries (STACK-NOTES).
    """
    keys = {name: analyzer_cache.DatasetKey(name) for name in sorted(spans)}
    input_cache = pipeline | "ReadAnalyzerCache" >> analyzer_cache.ReadAnalysisCacheFromFS(
        cache_dir, list(keys.values())
    )
    # Which spans the cache cannot answer for is known from the traced graph, before any read.
    needed = analysis_graph_builder.get_analysis_dataset_keys(
        preprocessing_fn,
        TensorAdapter(adapter_config).OriginalTypeSpecs(),
        list(keys.values()),
        input_cache,
        force_tf_compat_v1=False,
    )
    data = {
        key: read(pipeline, f"Span[{name}]", spans[name])[0] if key in needed else None
        for name, key in keys.items()
    }
    transform_fn, output_cache = (
        data,
        input_cache,
        adapter_config,
    ) | "AnalyzeWithCache" >> tft_beam.AnalyzeDatasetWithCache(preprocessing_fn, pipeline)
    new = {key: cache for key, cache in output_cache.items() if key not in input_cache}
    if new:
        _ = new | "WriteAnalyzerCache" >> analyzer_cache.WriteAnalysisCacheToFS(
            pipeline, cache_dir, list(keys.values())
        )
    return transform_fn, [name for name, key in keys.items() if data[key] is not None]


def _write(batches, keep: Collection[str], out_dir: str, label: str) -> None:
    """Encode Arrow record batches to tf.Examples in C++ (tfx_bsl), keeping ``keep`` columns."""
    tf.io.gfile.makedirs(out_dir)
    columns = sorted(keep)
    _ = (
        batches
        | f"Encode{label}"
        >> beam.FlatMap(lambda batch: RecordBatchToExamplesEncoder().encode(batch.select(columns)))
        | f"Write{label}"
        >> beam.io.WriteToTFRecord(os.path.join(out_dir, "part"), file_name_suffix=".tfrecord.gz")
    )
