"""The nightly retrain pipeline: ingest -> transform -> train -> evaluate -> push (+ report).

This module only wires components; each runs alone too (``python -m components.<stage>``).

    python pipeline.py compile --out build/pipeline.yaml       # for Kubeflow Pipelines
    python pipeline.py compile --target vertex --registry REG --tag T  # for Vertex AI Pipelines
    python pipeline.py run --raw data/shop --model-root models  # locally, under kfp.local
    python pipeline.py run --raw data/shop --model-root models --ablation  # + modality ablation
"""

import argparse
import dataclasses
import glob
import json
import os
import sys
import time

from kfp import compiler, dsl, kubernetes

from components import parameters, parameters_component
from components.containers import GPU_TOLERATION, RETRY_BACKOFF, TASKS, Images, Target
from components.evaluate import component as evaluate_component
from components.evaluate.config import GateOptions
from components.evaluate.documents import read_blessing, read_metrics
from components.ingest import component as ingest_component
from components.ingest import privacy
from components.push import component as push_component
from components.report import component as report_component
from components.report.verdicts import peer_summary_lines
from components.train import component as train_component
from components.train.config import TrainConfig
from components.transform import component as transform_component
from schemas.contract import SWITCHABLE

PIPELINE_NAME = "shoprec-nightly"
MODEL_NAME = "shoprec"
HEADLINE_METRICS = ("recall@20", "ndcg@20", "recall@50", "mrr")
ALL_MODALITIES = "all"  # or a comma list of profile,text,image,behavior,relation
# The ablation variants' ``modalities``: every switchable modality but one, one variant each.
ABLATION_MODALITIES = [",".join(m.value for m in SWITCHABLE if m is not off) for off in SWITCHABLE]
# The gate's options and their defaults are declared once (evaluate's GateOptions); kfp reads
# run parameters from the pipeline function's signature, so it names them again.
GATE = GateOptions()

# Where ingest finds the pseudonymization key on a cluster (see build_pipeline).
PSEUDONYM_MOUNT = "/var/run/secrets/shoprec-pseudonym"
PSEUDONYM_KEY_ENV = privacy.KEY_FILE_ENV


