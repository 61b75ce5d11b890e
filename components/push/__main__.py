"""Push a blessed model, list versions, or roll LATEST back (local directory or gs:// root).

python -m components.push push --model DIR --evaluation DIR --data DIR --model-root ROOT
python -m components.push keep --evaluation DIR --data DIR --model-root ROOT
python -m components.push list --model-root ROOT
python -m components.push rollback --to VERSION --model-root ROOT

Exit 0 on success, 2 with one line on stderr for a refused push or a model-root error (LATEST
moved since evaluate read it, not blessed, a missing input, storage down); ``list`` exits 1 when
it shows damage (LATEST unreadable or naming no complete version).
"""

import argparse
import json
import logging
import os
import sys

from components.evaluate.documents import BLESSING_FILE, METRICS_FILE
from components.ingest import layout
from components.push.job import run
from components.push.publish import write_latest
from components.registry.errors import RegistryError
from components.registry.model_root import ModelRoot


def main(argv: list[str] | None = None) -> int:
    """Dispatch the subcommand; a push or model-root error exits 2 with its message."""
    parser = argparse.ArgumentParser(
        prog="python -m components.push",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    push = sub.add_parser("push", help="publish a blessed model as a new version")
    push.add_argument("--model", required=True, help="train output")
    push.add_argument("--evaluation", required=True, help="evaluate output dir")
    push.add_argument("--data", required=True, help="ingest output (for lineage)")
    push.add_argument("--transform-graph", default=None, help="TFT graph to ship with the model")
    keeping = sub.add_parser(
        "keep",
        help="after a refused night: keep the model in service restricted to today's catalog "
        "(a new version only if it knows delisted items)",
    )
    keeping.add_argument("--evaluation", required=True, help="evaluate output dir (refused)")
    keeping.add_argument("--data", required=True, help="ingest output (today's catalog)")
    keeping.add_argument(
        "--examples", required=True, help="transform output (requests for infra validation)"
    )
    listing = sub.add_parser("list", help="versions, oldest first; * marks LATEST")
    back = sub.add_parser("rollback", help="point LATEST at an earlier (verified) version")
    back.add_argument("--to", required=True, help="version to serve")
    for p in (push, keeping, listing, back):
        p.add_argument("--model-root", required=True, help="local directory or gs://bucket/prefix")
        p.add_argument("--model-name", default="shoprec")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if args.command == "push":
            manifest = run(
                model_dir=args.model,
                metrics_path=os.path.join(args.evaluation, METRICS_FILE),
                blessing_path=os.path.join(args.evaluation, BLESSING_FILE),
                data_manifest_path=os.path.join(args.data, layout.MANIFEST),
                model_root=args.model_root,
                model_name=args.model_name,
                transform_dir=args.transform_graph,
            )
            print(json.dumps(manifest, indent=2))
        elif args.command == "keep":
            from components.push.keep import keep  # TensorFlow: only for this subcommand

            kept = keep(
                data_dir=args.data,
                examples_dir=args.examples,
                metrics_path=os.path.join(args.evaluation, METRICS_FILE),
                blessing_path=os.path.join(args.evaluation, BLESSING_FILE),
                model_root=args.model_root,
                model_name=args.model_name,
            )
            print(json.dumps(kept, indent=2))
        elif args.command == "list":
            return list_versions(ModelRoot(args.model_root), args.model_name)
        else:
            write_latest(ModelRoot(args.model_root), args.model_name, args.to)
            print(f"LATEST -> {args.to}")
    except RegistryError as e:
        print(f"push: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # local storage: permissions, a full disk, a file where a dir belongs
        print(f"push: {args.model_root}: {e}", file=sys.stderr)
        return 2
    return 0


def list_versions(root: ModelRoot, model: str) -> int:
    """Print the versions (``*`` marks LATEST) and any damage; 1 if LATEST is damaged."""
    latest = root.latest(model)
    versions = root.list_versions(model)
    damaged = latest.problem
    if damaged is None and latest.version is not None and latest.version not in versions:
        damaged = (
            f"{root.store.path(model)}/LATEST names {latest.version}, which is not a complete "
            "version of this root"
        )
    if damaged is None and latest.raw is None and versions:
        damaged = f"{root.store.path(model)}/LATEST is missing: no version is in service"
    if damaged is not None:
        print(f"! {damaged}; repair with: rollback --to VERSION")
    for version in versions:
        print(f"{'*' if version == latest.version else ' '} {version}")
    for version in root.incomplete_versions(model):
        print(f"  {version} (incomplete: never served)")
    return 1 if damaged is not None else 0


if __name__ == "__main__":
    sys.exit(main())
