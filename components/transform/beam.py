"""The Beam pipeline that runs tensorflow-transform over Parquet examples.

Data enters Beam from files through tfx_bsl's Parquet TFXIO (never beam.Create: measured to grow
superlinearly); the runner and its options are plain Beam flags, so DirectRunner, Dataflow, Flink
and Spark need no code change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import apache_beam as beam
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from apache_beam.options.pipeline_options import PipelineOptions
from tfx_bsl.tfxio.parquet_tfxio import ParquetTFXIO

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
    train_pattern: str,
    eval_pattern: str | None,
    feature_spec: dict,
    preprocessing_fn: Callable[[dict], dict],
    transform_dir: str,
    examples_dir: str,
    temp_dir: str,
    beam_args: Sequence[str] = (),
) -> None:
    """Analyze the train examples, transform train (and eval), write TFRecords and the graph.

    Args:
        train_pattern: Glob of train-window example Parquet files (analyzers see only these).
        eval_pattern: Glob of eval-window example Parquet files, or None.
        feature_spec: Raw TFT feature spec of the examples.
        preprocessing_fn: The TFT preprocessing function.
        transform_dir: Where the transform graph goes (a TFTransformOutput directory).
        examples_dir: Where ``train/`` and ``eval/`` gzipped TFRecords of tf.Examples go.
        temp_dir: Scratch space for TFT.
        beam_args: Beam flags (runner and its options).
    """
    schema = tft.DatasetMetadata.from_feature_spec(feature_spec).schema
    columns = list(feature_spec)

    def read(pipeline: beam.Pipeline, label: str, pattern: str):
        tfxio = ParquetTFXIO(
            file_pattern=pattern,
            column_names=columns,
            schema=schema,
            telemetry_descriptors=TELEMETRY,
        )
        return pipeline | f"Read{label}" >> tfxio.BeamSource(), tfxio.TensorAdapterConfig()

    with (
        beam.Pipeline(options=pipeline_options(beam_args)) as pipeline,
        tft_beam.Context(temp_dir=temp_dir),
    ):
        train = read(pipeline, "Train", train_pattern)
        (train_data, train_metadata), transform_fn = (
            train
            | "AnalyzeAndTransform"
            >> tft_beam.AnalyzeAndTransformDataset(preprocessing_fn, output_record_batches=False)
        )
        _write_examples(train_data, train_metadata, os.path.join(examples_dir, "train"), "Train")
        if eval_pattern is not None:
            eval_data, eval_metadata = (
                read(pipeline, "Eval", eval_pattern),
                transform_fn,
            ) | "TransformEval" >> tft_beam.TransformDataset(output_record_batches=False)
            _write_examples(eval_data, eval_metadata, os.path.join(examples_dir, "eval"), "Eval")
        _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_dir)


def _write_examples(data, metadata, prefix_dir: str, label: str) -> None:
    tf.io.gfile.makedirs(prefix_dir)
    coder = tft.coders.ExampleProtoCoder(metadata.schema)
    _ = (
        data
        | f"Encode{label}" >> beam.Map(coder.encode)
        | f"Write{label}"
        >> beam.io.WriteToTFRecord(
            os.path.join(prefix_dir, "part"), file_name_suffix=".tfrecord.gz"
        )
    )