def build_pipeline(
    images: Images | None = None,
    *,
    target: Target = Target.KFP,
    gpu: bool = False,
    retry: bool = True,
    ablation: bool = False,
    pseudonym_secret: str | None = None,
) -> "dsl.graph_component.GraphComponent":
    """The pipeline: every step in ``images.cpu``; with ``gpu``, the trainer in ``images.gpu``.

    GPU on/off is a compile-time choice: a task's image is fixed in the YAML, and switching
    between a CPU and a GPU trainer at run time needs ``dsl.OneOf`` over the model artifact,
    which kfp.local 2.17 cannot run ("Expected 1 artifact in ArtifactSelectorSpec"), so
    ``make run`` would break. The accelerator count and type are run parameters.

    Args:
        images: Image references (default: ``Images()``).
        target: The orchestrator the YAML is for; picks the default accelerator name and whether
            the GPU trainer carries a kfp-kubernetes node selector and toleration.
        gpu: Train in the GPU image, requesting ``gpu_count`` x ``gpu_type`` accelerators.
        retry: Give each step its retry policy (``containers.TASKS``: only stages whose
            failures can be transient; ``validate`` never); False: no retries (local runs).
        ablation: Also train, on CPU, one variant per switchable modality with that modality
            off (a ``dsl.ParallelFor`` over ``ABLATION_MODALITIES``), collected into evaluate's
            ``ablation_models``, which tables them against the candidate (not gated). Off: the
            pipeline is exactly the one without the option.
        pseudonym_secret: A Kubernetes secret (key ``key``) holding the pseudonymization key:
            mounted read-only into the ingest step only, which then pseudonymizes user ids
            (``components.ingest.privacy``). The key never becomes a run parameter (parameters
            are stored in run metadata). KFP on Kubernetes only.
    """
    images = images or Images()
    ingest_op = ingest_component.build(images.cpu)
    transform_op = transform_component.build(images.cpu)
    train_op = train_component.build(images.gpu if gpu else images.cpu)
    baseline_train_op = train_component.build(images.cpu)  # ID-only: small, never needs a GPU
    evaluate_op = evaluate_component.build(images.cpu)
    push_op = push_component.build(images.cpu)
    keep_op = push_component.build_keep(images.cpu)
    report_op = report_component.build(images.cpu)
    validate_op = parameters_component.build(images.cpu)

    def settle(task: "dsl.PipelineTask", kind: str) -> "dsl.PipelineTask":
        """Resource requests (every task) and the retry policy (``containers.TASKS``)."""
        settings = TASKS[kind]
        task.set_cpu_request(settings.cpu).set_memory_request(settings.memory)
        task.set_memory_limit(settings.memory_limit)
        if retry and settings.retries:
            task.set_retry(num_retries=settings.retries, **RETRY_BACKOFF)
        return task

    @dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
    def shoprec_pipeline(
        raw_uri: str,
        model_root: str,
        model_name: str = MODEL_NAME,
        train_end: str = "",
        eval_end: str = "",
        now: str = "",
        beam_args: str = "",
        # Key shards of transform's Beam feature build (0: one per 4 MiB of events, at least 2).
        shards: int = 0,
        epochs: int = TrainConfig.epochs,
        batch_size: int = TrainConfig.batch_size,
        embedding_dim: int = TrainConfig.embedding_dim,
        modalities: str = ALL_MODALITIES,
        # Read only when compiled with gpu=True (`make compile GPU=1`); see build_pipeline.
        gpu_count: int = 1,
        gpu_type: str = target.default_accelerator,
        gpu_node_selector: dict = {},  # noqa: B006 (a kfp parameter default, never mutated)
        thresholds: str = GATE.thresholds,
        tolerance: float = GATE.tolerance,
        beat_peers: bool = GATE.beat_peers,
        protected_slices: str = GATE.protected_slices,
        slice_tolerance: float = GATE.slice_tolerance,
        force_bless_by: str = GATE.force_bless_by,
        force_bless_reason: str = GATE.force_bless_reason,
        first_night_by: str = GATE.first_night_by,
        first_night_reason: str = GATE.first_night_reason,
        # Users evaluated at most (a fixed CRC-32 sample; 0 = all): bounds evaluate's memory.
        eval_max_users: int = GATE.max_users,
    ):
        # The gate's options, as the check and evaluate both take them.
        gate = {
            "thresholds": thresholds,
            "tolerance": tolerance,
            "beat_peers": beat_peers,
            "protected_slices": protected_slices,
            "slice_tolerance": slice_tolerance,
            "force_bless_by": force_bless_by,
            "force_bless_reason": force_bless_reason,
            "first_night_by": first_night_by,
            "first_night_reason": first_night_reason,
            "max_users": eval_max_users,
        }
        # Every run parameter is checked before any stage runs (a bad one fails here, once).
        validated = validate_op(
            raw_uri=raw_uri,
            model_root=model_root,
            train_end=train_end,
            eval_end=eval_end,
            now=now,
            beam_args=beam_args,
            shards=shards,
            epochs=epochs,
            batch_size=batch_size,
            embedding_dim=embedding_dim,
            modalities=modalities,
            gpu_count=gpu_count,
            **gate,
        )
        validated.set_display_name("Check run parameters").set_caching_options(False)
        settle(validated, "validate")
        # raw_uri is a prefix that gets new data every night under the same name: never cache.
        ingested = ingest_op(raw_uri=raw_uri, train_end=train_end, eval_end=eval_end, now=now)
        ingested.set_display_name("Ingest and validate").set_caching_options(False)
        ingested.after(validated)
        if pseudonym_secret:
            kubernetes.use_secret_as_volume(
                ingested, secret_name=pseudonym_secret, mount_path=PSEUDONYM_MOUNT
            )
            ingested.set_env_variable(PSEUDONYM_KEY_ENV, f"{PSEUDONYM_MOUNT}/key")
        transformed = transform_op(
            data=ingested.outputs["data"], beam_args=beam_args, shards=shards
        )
        transformed.set_display_name("Transform features (Beam + TFT)")
        trained = train_op(
            examples=transformed.outputs["examples"],
            transform_graph=transformed.outputs["transform_graph"],
            epochs=epochs,
            batch_size=batch_size,
            embedding_dim=embedding_dim,
            modalities=modalities,
        )
        trained.set_display_name(f"Train two-tower ({'GPU' if gpu else 'CPU'})")
        if gpu:
            trained.set_accelerator_type(gpu_type).set_accelerator_limit(gpu_count)
            # kfp 2.17 leaves run parameters used only in resource settings out of the inputs
            # of any enclosing sub-DAG; registering them keeps the YAML valid if one is added.
            trained.register_pipeline_channels([gpu_type, gpu_count])
            if target.places_with_kubernetes:
                kubernetes.add_node_selector_json(trained, gpu_node_selector)
                kubernetes.add_toleration(trained, **GPU_TOLERATION)
        model = trained.outputs["model"]
        # The same trainer with every content modality off: the ID-only baseline, evaluated on
        # the same split in the same run.
        id_only = baseline_train_op(
            examples=transformed.outputs["examples"],
            transform_graph=transformed.outputs["transform_graph"],
            epochs=epochs,
            batch_size=batch_size,
            embedding_dim=embedding_dim,
            modalities="none",
        )
        id_only.set_display_name("Train ID-only baseline (CPU)")
        variants = {}
        if ablation:
            # One CPU trainer per switchable modality, that modality off; kfp collects their
            # models into one list input (dsl.Collected runs under kfp.local 2.17 too).
            with dsl.ParallelFor(ABLATION_MODALITIES, name="ablation") as modalities_on:
                variant = baseline_train_op(
                    examples=transformed.outputs["examples"],
                    transform_graph=transformed.outputs["transform_graph"],
                    epochs=epochs,
                    batch_size=batch_size,
                    embedding_dim=embedding_dim,
                    modalities=modalities_on,
                )
                variant.set_display_name("Train ablation variant, one modality off (CPU)")
                settle(variant, "train")
            variants["ablation_models"] = dsl.Collected(variant.outputs["model"])
        evaluated = evaluate_op(
            data=ingested.outputs["data"],
            examples=transformed.outputs["examples"],
            model=model,
            baseline_model=id_only.outputs["model"],
            model_root=model_root,
            model_name=model_name,
            **gate,
            **variants,
        )
        # The model in service changes between runs: never reuse a cached verdict.
        evaluated.set_display_name("Evaluate and gate").set_caching_options(False)
        reported = report_op(
            data=ingested.outputs["data"],
            examples=transformed.outputs["examples"],
            model=model,
            evaluation=evaluated.outputs["evaluation"],
            blessing=evaluated.outputs["blessing"],
        )
        reported.set_display_name("Report for analysts")
        with dsl.If(evaluated.outputs["Output"] == evaluate_component.BLESSED, name="blessed"):
            pushed = push_op(
                data=ingested.outputs["data"],
                model=model,
                evaluation=evaluated.outputs["evaluation"],
                blessing=evaluated.outputs["blessing"],
                model_root=model_root,
                model_name=model_name,
                transform_graph=transformed.outputs["transform_graph"],
            )
            pushed.set_display_name("Push blessed model").set_caching_options(False)
        with dsl.Else(name="refused"):
            # The candidate was refused: the model in service stays, restricted to today's
            # catalog when it knows items that are no longer sold (components.push.keep).
            kept = keep_op(
                data=ingested.outputs["data"],
                examples=transformed.outputs["examples"],
                evaluation=evaluated.outputs["evaluation"],
                blessing=evaluated.outputs["blessing"],
                model_root=model_root,
                model_name=model_name,
            )
            kept.set_display_name("Keep model in service on today's catalog")
            kept.set_caching_options(False)
        for task, kind in (
            (ingested, "ingest"),
            (transformed, "transform"),
            (trained, "train"),
            (id_only, "train"),
            (evaluated, "evaluate"),
            (reported, "report"),
            (pushed, "push"),
            (kept, "keep"),
        ):
            settle(task, kind)

    return shoprec_pipeline


