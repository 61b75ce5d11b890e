"""``python -m components.train --examples DIR --transform-graph DIR --model DIR``."""

import argparse
import json
import logging
import sys

from components.completion import IncompleteOutput
from components.train.config import SOFTMAX_MODES, TrainConfig, parse_modalities
from components.train.job import run


def _modalities(text: str):
    """``--modalities`` parsed at the command line: an unknown one is a usage error."""
    try:
        return parse_modalities(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def main(argv: list[str] | None = None) -> int:
    """Parse flags, train, print the manifest."""
    parser = argparse.ArgumentParser(prog="python -m components.train", description=__doc__)
    parser.add_argument("--examples", required=True, help="transform output: examples")
    parser.add_argument("--transform-graph", required=True, help="transform output: TFT graph")
    parser.add_argument("--model", required=True, help="output: model directory")
    parser.add_argument(
        "--epochs",
        type=int,
        default=TrainConfig.epochs,
        help="passes over the train examples; with epoch selection (default) the most tried",
    )
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
        type=_modalities,
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
    parser.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    parser.add_argument(
        "--softmax",
        choices=SOFTMAX_MODES,
        default=TrainConfig.softmax,
        help="exact: every example against the whole catalog; in_batch: TFRS in-batch "
        "negatives; auto (default): exact up to --exact-softmax-max-items items",
    )
    parser.add_argument(
        "--exact-softmax-max-items", type=int, default=TrainConfig.exact_softmax_max_items
    )
    parser.add_argument(
        "--recency-half-life-days",
        type=float,
        default=TrainConfig.recency_half_life_days,
        help="example weights halve every this many days before the cut-off (0: equal)",
    )
    parser.add_argument(
        "--covisit-neighbours",
        type=int,
        default=TrainConfig.covisit_neighbours,
        help="neighbours per item of the item-kNN blend term, its weight chosen on the "
        "validation window (0: no blend term)",
    )
    parser.add_argument(
        "--no-select-epochs",
        action="store_true",
        help="train --epochs epochs instead of choosing the count on the validation window",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        embedding_dim=args.embedding_dim,
        checkpoint_every_steps=args.checkpoint_every_steps,
        seed=args.seed,
        modalities=args.modalities,
        ranking_weight=args.ranking_weight,
        lazy_adam_min_rows=args.lazy_adam_min_rows,
        learning_rate=args.learning_rate,
        softmax=args.softmax,
        exact_softmax_max_items=args.exact_softmax_max_items,
        recency_half_life_days=args.recency_half_life_days,
        covisit_neighbours=args.covisit_neighbours,
        select_epochs=not args.no_select_epochs,
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
    except OSError as e:  # the model path is a file, read-only, or the disk is full
        print(f"train: cannot write {args.model}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
