"""CLI: ``python -m components.ingest --input DIR_OR_GS --out DIR [options]``.

Calls ``job.run``, the same function the kfp component calls. Exits 2 with one line on stderr
for a project error (missing input, bad file, bad option).
"""

from __future__ import annotations

import argparse
import logging
import sys

from components.ingest import job, privacy
from components.ingest.config import FORMATS, IngestConfig, parse_timestamp
from components.ingest.errors import IngestError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the ingest job, print a summary; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m components.ingest", description=__doc__)
    parser.add_argument(
        "--input", required=True, help="raw data: local directory or gs://bucket/prefix"
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--format", default="auto", choices=FORMATS, help="force one input format")
    parser.add_argument("--train-end", help="ISO timestamp; default: 0.8 quantile of event ts")
    parser.add_argument("--eval-end", help="ISO timestamp; default: 0.9 quantile of event ts")
    parser.add_argument(
        "--validation-start",
        help="ISO timestamp; the validation window (model selection) runs from it to "
        "--train-end; default: the last "
        f"{IngestConfig.validation_share * 100:.1f}%% of train events",
    )
    parser.add_argument(
        "--now", help="ISO timestamp; later rows are future_timestamp (default: now)"
    )
    parser.add_argument("--batch-rows", type=int, default=IngestConfig.batch_rows)
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--pseudonym-key-file",
        help=f"file holding the secret key of user-id pseudonyms (default: ${privacy.KEY_FILE_ENV}"
        f", else ${privacy.KEY_ENV}; none: ids kept raw)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(  # --quiet: warnings and errors only
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = IngestConfig(
            format=args.format,
            now=parse_timestamp(args.now, what="--now") if args.now else None,
            train_end=parse_timestamp(args.train_end, what="--train-end")
            if args.train_end
            else None,
            eval_end=parse_timestamp(args.eval_end, what="--eval-end") if args.eval_end else None,
            validation_start=parse_timestamp(args.validation_start, what="--validation-start")
            if args.validation_start
            else None,
            batch_rows=args.batch_rows,
            progress=not args.quiet,
            pseudonym_key=privacy.load_key(key_file=args.pseudonym_key_file),
        )
        manifest = job.run(args.input, args.out, config)
    except IngestError as err:
        print(f"ingest failed: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # --out is a file, read-only, or the disk is full
        print(f"ingest failed: cannot write {args.out}: {err}", file=sys.stderr)
        return 2
    print(
        f"ingest {args.input} -> {args.out}  (validation_start {manifest['validation_start']}, "
        f"train_end {manifest['train_end']}, "
        f"eval_end {manifest['eval_end']}, pseudonymized {manifest['pseudonymized']})"
    )
    for name, t in manifest["tables"].items():
        reasons = ", ".join(f"{r} {n}" for r, n in t["by_reason"].items()) or "-"
        print(
            f"  {name:<15} read {t['read']:>10,}  valid {t['valid']:>10,}  "
            f"quarantined {t['quarantined']:>8,}  ({reasons})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
