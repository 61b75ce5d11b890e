"""The nightly retrain pipeline: ingest -> transform -> train -> evaluate -> push (+ report).

This module only wires components; each runs alone too (``python -m components.<stage>``).

    python pipeline.py compile --out build/pipeline.yaml       # for KFP / Vertex AI Pipelines
    python pipeline.py run --raw data/shop --model-root models  # locally, under kfp.local
"""

import argparse
import json
import logging
import os
import sys
import time

from kfp import compiler, dsl

from components.evaluate import component as evaluate_component
from components.images import Images
from components.ingest import component as ingest_component
from components.push import component as push_component
from components.report import component as report_component
from components.train import component as train_component
from components.transform import component as transform_component

PIPELINE_NAME = "shoprec-nightly"
MODEL_NAME = "shoprec"
DEFAULT_THRESHOLDS = json.dumps({"recall@50": 0.0})


def build_pipeline(images: Images | None = None) -> "dsl.graph_component.GraphComponent":
    """The pipeline, with every step running in ``images.cpu`` (default: ``Images()``)."""
    images = images or Images()
    ingest_op = ingest_component.build(images.cpu)
    transform_op = transform_component.build(images.cpu)
    train_op = train_component.build(images.cpu)
    evaluate_op = evaluate_component.build(images.cpu)
    push_op = push_component.build(images.cpu)
    report_op = report_component.build(images.cpu)

    @dsl.pipeline(name=PIPELINE_NAME, description=__doc__.splitlines()[0])
    def shoprec_pipeline(
        raw_uri: str,
        model_root: str,
        model_name: str = MODEL_NAME,
        train_end: str = "",
        eval_end: str = "",
        now: str = "",
        beam_args: str = "",
        epochs: int = 3,
        batch_size: int = 256,
        embedding_dim: int = 32,
        thresholds: str = DEFAULT_THRESHOLDS,
        tolerance: float = 0.005,
    ):
        ingested = ingest_op(raw_uri=raw_uri, train_end=train_end, eval_end=eval_end, now=now)
        ingested.set_display_name("Ingest and validate")
        transformed = transform_op(data=ingested.outputs["data"], beam_args=beam_args)
        transformed.set_display_name("Transform (Beam + TFT)")
        trained = train_op(
            data=ingested.outputs["data"],
            examples=transformed.outputs["examples"],
            transform_graph=transformed.outputs["transform_graph"],
            epochs=epochs,
            batch_size=batch_size,
            embedding_dim=embedding_dim,
        )
        trained.set_display_name("Train two-tower")
        evaluated = evaluate_op(
            data=ingested.outputs["data"],
            model=trained.outputs["model"],
            model_root=model_root,
            model_name=model_name,
            thresholds=thresholds,
            tolerance=tolerance,
        )
        # The model in service changes between runs: never reuse a cached verdict.
        evaluated.set_display_name("Evaluate and gate").set_caching_options(False)
        reported = report_op(
            data=ingested.outputs["data"],
            evaluation=evaluated.outputs["evaluation"],
            blessing=evaluated.outputs["blessing"],
        )
        reported.set_display_name("Report")
        with dsl.If(evaluated.outputs["Output"] == evaluate_component.BLESSED, name="blessed"):
            pushed = push_op(
                data=ingested.outputs["data"],
                model=trained.outputs["model"],
                evaluation=evaluated.outputs["evaluation"],
                blessing=evaluated.outputs["blessing"],
                model_root=model_root,
                model_name=model_name,
            )
            pushed.set_display_name("Push model").set_caching_options(False)

    return shoprec_pipeline


def compile_pipeline(out_path: str, images: Images | None = None) -> str:
    """Compile the pipeline to KFP v2 YAML at ``out_path``."""
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    compiler.Compiler().compile(build_pipeline(images), package_path=out_path)
    return out_path


def run_local(
    *, raw_uri: str, model_root: str, pipeline_root: str, log_path: str, **arguments: object
) -> dict:
    """Run the pipeline on this machine under kfp.local (SubprocessRunner, DirectRunner).

    kfp.local's task logs are long; they go to ``log_path`` and a summary is returned.
    """
    from kfp import local

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root)
    handler = logging.FileHandler(log_path)
    root = logging.getLogger()
    root.addHandler(handler)
    started = time.monotonic()
    try:
        build_pipeline()(
            raw_uri=os.path.abspath(raw_uri), model_root=os.path.abspath(model_root), **arguments
        )
    finally:
        root.removeHandler(handler)
        handler.close()
    return {"seconds": round(time.monotonic() - started, 1), "pipeline_root": pipeline_root}


def main(argv: list[str] | None = None) -> int:
    """``compile`` or ``run`` (locally)."""
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
    run = sub.add_parser("run", help="run locally under kfp.local")
    run.add_argument("--raw", required=True, help="raw data directory or gs:// prefix")
    run.add_argument("--model-root", required=True)
    run.add_argument("--pipeline-root", default="runs")
    run.add_argument("--epochs", type=int, default=3)
    run.add_argument("--train-end", default="")
    run.add_argument("--eval-end", default="")
    run.add_argument("--now", default="")
    run.add_argument("--thresholds", default=DEFAULT_THRESHOLDS)
    args = parser.parse_args(argv)
    if args.command == "compile":
        images = (
            Images.for_registry(args.registry, args.tag or "latest") if args.registry else Images()
        )
        print(compile_pipeline(args.out, images))
        return 0
    os.makedirs(args.pipeline_root, exist_ok=True)
    log_path = os.path.join(args.pipeline_root, "kfp-local.log")
    print(f"running {PIPELINE_NAME} locally; task logs: {log_path}", flush=True)
    summary = run_local(
        raw_uri=args.raw,
        model_root=args.model_root,
        pipeline_root=os.path.abspath(args.pipeline_root),
        log_path=log_path,
        epochs=args.epochs,
        train_end=args.train_end,
        eval_end=args.eval_end,
        now=args.now,
        thresholds=args.thresholds,
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
