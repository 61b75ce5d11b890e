"""``python -m components.train --data DIR --examples DIR --transform-graph DIR --model DIR``."""

import argparse
import json
import logging
import sys

from components.completion import IncompleteOutput
from components.train.config import TrainConfig, parse_modalities
from components.train.job import run


def main(argv: list[str] | None = None) -> int:
    """Parse flags, train, print the manifest."""
    parser = argparse.ArgumentParser(prog="python -m components.train", description=__doc__)
    parser.add_argument("--examples", required=True, help="transform output: examples")
    parser.add_argument("--transform-graph", required=True, help="transform output: TFT graph")
    parser.add_argument("--model", required=True, help="output: model directory")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--embedding-dim", type=int, default=TrainConfig.embedding_dim)
    parser.add_argument(
        "--checkpoint-every-steps",
        type=int,
        default=TrainConfig.checkpoint_every_steps,
        help="BackupAndRestore saves every N steps (a killed trainer resumes from there)",
    )
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument(
        "--modalities",
        default="all",
        help='content modalities on: "all", "none" (ID only) or e.g. "text,image"',
    )
    parser.add_argument(
        "--ranking-weight",
        type=float,
        default=TrainConfig.ranking_weight,
        help="weight of the ranking head's loss beside retrieval (0: retrieval only, and the "
        "export has no 'ranking' signature)",
    )
    parser.add_argument(
        "--lazy-adam-min-rows",
        type=int,
        default=TrainConfig.lazy_adam_min_rows,
        help="embedding tables with at least this many rows get lazy Adam updates (only the "
        "rows a batch touched; default %(default)s, 0: all tables)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        embedding_dim=args.embedding_dim,
        checkpoint_every_steps=args.checkpoint_every_steps,
        seed=args.seed,
        modalities=parse_modalities(args.modalities),
        ranking_weight=args.ranking_weight,
        lazy_adam_min_rows=args.lazy_adam_min_rows,
    )
    try:
        manifest = run(
            examples_dir=args.examples,
            transform_dir=args.transform_graph,
            model_dir=args.model,
            config=config,
        )
    except IncompleteOutput as e:
        print(f"train: {e}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
