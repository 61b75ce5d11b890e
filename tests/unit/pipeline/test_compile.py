"""The compiled pipeline YAML: steps, data flow, GPU request, the push condition, images, retries,
caching, and that every reference inside it resolves.

The YAML is what a cluster runs, so everything here reads the compiled file, following inputs
through the sub-DAG that dsl.If creates back to the step or run parameter that feeds them. The
default build trains on CPU; `--gpu` builds (fixtures ``gpu_*``) train in the GPU image.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

import pipeline
from components.images import GPU_TOLERATION, Images, Target

REGISTRY, TAG = "registry.example/recsys", "t42"
IMAGES = Images.for_registry(REGISTRY, TAG)

INGEST = "Ingest and validate"
TRANSFORM = "Transform features (Beam + TFT)"
TRAIN_GPU = "Train two-tower (GPU)"
TRAIN_CPU = "Train two-tower (CPU)"
TRAIN_ID_ONLY = "Train ID-only baseline (CPU)"
EVALUATE = "Evaluate and gate"
REPORT = "Report for analysts"
PUSH = "Push blessed model"
STEPS = {INGEST, TRANSFORM, TRAIN_CPU, TRAIN_ID_ONLY, EVALUATE, REPORT, PUSH}
PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


@dataclasses.dataclass
class Step:
    """One executor task and the chain of DAG tasks (conditions) that encloses it."""

    name: str  # display name
    task: dict
    component: dict
    executor: dict
    scope: list  # [(dag component, task invoking that dag in its parent)], innermost last


def compile_to(path, argv_extra=()) -> list[dict]:
    assert pipeline.main(["compile", "--out", str(path), *argv_extra]) == 0
    with open(path) as f:
        return list(yaml.safe_load_all(f))


@pytest.fixture(scope="module")
def kfp_docs(tmp_path_factory):
    out = tmp_path_factory.mktemp("compile") / "pipeline.yaml"
    return compile_to(out, ["--registry", REGISTRY, "--tag", TAG])


@pytest.fixture(scope="module")
def spec(kfp_docs):
    return kfp_docs[0]


@pytest.fixture(scope="module")
def gpu_docs(tmp_path_factory):
    out = tmp_path_factory.mktemp("compile") / "pipeline-gpu.yaml"
    return compile_to(out, ["--registry", REGISTRY, "--tag", TAG, "--gpu"])


@pytest.fixture(scope="module")
def steps(spec) -> dict[str, Step]:
    return find_steps(spec)


@pytest.fixture(scope="module")
def gpu_steps(gpu_docs) -> dict[str, Step]:
    return find_steps(gpu_docs[0])


def find_steps(spec: dict) -> dict[str, Step]:
    found: dict[str, Step] = {}

    def walk(dag_component: dict, scope: list) -> None:
        for task in dag_component["dag"]["tasks"].values():
            component = spec["components"][task["componentRef"]["name"]]
            if "dag" in component:
                walk(component, [*scope, (component, task)])
                continue
            name = task["taskInfo"]["name"]
            assert name not in found, f"two steps named {name!r}"
            executor = spec["deploymentSpec"]["executors"][component["executorLabel"]]
            found[name] = Step(name, task, component, executor, scope)

    walk(spec["root"], [])
    return found


def producers(spec: dict, steps: dict[str, Step], step: Step, artifact: str) -> set[tuple]:
    """The (step, output) pairs that can feed ``artifact`` of ``step``, through sub-DAGs."""
    by_task = {id(s.task): s for s in steps.values()}

    def from_input(source: dict, scope: list) -> set[tuple]:
        if "componentInputArtifact" in source:
            dag_component, dag_task = scope[-1]
            key = source["componentInputArtifact"]
            assert key in dag_component["inputDefinitions"]["artifacts"], key
            return from_input(dag_task["inputs"]["artifacts"][key], scope[:-1])
        ref = source["taskOutputArtifact"]
        tasks = (scope[-1][0] if scope else spec["root"])["dag"]["tasks"]
        return from_output(tasks[ref["producerTask"]], ref["outputArtifactKey"], scope)

    def from_output(task: dict, key: str, scope: list) -> set[tuple]:
        component = spec["components"][task["componentRef"]["name"]]
        if "dag" not in component:
            assert key in component["outputDefinitions"]["artifacts"], key
            return {(by_task[id(task)].name, key)}
        found = set()
        for selector in component["dag"]["outputs"]["artifacts"][key]["artifactSelectors"]:
            inner = component["dag"]["tasks"][selector["producerSubtask"]]
            found |= from_output(inner, selector["outputArtifactKey"], [*scope, (component, task)])
        return found

    return from_input(step.task["inputs"]["artifacts"][artifact], step.scope)


def run_parameter(step: Step, name: str, spec: dict) -> str:
    """The pipeline run parameter that ``step``'s input parameter ``name`` comes from."""
    source = step.task["inputs"]["parameters"][name]
    for dag_component, dag_task in reversed(step.scope):
        key = source["componentInputParameter"]
        assert key in dag_component["inputDefinitions"]["parameters"], key
        source = dag_task["inputs"]["parameters"][key]
    key = source["componentInputParameter"]
    assert key in spec["root"]["inputDefinitions"]["parameters"], key
    return key