def compile_pipeline(
    out_path: str,
    images: Images | None = None,
    *,
    target: Target = Target.KFP,
    gpu: bool = False,
    ablation: bool = False,
    pseudonym_secret: str | None = None,
) -> str:
    """Compile the pipeline to KFP v2 YAML at ``out_path`` for ``target``.

    ``gpu``: the trainer in the GPU image; ``ablation``: with the modality ablation variants;
    ``pseudonym_secret``: the Kubernetes secret ingest reads its pseudonymization key from.
    """
    if pseudonym_secret and not target.places_with_kubernetes:
        raise ValueError(
            "--pseudonym-secret mounts a Kubernetes secret: not available for target "
            f"{target.value} (there, give ingest SHOPREC_PSEUDONYM_KEY from a secret manager)"
        )
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    pipeline = build_pipeline(
        images, target=target, gpu=gpu, ablation=ablation, pseudonym_secret=pseudonym_secret
    )
    compiler.Compiler().compile(pipeline, package_path=out_path)
    return out_path


def run_local(
    *,
    raw_uri: str,
    model_root: str,
    pipeline_root: str,
    log_path: str,
    ablation: bool = False,
    **arguments: object,
) -> dict:
    """Run the pipeline on this machine under kfp.local (SubprocessRunner, DirectRunner).

    ``ablation`` builds the pipeline with the modality ablation variants (see
    ``build_pipeline``); ``arguments`` are further run parameters.

    kfp.local streams every task's output to this process's stdout/stderr; that goes to
    ``log_path`` (file descriptors redirected, so the task subprocesses' output does too).
    """
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root)
    started = time.monotonic()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            # kfp.local 2.17 honours retry policies; a local failure is not transient, so it
            # is reported at once instead of after 60 + 120 s of back-off.
            build_pipeline(retry=False, ablation=ablation)(
                raw_uri=raw_uri if raw_uri.startswith("gs://") else os.path.abspath(raw_uri),
                model_root=os.path.abspath(model_root),
                **arguments,
            )
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
    return {"seconds": round(time.monotonic() - started, 1), "pipeline_root": pipeline_root}


