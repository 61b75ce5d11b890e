"""Push a blessed model, list versions, or roll LATEST back (local directory or gs:// root).

python -m components.push push --model DIR --evaluation DIR --data DIR --model-root ROOT
python -m components.push list --model-root ROOT
python -m components.push rollback --to VERSION --model-root ROOT
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
    listing = sub.add_parser("list", help="versions, oldest first; * marks LATEST")
    back = sub.add_parser("rollback", help="point LATEST at an earlier (verified) version")
    back.add_argument("--to", required=True, help="version to serve")
    for p in (push, listing, back):
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
        elif args.command == "list":
            root = ModelRoot(args.model_root)
            latest = root.read_latest(args.model_name)
            for version in root.list_versions(args.model_name):
                print(f"{'*' if version == latest else ' '} {version}")
            for version in root.incomplete_versions(args.model_name):
                print(f"  {version} (incomplete: never served)")
        else:
            write_latest(ModelRoot(args.model_root), args.model_name, args.to)
            print(f"LATEST -> {args.to}")
    except RegistryError as e:
        print(f"push: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