def conditions(step: Step) -> list[str]:
    return [task.get("triggerPolicy", {}).get("condition", "") for _, task in step.scope]


def test_the_pipeline_has_its_six_steps(steps, gpu_steps):
    assert set(steps) == STEPS
    assert set(gpu_steps) == STEPS - {TRAIN_CPU} | {TRAIN_GPU}


def test_run_parameters_cover_data_window_model_gates_beam_training_gpu_and_modalities(spec):
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "raw_uri",
        "model_root",
        "model_name",
        "train_end",
        "eval_end",
        "now",
        "beam_args",
        "epochs",
        "batch_size",
        "embedding_dim",
        "modalities",
        "gpu_count",
        "gpu_type",
        "gpu_node_selector",
        "thresholds",
        "tolerance",
        "beat_baseline",
        "protected_slices",
        "slice_tolerance",
        "force_bless_by",
        "force_bless_reason",
    }
    required = {name for name, p in params.items() if not p.get("isOptional")}
    assert required == {"raw_uri", "model_root"}
    assert params["gpu_count"] == {
        "defaultValue": 1.0,
        "isOptional": True,
        "parameterType": "NUMBER_INTEGER",
    }
    assert params["gpu_type"]["defaultValue"] == "nvidia.com/gpu"
    assert params["modalities"]["defaultValue"] == "all"


def test_artifacts_flow_along_the_expected_edges(spec, steps):
    edges = set()
    for step in steps.values():
        for artifact in step.task["inputs"].get("artifacts", {}):
            for producer, output in producers(spec, steps, step, artifact):
                edges.add((producer, output, step.name, artifact))
    data = {(INGEST, "data", s, "data") for s in STEPS - {INGEST, TRAIN_CPU, TRAIN_ID_ONLY}}
    trainers = (TRAIN_CPU, TRAIN_ID_ONLY)
    examples = {(TRANSFORM, "examples", s, "examples") for s in (*trainers, EVALUATE)}
    graph = {(TRANSFORM, "transform_graph", s, "transform_graph") for s in (*trainers, PUSH)}
    model = {(TRAIN_CPU, "model", s, "model") for s in (EVALUATE, PUSH)}
    model |= {(TRAIN_ID_ONLY, "model", EVALUATE, "baseline_model")}
    verdict = {
        (EVALUATE, key, s, key) for key in ("evaluation", "blessing") for s in (REPORT, PUSH)
    }
    assert edges == data | examples | graph | model | verdict


@pytest.mark.parametrize("build", ["cpu", "gpu"])
def test_every_reference_in_every_dag_resolves(build, kfp_docs, gpu_docs):
    """Each input a task takes from its DAG exists there; each placeholder names a task input.

    kfp 2.17 leaves resource-only run parameters out of a sub-DAG's inputs unless they are
    registered on the task; this is the check that catches it.
    """
    spec = (kfp_docs if build == "cpu" else gpu_docs)[0]
    dags = {"root": spec["root"]} | {
        name: c for name, c in spec["components"].items() if "dag" in c
    }
    faults = []
    for dag_name, dag_component in dags.items():
        defined = dag_component.get("inputDefinitions", {})
        for task_name, task in dag_component["dag"]["tasks"].items():
            inputs = task.get("inputs", {})
            for kind, key in (("parameters", "componentInputParameter"),
                              ("artifacts", "componentInputArtifact")):  # fmt: skip
                for name, source in inputs.get(kind, {}).items():
                    if key in source and source[key] not in defined.get(kind, {}):
                        faults.append(f"{dag_name}/{task_name}.{name}: {source[key]}")
                    constant = source.get("runtimeValue", {}).get("constant")
                    for ref in PLACEHOLDER.findall(str(constant or "")):
                        if ref not in inputs.get("parameters", {}):
                            faults.append(f"{dag_name}/{task_name}.{name}: placeholder {ref}")
            for ref in PLACEHOLDER.findall(task.get("triggerPolicy", {}).get("condition", "")):
                if ref not in inputs.get("parameters", {}):
                    faults.append(f"{dag_name}/{task_name} condition: {ref}")
    assert faults == []