def summarize_local_run(pipeline_root: str) -> str:
    """Where the newest local run under ``pipeline_root`` put its artifacts, and its headline."""
    runs = sorted(glob.glob(os.path.join(pipeline_root, f"{PIPELINE_NAME}-*")))
    if not runs:
        return f"no run under {pipeline_root}"
    run = runs[-1]
    lines = [f"artifacts: {run}"]
    for label, rel in (
        ("data + quality report", "ingest/data"),
        ("model", "train/model"),
        ("metrics", "evaluate/evaluation"),
        ("blessing", "evaluate/blessing"),
        ("run report (Markdown)", "report/summary"),
        ("run page (HTML)", "report/page"),
        ("pushed", "push/pushed"),
    ):
        path = os.path.join(run, rel)
        lines.append(f"  {label:<22} {path if os.path.exists(path) else '(not written)'}")
    metrics_path = os.path.join(run, "evaluate", "evaluation")
    if os.path.exists(metrics_path):
        metrics = read_metrics(metrics_path)
        lines.append(f"evaluated {metrics.eval_users:,} users, catalog {metrics.catalog_size:,}")
        for model, values in metrics.models.items():
            figures = ", ".join(f"{k} {values[k]:.4f}" for k in HEADLINE_METRICS)
            lines.append(f"  {model:<13} {figures}")
        lines += peer_summary_lines(metrics)
    blessing = read_blessing(os.path.join(run, "evaluate", "blessing"))
    lines.append(f"gate: {'BLESSED' if blessing.blessed else 'NOT blessed'}")
    lines += [f"  - {reason}" for reason in blessing.reasons]
    pushed = os.path.join(run, "push", "pushed")
    if os.path.exists(pushed):
        with open(pushed) as f:
            lines.append(f"pushed version {json.load(f)['version']}")
    page = os.path.join(run, "report", "page")
    if os.path.exists(page):
        import shutil

        # kfp names artifact files without an extension, which a browser shows as text: a
        # copy named .html opens as the page.
        shutil.copyfile(page, os.path.join(run, "report.html"))
        lines.append(f"report: {os.path.join(run, 'report.html')}")
    return "\n".join(lines)


