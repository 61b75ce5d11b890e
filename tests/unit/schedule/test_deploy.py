"""The schedule helper against a KFP REST host on loopback, through a real kfp.Client."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import kfp
import pytest

import pipeline
from components.containers import Images
from components.schedule.config import ScheduleConfig, ScheduleConfigError
from components.schedule.deploy import deploy_schedule
from tests.tiny_shop import REPO
from tests.unit.schedule.kfp_host import API, serve_kfp_host

PARAMS = {
    "raw_uri": "gs://shop-raw/nightly",
    "model_root": "gs://shop-models",
    "epochs": "5",
    "beat_peers": "false",
    "gpu_node_selector": '{"cloud.google.com/gke-accelerator": "nvidia-l4"}',
}
TYPED = {
    "raw_uri": "gs://shop-raw/nightly",
    "model_root": "gs://shop-models",
    "epochs": 5,
    "beat_peers": False,
    "gpu_node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
}


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    return pipeline.compile_pipeline(str(tmp_path_factory.mktemp("pkg") / "pipeline.yaml"))


@pytest.fixture
def host():
    with serve_kfp_host() as served:
        yield served


def connect(url: str) -> kfp.Client:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return kfp.Client(host=url)


def nightly(**changes) -> ScheduleConfig:
    return ScheduleConfig(**{"parameters": PARAMS, "pipeline_root": "gs://shop-runs", **changes})


def test_first_call_uploads_once_and_creates_one_recurring_run(host, package):
    url, state = host
    result = deploy_schedule(connect(url), package_path=package, config=nightly())
    assert len(state.calls("POST", f"{API}/pipelines/upload")) == 1
    assert state.calls("POST", f"{API}/pipelines/upload_version") == []
    (created,) = state.calls("POST", f"{API}/recurringruns")
    body = created.body
    assert body["display_name"] == "shoprec-nightly"
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 2 * * *"}}
    assert body["runtime_config"] == {"parameters": TYPED, "pipeline_root": "gs://shop-runs"}
    assert body["pipeline_version_reference"] == {
        "pipeline_id": result.pipeline_id,
        "pipeline_version_id": result.version_id,
    }
    assert (body["mode"], body["max_concurrency"], body["no_catchup"]) == ("ENABLE", 1, True)
    assert list(state.recurring_runs) == [result.recurring_run_id]
    assert result.uploaded and result.created and result.deleted == ()
    unanswered = [r for r in state.requests if not r.path.startswith(API)]
    assert unanswered == []


def test_second_call_with_the_same_inputs_changes_nothing(host, package):
    url, state = host
    first = deploy_schedule(connect(url), package_path=package, config=nightly())
    before = len(state.requests)
    second = deploy_schedule(connect(url), package_path=package, config=nightly())
    writes = [r for r in state.requests[before:] if r.method != "GET"]
    assert writes == []
    assert (second.recurring_run_id, second.version_id) == (
        first.recurring_run_id,
        first.version_id,
    )
    assert not second.uploaded and not second.created
    assert len(state.recurring_runs) == 1 and len(state.versions) == 1


def test_a_changed_cron_replaces_the_run_instead_of_adding_one(host, package):
    url, state = host
    first = deploy_schedule(connect(url), package_path=package, config=nightly())
    second = deploy_schedule(
        connect(url), package_path=package, config=nightly(cron="0 30 3 * * *")
    )
    assert second.created and second.deleted == (first.recurring_run_id,)
    assert [r.path for r in state.calls("DELETE", f"{API}/recurringruns/{first.recurring_run_id}")]
    (only,) = state.recurring_runs.values()
    assert only["trigger"]["cron_schedule"]["cron"] == "0 30 3 * * *"
    assert len(state.calls("POST", f"{API}/pipelines/upload")) == 1


def test_a_recompiled_pipeline_becomes_a_new_version_the_run_points_at(host, package, tmp_path):
    url, state = host
    deploy_schedule(connect(url), package_path=package, config=nightly())
    retagged = pipeline.compile_pipeline(
        str(tmp_path / "v2.yaml"), Images.for_registry("registry.example/recsys", "v2")
    )
    second = deploy_schedule(connect(url), package_path=retagged, config=nightly())
    (upload,) = state.calls("POST", f"{API}/pipelines/upload_version")
    assert upload.query["pipelineid"] == second.pipeline_id
    (only,) = state.recurring_runs.values()
    assert only["pipeline_version_reference"]["pipeline_version_id"] == second.version_id
    assert len(state.versions) == 2
    # And back to the first YAML: its version is found again, nothing is uploaded.
    third = deploy_schedule(connect(url), package_path=package, config=nightly())
    assert not third.uploaded and len(state.versions) == 2


def test_bad_parameters_are_refused_before_any_write(host, package):
    url, state = host
    bad = nightly(parameters={"raw_uri": "gs://x", "epochs": "many", "learning_rat": "0.1"})
    with pytest.raises(ScheduleConfigError) as err:
        deploy_schedule(connect(url), package_path=package, config=bad)
    message = str(err.value)
    assert "unknown parameter 'learning_rat'" in message
    assert "missing required parameter 'model_root'" in message
    assert "'epochs': 'many' is not an integer" in message
    assert [r for r in state.requests if r.method != "GET"] == []


def test_the_cli_schedules_and_is_idempotent(host, package):
    url, state = host
    argv = [sys.executable, "-m", "components.schedule", "--host", url, "--package", package]
    argv += ["--cron", "0 15 1 * * *"]
    for name, value in PARAMS.items():
        argv += ["--param", f"{name}={value}"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    outputs = [
        subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    ]
    assert "(uploaded)" in outputs[0] and "(created)" in outputs[0]
    assert "(already there)" in outputs[1] and "(unchanged)" in outputs[1]
    (only,) = state.recurring_runs.values()
    assert only["trigger"]["cron_schedule"]["cron"] == "0 15 1 * * *"
    assert only["runtime_config"]["parameters"] == TYPED