def test_gpu_trainer_requests_the_accelerator_from_run_parameters(gpu_docs, gpu_steps, steps):
    spec, gpu, cpu = gpu_docs[0], gpu_steps[TRAIN_GPU], steps[TRAIN_CPU]
    accelerator = gpu.executor["container"]["resources"]["accelerator"]
    type_input = PLACEHOLDER.fullmatch(accelerator["resourceType"]).group(1)
    count_input = PLACEHOLDER.fullmatch(accelerator["resourceCount"]).group(1)
    assert run_parameter(gpu, type_input, spec) == "gpu_type"
    assert run_parameter(gpu, count_input, spec) == "gpu_count"
    assert "resources" not in cpu.executor["container"]
    assert gpu.scope == [] == cpu.scope
    # Both builds train from the same run parameters.
    for name in ("epochs", "batch_size", "embedding_dim", "modalities"):
        assert run_parameter(gpu, name, spec) == name


def test_only_the_kfp_gpu_build_places_the_trainer_on_gpu_nodes(gpu_docs, gpu_steps, kfp_docs):
    assert len(kfp_docs) == 1, "the CPU build needs no kfp-kubernetes section"
    assert len(gpu_docs) == 2, "expected the kfp-kubernetes platform section"
    executors = gpu_docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    gpu_label = gpu_steps[TRAIN_GPU].component["executorLabel"]
    assert set(executors) == {gpu_label}
    assert executors[gpu_label]["tolerations"] == [GPU_TOLERATION]
    selector = executors[gpu_label]["nodeSelector"]["nodeSelectorJson"]
    assert selector == {"componentInputParameter": "gpu_node_selector"}


def test_vertex_gpu_build_is_one_document_with_a_vertex_accelerator_name(tmp_path):
    docs = compile_to(tmp_path / "vertex.yaml", ["--target", Target.VERTEX.value, "--gpu"])
    assert len(docs) == 1
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert params["gpu_type"]["defaultValue"] == "NVIDIA_L4"
    trainers = [e for name, e in docs[0]["deploymentSpec"]["executors"].items() if "train" in name]
    # The two-tower trainer asks for the accelerator; the ID-only baseline does not.
    with_gpu = [t for t in trainers if "accelerator" in t["container"].get("resources", {})]
    assert len(trainers) == 2 and len(with_gpu) == 1
    assert with_gpu[0]["container"]["resources"]["accelerator"]["resourceType"]


def test_push_runs_only_under_the_blessed_condition(spec, steps):
    push = steps[PUSH]
    assert conditions(push) == [
        "inputs.parameter_values['pipelinechannel--evaluate-Output'] == 'blessed'"
    ]
    dag_component, dag_task = push.scope[-1]
    assert list(dag_component["dag"]["tasks"]) == ["push"]
    verdict = dag_task["inputs"]["parameters"]["pipelinechannel--evaluate-Output"]
    assert verdict == {
        "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "evaluate"}
    }
    for name in STEPS - {PUSH}:
        assert steps[name].scope == [], f"{name} should run unconditionally"


@pytest.mark.parametrize("build", ["cpu", "gpu"])
def test_each_step_runs_in_the_image_from_the_compile_flags(build, steps, gpu_steps):
    found = steps if build == "cpu" else gpu_steps
    images = {name: step.executor["container"]["image"] for name, step in found.items()}
    assert images == {name: IMAGES.gpu if name == TRAIN_GPU else IMAGES.cpu for name in found}


def test_default_images_come_from_the_images_config(tmp_path):
    docs = compile_to(tmp_path / "default.yaml")
    used = {e["container"]["image"] for e in docs[0]["deploymentSpec"]["executors"].values()}
    assert used == {Images().cpu}


def test_every_step_retries_with_exponential_backoff(steps, gpu_steps):
    for name, step in {**steps, **gpu_steps}.items():
        assert step.task.get("retryPolicy") == {
            "backoffDuration": "60s",
            "backoffFactor": 2.0,
            "backoffMaxDuration": "1800s",
            "maxRetryCount": 3,
        }, name


def test_caching_is_on_except_where_inputs_change_under_the_same_name(steps):
    cached = {
        name for name, step in steps.items() if step.task["cachingOptions"].get("enableCache")
    }
    # Ingest reads a prefix that changes nightly; evaluate and push depend on the model in service.
    assert cached == {TRANSFORM, TRAIN_CPU, TRAIN_ID_ONLY, REPORT}


def test_beam_flags_reach_every_beam_step_from_the_run_parameter(spec, steps):
    beam_steps = [
        s
        for s in steps.values()
        if "beam_args" in s.component["inputDefinitions"].get("parameters", {})
    ]
    assert [s.name for s in beam_steps] == [TRANSFORM]
    for step in beam_steps:
        assert run_parameter(step, "beam_args", spec) == "beam_args"