ABLATION_HELP = (
    "also train one CPU variant per content modality with that modality off; evaluate tables "
    "their Recall@K/NDCG@K (all and warm targets) and the drop against the candidate (not gated)"
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``compile`` and ``run`` with their flags."""
    parser = argparse.ArgumentParser(
        prog="python pipeline.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    comp = sub.add_parser("compile", help="write the KFP v2 YAML")
    comp.add_argument("--out", default="build/pipeline.yaml")
    comp.add_argument("--registry", default=None, help="image registry (default: Images())")
    comp.add_argument("--tag", default=None, help="image tag")
    comp.add_argument(
        "--target",
        choices=[t.value for t in Target],
        default=Target.KFP.value,
        help="kfp: Kubeflow Pipelines (GPU node selector + toleration); vertex: Vertex AI",
    )
    comp.add_argument(
        "--gpu",
        action="store_true",
        help="train in the GPU image, requesting gpu_count x gpu_type accelerators",
    )
    comp.add_argument("--ablation", action="store_true", help=ABLATION_HELP)
    comp.add_argument(
        "--pseudonym-secret",
        default=None,
        help="Kubernetes secret (key 'key') with the pseudonymization key, mounted into ingest "
        "only (KFP target)",
    )
    run = sub.add_parser(
        "run",
        help="run locally under kfp.local",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("--raw", required=True, help="raw data directory or gs:// prefix")
    run.add_argument("--model-root", required=True, help="pushed versions; LATEST is in service")
    run.add_argument("--pipeline-root", default="runs", help="where kfp.local writes artifacts")
    run.add_argument(
        "--epochs",
        type=int,
        default=TrainConfig.epochs,
        help="most training epochs of every trainer (each chooses its count on validation)",
    )
    run.add_argument("--train-end", default="", help="end of the train window ('' = ingest's)")
    run.add_argument("--eval-end", default="", help="end of the eval window ('' = ingest's)")
    run.add_argument("--now", default="", help="ingest's 'now' for future timestamps ('' = now)")
    GateOptions.add_arguments(
        run.add_argument_group("gate (see components/evaluate/gates.py for the rule)")
    )
    run.add_argument("--ablation", action="store_true", help=ABLATION_HELP)
    return parser


def run_arguments(args: argparse.Namespace) -> dict:
    """The pipeline run parameters that ``run``'s flags set (``--ablation`` is a build option).

    Raises:
        ParameterError: a flag is invalid (bad thresholds JSON or an unmeasured metric, an
            unknown protected slice, a negative tolerance, force-bless without who or why, a
            cut-off that does not parse or lies in the future, --epochs 0), before anything
            runs; every bad flag is named.
    """
    gate = GateOptions.from_args(args)
    # The stages would refuse these only after ingest, transform and training.
    parameters.check_run_parameters(
        raw_uri=args.raw,
        model_root=args.model_root,
        train_end=args.train_end,
        eval_end=args.eval_end,
        now=args.now,
        epochs=args.epochs,
        gate=gate,
    )
    values = dataclasses.asdict(gate)
    values["eval_max_users"] = values.pop("max_users")  # its run parameter's name
    return {
        "epochs": args.epochs,
        "train_end": args.train_end,
        "eval_end": args.eval_end,
        "now": args.now,
        **values,
    }


def main(argv: list[str] | None = None) -> int:
    """``compile`` or ``run`` (locally)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "compile":
        images = (
            Images.for_registry(args.registry, args.tag or "latest") if args.registry else Images()
        )
        out = compile_pipeline(
            args.out,
            images,
            target=Target(args.target),
            gpu=args.gpu,
            ablation=args.ablation,
            pseudonym_secret=args.pseudonym_secret,
        )
        print(out)
        return 0
    try:
        arguments = run_arguments(args)
    except parameters.ParameterError as e:
        parser.error(str(e))
    os.makedirs(args.pipeline_root, exist_ok=True)
    log_path = os.path.join(args.pipeline_root, "kfp-local.log")
    print(f"running {PIPELINE_NAME} locally; task logs: {log_path}", flush=True)
    summary = run_local(
        raw_uri=args.raw,
        model_root=args.model_root,
        pipeline_root=os.path.abspath(args.pipeline_root),
        log_path=log_path,
        ablation=args.ablation,
        **arguments,
    )
    print(f"finished in {summary['seconds']} s")
    print(summarize_local_run(summary["pipeline_root"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
