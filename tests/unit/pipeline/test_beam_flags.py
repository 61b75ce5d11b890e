"""Runner flags for Dataflow, Flink and Spark reach the Beam step from the `beam_args` parameter.

The compiled wiring (run parameter -> every step with a `beam_args` input) is checked in
test_compile.py. Here: the transform step, run for real under kfp.local, hands the run parameter
to Beam unchanged (its manifest records what it passed to ``beam.pipeline_options``); and each
runner's flags, as that step splits them, become the PipelineOptions the runner reads. No cloud
job is launched: the real run uses DirectRunner with Dataflow's project/region/temp flags.
"""

# No `from __future__ import annotations`: kfp reads the pipeline function's annotations as types.
import json
import shlex

import pytest
from apache_beam.options.pipeline_options import (
    DebugOptions,
    DirectOptions,
    FlinkRunnerOptions,
    GoogleCloudOptions,
    PortableOptions,
    SparkRunnerOptions,
    StandardOptions,
    WorkerOptions,
)
from kfp import dsl, local

from components.containers import Images
from components.ingest import component as ingest_component
from components.transform import component as transform_component
from components.transform import outputs
from components.transform.beam import pipeline_options
from components.transform.config import TransformConfig
from tests.tiny_shop import NOW, TINY

IMAGE = Images().cpu


def options_from_run_parameter(beam_args: str):
    """The path the transform step takes: shell-split string -> TransformConfig -> options."""
    config = TransformConfig(beam_args=tuple(shlex.split(beam_args)))
    return pipeline_options(config.beam_args)


def test_dataflow_flags():
    options = options_from_run_parameter(
        "--runner=DataflowRunner --project=shop-prod --region=europe-west4 "
        "--temp_location=gs://shop-beam/tmp --staging_location=gs://shop-beam/staging "
        f"--sdk_container_image={IMAGE} --experiments=use_runner_v2 "
        "--max_num_workers=20 --machine_type=n2-standard-8 --labels=team=recsys"
    )
    cloud, workers = options.view_as(GoogleCloudOptions), options.view_as(WorkerOptions)
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert (cloud.project, cloud.region) == ("shop-prod", "europe-west4")
    assert (cloud.temp_location, cloud.staging_location) == (
        "gs://shop-beam/tmp",
        "gs://shop-beam/staging",
    )
    assert cloud.labels == ["team=recsys"]
    assert (workers.sdk_container_image, workers.max_num_workers) == (IMAGE, 20)
    assert workers.machine_type == "n2-standard-8"
    assert options.view_as(DebugOptions).experiments == ["use_runner_v2"]


def test_flink_flags():
    options = options_from_run_parameter(
        "--runner=FlinkRunner --flink_master=flink-jobmanager:8081 --parallelism=8 "
        f"--environment_type=DOCKER --environment_config={IMAGE}"
    )
    flink, portable = options.view_as(FlinkRunnerOptions), options.view_as(PortableOptions)
    assert options.view_as(StandardOptions).runner == "FlinkRunner"
    assert (flink.flink_master, flink.parallelism) == ("flink-jobmanager:8081", 8)
    assert (portable.environment_type, portable.environment_config) == ("DOCKER", IMAGE)


def test_spark_flags():
    options = options_from_run_parameter(
        "--runner=SparkRunner --spark_master_url=spark://spark-master:7077 "
        f"--environment_type=DOCKER --environment_config={IMAGE}"
    )
    assert options.view_as(StandardOptions).runner == "SparkRunner"
    assert options.view_as(SparkRunnerOptions).spark_master_url == "spark://spark-master:7077"
    assert options.view_as(PortableOptions).environment_config == IMAGE


def test_no_flags_means_direct_runner_in_memory():
    options = options_from_run_parameter("")
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert options.view_as(DirectOptions).direct_running_mode == "in_memory"


def test_quoted_values_survive_the_split():
    options = options_from_run_parameter(
        "--runner=DataflowRunner --job_name='shoprec nightly' --labels \"owner=rec sys\""
    )
    assert options.view_as(GoogleCloudOptions).job_name == "shoprec nightly"
    assert options.view_as(GoogleCloudOptions).labels == ["owner=rec sys"]


@pytest.mark.slow
def test_the_transform_step_passes_the_run_parameter_to_beam_unchanged(tmp_path):
    beam_args = (
        "--runner=DirectRunner --project=shop-test --region=europe-west4 "
        f"--temp_location={tmp_path}/beam-tmp --job_name=shoprec-flags --direct_num_workers=1"
    )
    ingest_op = ingest_component.build(IMAGE)
    transform_op = transform_component.build(IMAGE)

    @dsl.pipeline(name="beam-flags")
    def ingest_and_transform(raw_uri: str, beam_args: str):
        ingested = ingest_op(raw_uri=raw_uri, train_end="", eval_end="", now=NOW)
        transform_op(data=ingested.outputs["data"], beam_args=beam_args)

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path))
    ingest_and_transform(raw_uri=str(TINY), beam_args=beam_args)

    (manifest_path,) = tmp_path.glob(f"beam-flags-*/transform/examples/{outputs.MANIFEST}")
    passed = json.loads(manifest_path.read_text())["beam_args"]
    assert passed == shlex.split(beam_args)
    options = pipeline_options(passed)
    cloud = options.view_as(GoogleCloudOptions)
    assert options.view_as(StandardOptions).runner == "DirectRunner"
    assert (cloud.project, cloud.region, cloud.job_name) == (
        "shop-test",
        "europe-west4",
        "shoprec-flags",
    )
    assert cloud.temp_location == f"{tmp_path}/beam-tmp"
    assert options.view_as(DirectOptions).direct_num_workers == 1
