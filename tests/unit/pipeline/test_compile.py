"""The compiled pipeline YAML: steps, data flow, GPU request, the push condition, images, retries,
caching, and that every reference inside it resolves.

The YAML is what a cluster runs, so everything here reads the compiled file, following inputs
through the sub-DAG that dsl.If creates back to the step or run parameter that feeds them. The
default build trains on CPU; `--gpu` builds (fixtures ``gpu_*``) train in the GPU image;
`--ablation` builds (fixtures ``ablation_*``) add the modality ablation trainers. The last tests
check how `pipeline.py run`'s flags become run parameters, without running anything.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import yaml

import pipeline
from components.containers import GPU_TOLERATION, TASKS, Images, Target
from components.parameters import ParameterError
from components.train.config import parse_modalities
from schemas.contract import SWITCHABLE

REGISTRY, TAG = "registry.example/recsys", "t42"
IMAGES = Images.for_registry(REGISTRY, TAG)

INGEST = "Ingest and validate"
TRANSFORM = "Transform features (Beam + TFT)"
TRAIN_GPU = "Train two-tower (GPU)"
TRAIN_CPU = "Train two-tower (CPU)"
TRAIN_ID_ONLY = "Train ID-only baseline (CPU)"
TRAIN_ABLATION = "Train ablation variant, one modality off (CPU)"
EVALUATE = "Evaluate and gate"
REPORT = "Report for analysts"
PUSH = "Push blessed model"
KEEP = "Keep model in service on today's catalog"
VALIDATE = "Check run parameters"
STEPS = {VALIDATE, INGEST, TRANSFORM, TRAIN_CPU, TRAIN_ID_ONLY, EVALUATE, REPORT, PUSH, KEEP}
# The settings (containers.TASKS) each step runs with, by display name.
KIND = {VALIDATE: "validate", INGEST: "ingest", TRANSFORM: "transform", TRAIN_CPU: "train",
        TRAIN_GPU: "train", TRAIN_ID_ONLY: "train", TRAIN_ABLATION: "train",
        EVALUATE: "evaluate", REPORT: "report", PUSH: "push", KEEP: "keep"}  # fmt: skip
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
def ablation_docs(tmp_path_factory):
    out = tmp_path_factory.mktemp("compile") / "pipeline-ablation.yaml"
    return compile_to(out, ["--registry", REGISTRY, "--tag", TAG, "--ablation"])


@pytest.fixture(scope="module")
def steps(spec) -> dict[str, Step]:
    return find_steps(spec)


@pytest.fixture(scope="module")
def ablation_steps(ablation_docs) -> dict[str, Step]:
    return find_steps(ablation_docs[0])


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
    """The trigger conditions enclosing ``step`` (kfp wraps an If/Else pair in a plain DAG)."""
    found = [task.get("triggerPolicy", {}).get("condition", "") for _, task in step.scope]
    return [c for c in found if c]


def test_the_pipeline_has_its_steps(steps, gpu_steps):
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
        "shards",
        "epochs",
        "batch_size",
        "embedding_dim",
        "modalities",
        "gpu_count",
        "gpu_type",
        "gpu_node_selector",
        "thresholds",
        "tolerance",
        "beat_peers",
        "protected_slices",
        "slice_tolerance",
        "force_bless_by",
        "force_bless_reason",
        "first_night_by",
        "first_night_reason",
        "eval_max_users",
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


def artifact_edges(spec: dict, steps: dict[str, Step]) -> set[tuple]:
    """Every (producer step, output, consumer step, input) artifact edge, through sub-DAGs."""
    edges = set()
    for step in steps.values():
        for artifact in step.task["inputs"].get("artifacts", {}):
            for producer, output in producers(spec, steps, step, artifact):
                edges.add((producer, output, step.name, artifact))
    return edges


def test_artifacts_flow_along_the_expected_edges(spec, steps):
    edges = artifact_edges(spec, steps)
    takes_data = STEPS - {VALIDATE, INGEST, TRAIN_CPU, TRAIN_ID_ONLY}
    data = {(INGEST, "data", s, "data") for s in takes_data}
    trainers = (TRAIN_CPU, TRAIN_ID_ONLY)
    examples = {(TRANSFORM, "examples", s, "examples") for s in (*trainers, EVALUATE, REPORT, KEEP)}
    graph = {(TRANSFORM, "transform_graph", s, "transform_graph") for s in (*trainers, PUSH)}
    model = {(TRAIN_CPU, "model", s, "model") for s in (EVALUATE, PUSH, REPORT)}
    model |= {(TRAIN_ID_ONLY, "model", EVALUATE, "baseline_model")}
    verdict = {
        (EVALUATE, key, s, key) for key in ("evaluation", "blessing") for s in (REPORT, PUSH, KEEP)
    }
    assert edges == data | examples | graph | model | verdict


@pytest.mark.parametrize("build", ["cpu", "gpu", "ablation"])
def test_every_reference_in_every_dag_resolves(build, kfp_docs, gpu_docs, ablation_docs):
    """Each input a task takes from its DAG exists there; each placeholder names a task input.

    kfp 2.17 leaves resource-only run parameters out of a sub-DAG's inputs unless they are
    registered on the task; this is the check that catches it.
    """
    spec = {"cpu": kfp_docs, "gpu": gpu_docs, "ablation": ablation_docs}[build][0]
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
    assert "accelerator" not in cpu.executor["container"]["resources"]
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


def test_push_runs_only_under_the_blessed_condition_and_keep_otherwise(spec, steps):
    verdict_input = "inputs.parameter_values['pipelinechannel--evaluate-Output']"
    push, keep = steps[PUSH], steps[KEEP]
    assert conditions(push) == [f"{verdict_input} == 'blessed'"]
    assert conditions(keep) == [f"!({verdict_input} == 'blessed')"]
    for step, task in ((push, "push"), (keep, "keep")):
        assert list(step.scope[-1][0]["dag"]["tasks"]) == [task]
        # The If/Else pair's outer DAG takes the verdict from evaluate.
        verdict = step.scope[0][1]["inputs"]["parameters"]["pipelinechannel--evaluate-Output"]
        assert verdict == {
            "taskOutputParameter": {"outputParameterKey": "Output", "producerTask": "evaluate"}
        }
    for name in STEPS - {PUSH, KEEP}:
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


def test_only_steps_that_can_fail_transiently_retry_with_exponential_backoff(steps, gpu_steps):
    for name, step in {**steps, **gpu_steps}.items():
        retries = TASKS[KIND[name]].retries
        expected = None
        if retries:
            expected = {
                "backoffDuration": "60s",
                "backoffFactor": 2.0,
                "backoffMaxDuration": "1800s",
                "maxRetryCount": retries,
            }
        assert step.task.get("retryPolicy") == expected, name
    # A bad parameter fails the never-retried check once, before any stage that would retry.
    assert TASKS["validate"].retries == 0 and all(t.retries <= 2 for t in TASKS.values())


def test_every_step_requests_cpu_and_memory(steps, gpu_steps):
    for name, step in {**steps, **gpu_steps}.items():
        resources = step.executor["container"]["resources"]
        settings = TASKS[KIND[name]]
        assert resources["resourceCpuRequest"] == settings.cpu, name
        assert resources["resourceMemoryRequest"] == settings.memory, name
        assert resources["resourceMemoryLimit"] == settings.memory_limit, name


def test_every_stage_runs_after_the_parameter_check(spec, steps):
    tasks = spec["root"]["dag"]["tasks"]
    check = next(t for t, v in tasks.items() if v["taskInfo"]["name"] == VALIDATE)
    ingest = next(v for v in tasks.values() if v["taskInfo"]["name"] == INGEST)
    assert check in ingest["dependentTasks"]
    assert "cachingOptions" not in tasks[check] or not tasks[check]["cachingOptions"].get(
        "enableCache"
    )


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
    # The parameter check reads them too (they must split into flags), before transform.
    assert sorted(s.name for s in beam_steps) == sorted([TRANSFORM, VALIDATE])
    for step in beam_steps:
        assert run_parameter(step, "beam_args", spec) == "beam_args"
        assert run_parameter(step, "shards", spec) == "shards"


def test_ablation_off_adds_nothing(spec, steps):
    assert "ablation_models" not in steps[EVALUATE].task["inputs"]["artifacts"]
    assert not [t for t in spec["root"]["dag"]["tasks"].values() if "parameterIterator" in t]


def test_ablation_trains_one_cpu_variant_per_modality_off_into_evaluate(
    ablation_docs, ablation_steps, spec, steps
):
    ablation_spec = ablation_docs[0]
    assert set(ablation_steps) == STEPS | {TRAIN_ABLATION}
    variant = ablation_steps[TRAIN_ABLATION]
    # One loop, over one `modalities` value per switchable modality: all but that one.
    [(loop_component, loop_task)] = variant.scope
    iterator = loop_task["parameterIterator"]
    items = [parse_modalities(m) for m in json.loads(iterator["items"]["raw"])]
    assert sorted(m.value for m in SWITCHABLE) == sorted(
        next(iter(set(SWITCHABLE) - on)).value for on in items
    )
    assert all(len(on) == len(SWITCHABLE) - 1 for on in items)
    source = variant.task["inputs"]["parameters"]["modalities"]
    assert source == {"componentInputParameter": iterator["itemInput"]}
    assert loop_component["inputDefinitions"]["parameters"][iterator["itemInput"]]
    for name in ("epochs", "batch_size", "embedding_dim"):
        assert run_parameter(variant, name, ablation_spec) == name
    assert variant.executor["container"]["image"] == IMAGES.cpu
    assert "accelerator" not in variant.executor["container"]["resources"]
    assert variant.task["retryPolicy"]["maxRetryCount"] == TASKS["train"].retries
    # Its models reach evaluate as one list input; every other edge is as without the option.
    evaluate_inputs = ablation_steps[EVALUATE].component["inputDefinitions"]["artifacts"]
    assert evaluate_inputs["ablation_models"]["isArtifactList"]
    new = {
        (TRANSFORM, "examples", TRAIN_ABLATION, "examples"),
        (TRANSFORM, "transform_graph", TRAIN_ABLATION, "transform_graph"),
        (TRAIN_ABLATION, "model", EVALUATE, "ablation_models"),
    }
    assert artifact_edges(ablation_spec, ablation_steps) == artifact_edges(spec, steps) | new
    # The variants are reported, never gated: push still follows evaluate's verdict alone.
    assert conditions(ablation_steps[PUSH]) == conditions(steps[PUSH])
    assert ablation_spec["root"]["inputDefinitions"] == spec["root"]["inputDefinitions"]


GATE_FLAGS = [
    "--thresholds", '{"recall@20": 0.1}',
    "--tolerance", "0.01",
    "--no-beat-peers",
    "--protected-slices", "activity=cold,has_social=no",
    "--slice-tolerance", "0.05",
    "--force-bless-by", "ana",
    "--force-bless-reason", "planned reset",
]  # fmt: skip


def parse_run(*flags: str):
    return pipeline.build_parser().parse_args(
        ["run", "--raw", "data/shop", "--model-root", "models", *flags]
    )


def test_run_flags_become_the_gate_run_parameters():
    args = parse_run(*GATE_FLAGS, "--ablation", "--epochs", "5")
    assert pipeline.run_arguments(args) == {
        "epochs": 5,
        "train_end": "",
        "eval_end": "",
        "now": "",
        "thresholds": '{"recall@20": 0.1}',
        "tolerance": 0.01,
        "beat_peers": False,
        "protected_slices": "activity=cold,has_social=no",
        "slice_tolerance": 0.05,
        "force_bless_by": "ana",
        "force_bless_reason": "planned reset",
        "first_night_by": "",
        "first_night_reason": "",
        "eval_max_users": 100_000,
    }
    # The ablation switch is a build option of the local run, not a run parameter.
    assert args.ablation is True
    assert parse_run().ablation is False


def test_run_flag_defaults_are_the_pipeline_defaults(spec):
    arguments = pipeline.run_arguments(parse_run())
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(arguments) <= set(params)
    gates = {"thresholds", "tolerance", "beat_peers", "protected_slices", "slice_tolerance",
             "force_bless_by", "force_bless_reason", "first_night_by", "first_night_reason",
             "eval_max_users"}  # fmt: skip
    assert gates <= set(arguments)
    for name in gates | {"epochs", "train_end", "eval_end", "now"}:
        assert arguments[name] == params[name]["defaultValue"], name


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--force-bless-by", "ana"], "both who"),
        (["--protected-slices", "mood=blue"], "mood=blue"),
        (["--tolerance", "-0.1"], "tolerances must be >= 0"),
        (["--thresholds", "[1]"], "not a JSON object"),
        # Issue 17: each of these used to run several stages before failing in kfp.local.
        (["--thresholds", '{"recall@7": 0.1}'], "threshold metric(s) ['recall@7'] are not"),
        (["--train-end", "2999-01-01"], "train_end: 2999-01-01T00:00:00+00:00 is after now"),
        (["--train-end", "tomorrow"], "train_end"),
        (["--epochs", "0"], "epochs"),
        (["--protected-slices", "activity=frozen"], "activity is one of ['new', 'cold'"),
        (["--first-night-by", "ana"], "both who (--first-night-by)"),
    ],
)
def test_bad_run_flags_are_refused_before_anything_runs(flags, message, tmp_path, capsys):
    with pytest.raises(ParameterError, match=re.escape(message)):
        pipeline.run_arguments(parse_run(*flags))
    root = tmp_path / "runs"
    with pytest.raises(SystemExit) as exit_info:
        pipeline.main(["run", "--raw", "x", "--model-root", "m", "--pipeline-root", str(root),
                       *flags])  # fmt: skip
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not root.exists()


def test_run_help_says_what_every_gate_flag_does(capsys):
    with pytest.raises(SystemExit):
        pipeline.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag, words in (
        ("--tolerance", "lower bound of the bootstrap interval"),
        ("--beat-peers", "most-popular"),
        ("--protected-slices", "must not regress"),
        ("--slice-tolerance", "mean drop exceeds"),
        ("--force-bless-by", "who forces the blessing"),
        ("--force-bless-reason", "why the blessing is forced"),
        ("--ablation", "one CPU variant per content modality"),
        ("--thresholds", "minimum per metric"),
    ):
        assert flag in text and words in text, flag


def test_the_pseudonym_secret_is_mounted_into_ingest_only_and_never_a_parameter(tmp_path, spec):
    docs = compile_to(tmp_path / "secret.yaml", ["--pseudonym-secret", "shoprec-pseudonym"])
    assert len(docs) == 2, "expected the kfp-kubernetes platform section"
    found = find_steps(docs[0])
    executors = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    ingest_label = found[INGEST].component["executorLabel"]
    assert set(executors) == {ingest_label}
    (volume,) = executors[ingest_label]["secretAsVolume"]
    assert volume["secretName"] == "shoprec-pseudonym"
    assert volume["mountPath"] == pipeline.PSEUDONYM_MOUNT
    env = found[INGEST].executor["container"]["env"]
    assert env == [
        {"name": "SHOPREC_PSEUDONYM_KEY_FILE", "value": f"{pipeline.PSEUDONYM_MOUNT}/key"}
    ]
    # Only the secret's name is in the YAML, and the run parameters are unchanged.
    assert docs[0]["root"]["inputDefinitions"] == spec["root"]["inputDefinitions"]


def test_the_pseudonym_secret_is_refused_where_there_is_no_kubernetes(tmp_path):
    with pytest.raises(ValueError, match="Kubernetes secret"):
        pipeline.main(
            ["compile", "--out", str(tmp_path / "v.yaml"), "--target", Target.VERTEX.value,
             "--pseudonym-secret", "s"]
        )  # fmt: skip


def test_the_gate_has_one_set_of_defaults_for_run_parameters_and_both_command_lines(spec):
    import argparse
    import dataclasses

    from components.evaluate.config import GateOptions

    parser = argparse.ArgumentParser()
    GateOptions.add_arguments(parser)  # what `python -m components.evaluate` parses
    assert GateOptions.from_args(parser.parse_args([])) == GateOptions()
    assert GateOptions.from_args(parse_run()) == GateOptions()
    params = spec["root"]["inputDefinitions"]["parameters"]
    for name, value in dataclasses.asdict(GateOptions()).items():
        param = params["eval_max_users" if name == "max_users" else name]
        assert param["defaultValue"] == value, name
