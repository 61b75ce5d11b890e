"""``python -m components.report --data DIR --evaluation DIR --out FILE.md``."""

import argparse
import os
import sys

from components.report.job import run


def main(argv: list[str] | None = None) -> int:
    """Write the page and print its path."""
    parser = argparse.ArgumentParser(prog="python -m components.report", description=__doc__)
    parser.add_argument("--data", required=True, help="ingest output")
    parser.add_argument("--evaluation", required=True, help="evaluate output dir")
    parser.add_argument("--out", required=True, help="output Markdown file")
    args = parser.parse_args(argv)
    run(
        data_dir=args.data,
        metrics_path=os.path.join(args.evaluation, "metrics.json"),
        blessing_path=os.path.join(args.evaluation, "blessing.json"),
        out_path=args.out,
    )
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
