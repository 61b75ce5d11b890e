"""``python -m components.evaluate --data D --examples D --model D --model-root ROOT --out D``.

Writes ``metrics.json`` and ``blessing.json`` under ``--out`` and prints the verdict. Exit 0
whether blessed or not; 2 for a configuration error (e.g. a threshold on an unmeasured metric).
"""

import argparse
import json
import logging
import os
import sys

from components.evaluate.config import GateOptions
from components.evaluate.documents import BLESSING_FILE, METRICS_FILE
from components.evaluate.gates import GateConfigError
from components.evaluate.job import run


def main(argv: list[str] | None = None) -> int:
    """Parse flags, evaluate, print the verdict."""
    parser = argparse.ArgumentParser(
        prog="python -m components.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="ingest output")
    parser.add_argument("--examples", required=True, help="transform output (serving requests)")
    parser.add_argument("--model", required=True, help="train output (candidate)")
    parser.add_argument(
        "--extra-model",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="another train output reported beside the candidate (e.g. id_only=DIR); repeatable",
    )
    parser.add_argument(
        "--ablation-model",
        action="append",
        default=[],
        metavar="DIR",
        help="a train output with some modalities off (named from its manifest, e.g. no_text), "
        "tabled against the candidate under 'ablation' in metrics.json; repeatable",
    )
    parser.add_argument("--model-root", required=True, help="pushed versions: dir or gs://")
    parser.add_argument("--model-name", default="shoprec")
    parser.add_argument("--out", required=True, help="output dir: metrics.json, blessing.json")
    GateOptions.add_arguments(parser.add_argument_group("gate (see components/evaluate/gates.py)"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        extra = dict(item.split("=", 1) for item in args.extra_model)
        config = GateOptions.from_args(args).config()
        _, blessing = run(
            data_dir=args.data,
            examples_dir=args.examples,
            model_dir=args.model,
            model_root=args.model_root,
            model_name=args.model_name,
            metrics_path=os.path.join(args.out, METRICS_FILE),
            blessing_path=os.path.join(args.out, BLESSING_FILE),
            config=config,
            extra_models=extra,
            ablation_models=args.ablation_model,
        )
    except (GateConfigError, ValueError) as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # --out is a file, read-only, or the disk is full
        print(f"evaluate: cannot write {args.out}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(blessing.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
