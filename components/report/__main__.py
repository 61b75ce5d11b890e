"""The run's Markdown summary and, given the model, its analyst page.

``python -m components.report --data D --evaluation D --out FILE.md [--examples D --model D
--html FILE.html]``
"""

import argparse
import logging
import os
import sys

from components.completion import IncompleteOutput
from components.evaluate.documents import BLESSING_FILE, METRICS_FILE, DocumentError

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from components.report.config import ReportConfig
from components.report.job import run


def main(argv: list[str] | None = None) -> int:
    """Write the page(s) and print their paths."""
    parser = argparse.ArgumentParser(prog="python -m components.report", description=__doc__)
    parser.add_argument("--data", required=True, help="ingest output")
    parser.add_argument("--evaluation", required=True, help="evaluate output dir")
    parser.add_argument("--out", required=True, help="output Markdown file")
    parser.add_argument("--examples", help="transform output (requests, raw catalog)")
    parser.add_argument("--model", help="train output (SavedModel, embeddings, history)")
    parser.add_argument("--html", help="output HTML file (needs --examples and --model)")
    parser.add_argument("--k-anonymity", type=int, default=ReportConfig.k_anonymity)
    parser.add_argument("--clusters", type=int, default=ReportConfig.clusters)
    args = parser.parse_args(argv)
    if args.html and not (args.examples and args.model):
        parser.error("--html needs --examples and --model")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for flag, path in (("--data", args.data), ("--evaluation", args.evaluation)):
        if not os.path.isdir(path):
            print(f"report: {flag} {path}: no such directory", file=sys.stderr)
            return 2
    try:
        _write(args)
    except (DocumentError, IncompleteOutput) as e:
        print(f"report: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # an input went missing, --out is a directory, read-only, disk full
        print(f"report: {e}", file=sys.stderr)
        return 2
    print(args.out)
    if args.html:
        print(args.html)
    return 0


def _write(args: argparse.Namespace) -> None:
    run(
        data_dir=args.data,
        metrics_path=os.path.join(args.evaluation, METRICS_FILE),
        blessing_path=os.path.join(args.evaluation, BLESSING_FILE),
        out_path=args.out,
        examples_dir=args.examples,
        model_dir=args.model,
        html_path=args.html,
        config=ReportConfig(k_anonymity=args.k_anonymity, clusters=args.clusters),
    )


if __name__ == "__main__":
    sys.exit(main())
