"""``python -m components.evaluate --data DIR --model DIR --model-root DIR --out DIR``."""

import argparse
import json
import logging
import os
import sys

from components.evaluate.config import EvaluateConfig
from components.evaluate.job import run


def main(argv: list[str] | None = None) -> int:
    """Parse flags, evaluate, print the verdict; exit 0 whether blessed or not."""
    parser = argparse.ArgumentParser(prog="python -m components.evaluate", description=__doc__)
    parser.add_argument("--data", required=True, help="ingest output")
    parser.add_argument("--examples", required=True, help="transform output (serving requests)")
    parser.add_argument("--model", required=True, help="train output (candidate)")
    parser.add_argument("--model-root", required=True, help="where pushed versions live")
    parser.add_argument("--model-name", default="shoprec")
    parser.add_argument("--out", required=True, help="output dir: metrics.json, blessing.json")
    parser.add_argument("--thresholds", default="{}", help='JSON, e.g. {"recall@50": 0.05}')
    parser.add_argument("--tolerance", type=float, default=EvaluateConfig.tolerance)
    parser.add_argument(
        "--no-beat-baseline", action="store_true", help="do not require beating most-popular"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = EvaluateConfig.from_json(
        args.thresholds, tolerance=args.tolerance, beat_baseline=not args.no_beat_baseline
    )
    result = run(
        data_dir=args.data,
        examples_dir=args.examples,
        model_dir=args.model,
        model_root=args.model_root,
        model_name=args.model_name,
        metrics_path=os.path.join(args.out, "metrics.json"),
        blessing_path=os.path.join(args.out, "blessing.json"),
        config=config,
    )
    print(json.dumps(result["blessing"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
