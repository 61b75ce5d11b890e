"""``python -m components.transform --data D --examples D --transform-graph D [beam flags]``."""

import argparse
import json
import logging
import sys

from components.completion import IncompleteOutput
from components.transform.config import TransformConfig
from components.transform.embeddings import EmbeddingWidthError
from components.transform.job import run


def main(argv: list[str] | None = None) -> int:
    """Parse flags (unknown ones go to Beam), run the stage, print its manifest."""
    parser = argparse.ArgumentParser(prog="python -m components.transform", description=__doc__)
    parser.add_argument("--data", required=True, help="ingest output directory")
    parser.add_argument("--examples", required=True, help="output: transformed examples")
    parser.add_argument("--transform-graph", required=True, help="output: TFT transform graph")
    parser.add_argument("--max-text-tokens", type=int, default=TransformConfig.max_text_tokens)
    parser.add_argument(
        "--cache-dir", help="analyzer cache, one span per --span-days UTC days (default: no cache)"
    )
    parser.add_argument("--span-days", type=int, default=TransformConfig.span_days)
    parser.add_argument(
        "--shards",
        type=int,
        default=TransformConfig.shards,
        help="key shards of the Beam feature build (default 0: one per 4 MiB of events)",
    )
    parser.add_argument(
        "--in-process-features",
        action="store_true",
        help="build feature rows in this process (the reference; small data only), not in Beam",
    )
    args, beam_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = TransformConfig(
        max_text_tokens=args.max_text_tokens,
        beam_args=tuple(beam_args),
        cache_dir=args.cache_dir,
        span_days=args.span_days,
        shards=args.shards,
        in_process_features=args.in_process_features,
    )
    try:
        manifest = run(args.data, args.examples, args.transform_graph, config)
    except (IncompleteOutput, EmbeddingWidthError) as e:
        print(f"transform: {e}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
