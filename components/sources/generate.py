r"""Generate a synthetic multimodal shop in the raw layout that ingest reads.

Every modality carries the same planted signal (hidden taste clusters tied to item categories):
text (cluster words in titles, reviews and queries), images (category colour and pattern), behavior
(per-cluster item chains: buying one item makes its successor likely), relations (homophilous
friends, co-purchase item links). Each user has one ``signal_modality`` that alone reveals their
cluster before the history cut; ``_truth/`` records it. A fraction of every table is planted bad.

Usage::

    python -m components.sources.generate --users 2000 --items 500 --events 100000 --seed 7 \\
        --out /tmp/shop [--format parquet|jsonl|csv] [--bad-fraction 0.02]
"""

from __future__ import annotations

import argparse
import collections
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from components.progress import Progress
from components.sources import bad_rows, behavior, encode, relations, storage, truth
from components.sources.seeding import Stream, rng_for
from components.sources.world import World, build_world
from schemas import SCHEMA_VERSION, TABLES, Table, tables

logger = logging.getLogger(__name__)

GENERATOR = "components.sources.generate"
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
_BAD_STREAM_STRIDE = 1_000_000  # bad-row stream index = table number * stride + block


class GeneratorConfigError(ValueError):
    """An argument of the generator is out of range; the message names it and its value."""


def check_args(
    *,
    users: int,
    items: int,
    events: int,
    fmt: str,
    bad_fraction: float,
    chunk_rows: int,
    days: int,
) -> None:
    """Raise ``GeneratorConfigError`` naming the first bad argument."""
    checks = (
        ("users", users, users >= 1),
        ("items", items, items >= 1),
        ("events", events, events >= 0),
        ("fmt", fmt, fmt in encode.FORMATS),
        ("bad_fraction", bad_fraction, 0.0 <= bad_fraction <= 0.5),
        ("chunk_rows", chunk_rows, chunk_rows >= 1),
        ("days", days, days >= 7),
    )
    for name, value, ok in checks:
        if not ok:
            raise GeneratorConfigError(f"generate_shop: {name}={value!r} is out of range")


def _bad_rng(seed: int, contract: Table, block: int = 0) -> np.random.Generator:
    return rng_for(seed, Stream.BAD_ROWS, TABLES.index(contract) * _BAD_STREAM_STRIDE + block)


def generate_shop(
    out_dir: str,
    *,
    users: int,
    items: int,
    events: int,
    seed: int,
    fmt: str = "parquet",
    bad_fraction: float = 0.02,
    chunk_rows: int = 200_000,
    start: datetime = DEFAULT_START,
    days: int = 120,
) -> dict[str, object]:
    """Write a synthetic shop to ``out_dir`` and return its row counts.

    Same arguments give byte-identical files; ``chunk_rows`` only decides where part files break.
    Events are drawn and written block by block, so memory does not grow with ``events``.

    Args:
        out_dir: Folder to write (created; existing part files are overwritten).
        users: Good users (bad user rows are added on top).
        items: Good items (bad item rows are added on top).
        events: Event rows, exactly, bad ones included.
        seed: Seed of every random stream.
        fmt: parquet, jsonl or csv.
        bad_fraction: Share of each table planted bad (0 for a clean shop).
        chunk_rows: Rows per part file.
        start: First moment of the time range (UTC).
        days: Length of the time range.

    Returns:
        ``{"rows": {table: n}, "parts": {table: n}, "bad_rows": {table: {kind: n}}}``.

    Raises:
        GeneratorConfigError: for an argument out of range.
    """
    check_args(
        users=users, items=items, events=events, fmt=fmt, bad_fraction=bad_fraction,
        chunk_rows=chunk_rows, days=days,
    )  # fmt: skip
    out = Path(out_dir)
    world = build_world(users=users, items=items, seed=seed, start=start, days=days)
    writers = {
        t.name: storage.PartWriter(out, t.arrow_schema(), fmt=fmt, chunk_rows=chunk_rows)
        for t in TABLES
    }
    bad: dict[str, collections.Counter[str]] = {t.name: collections.Counter() for t in TABLES}

    def write(contract: Table, planted: bad_rows.Planted) -> None:
        writers[contract.name].write(planted.table, planted.overrides)
        bad[contract.name].update(planted.counts)

    for contract, clean, prefix in (
        (tables.USERS, world.users_table, "u"),
        (tables.ITEMS, world.items_table, "i"),
    ):
        rng = _bad_rng(seed, contract)
        write(
            contract,
            bad_rows.plant_extra(
                clean, contract, rng, fraction=bad_fraction, fmt=fmt, id_prefix=prefix
            ),
        )

    state = _generate_events(world, events, fmt=fmt, bad_fraction=bad_fraction, write=write)

    for contract, clean in (
        (tables.USER_RELATIONS, relations.user_edges(world)),
        (tables.ITEM_RELATIONS, relations.item_edges(world, state)),
    ):
        write(
            contract,
            bad_rows.plant_in_place(
                clean, contract, _bad_rng(seed, contract), fraction=bad_fraction, fmt=fmt
            ),
        )
    for writer in writers.values():
        writer.close()
    storage.write_truth(out, tables.USERS.name, truth.users_truth(world))
    storage.write_truth(out, tables.ITEMS.name, truth.items_truth(world))
    summary: dict[str, object] = {
        "rows": {name: w.rows for name, w in writers.items()},
        "parts": {name: w.parts for name, w in writers.items()},
        "bad_rows": {name: dict(sorted(c.items())) for name, c in bad.items()},
    }
    args = {
        "users": users, "items": items, "events": events, "seed": seed, "fmt": fmt,
        "bad_fraction": bad_fraction, "chunk_rows": chunk_rows, "start": start.isoformat(),
        "days": days,
    }  # fmt: skip
    storage.write_meta(out, _meta(world, summary, args))
    logger.info("generated shop out=%s rows=%s", out, summary["rows"])
    return summary


def _generate_events(
    world: World,
    events: int,
    *,
    fmt: str,
    bad_fraction: float,
    write: Callable[[Table, bad_rows.Planted], None],
) -> behavior.BehaviorState:
    """Draw, spoil and write events and reviews block by block; returns the final state."""
    state = behavior.BehaviorState.start(world)
    blocks = behavior.block_count(events) if events else 0
    progress = Progress("generate events", total=events)
    for block in range(blocks):
        quota = behavior.block_quota(events, block)
        drawn = behavior.generate_block(world, state, block=block, blocks=blocks, quota=quota)
        for contract, clean in ((tables.EVENTS, drawn.events), (tables.REVIEWS, drawn.reviews)):
            rng = _bad_rng(world.seed, contract, block)
            write(
                contract,
                bad_rows.plant_in_place(clean, contract, rng, fraction=bad_fraction, fmt=fmt),
            )
        progress.advance(quota)
    progress.finish()
    return state


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime(encode.ISO_FORMAT)


def _meta(world: World, summary: dict[str, object], args: dict[str, object]) -> dict[str, object]:
    """The ``_meta.json`` document: arguments, the world's shape, and the counts."""
    return {
        "generator": GENERATOR,
        "schema_version": SCHEMA_VERSION,
        "args": args,
        "seed": world.seed,
        "world": {
            "clusters": world.clusters,
            "categories": world.categories,
            "start": _iso(world.start_s),
            "end": _iso(world.end_s),
            "history_cut": _iso(world.history_cut_s),
            # Suggested evaluation window: from the history cut (where the planted signal shows
            # as behavior) over half of what follows; the rest is the test window.
            "eval_end": _iso(world.history_cut_s + (world.end_s - world.history_cut_s) // 2),
        },
        **summary,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of ``python -m components.sources.generate``."""
    parser = argparse.ArgumentParser(
        prog="python -m components.sources.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True, help="folder to write the raw tables into")
    parser.add_argument("--format", dest="fmt", choices=encode.FORMATS, default="parquet")
    parser.add_argument("--bad-fraction", type=float, default=0.02)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument(
        "--start", type=datetime.fromisoformat, default=DEFAULT_START, help="ISO-8601, UTC"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments, configure logging, generate; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    start = args.start if args.start.tzinfo else args.start.replace(tzinfo=UTC)
    try:
        generate_shop(
            args.out, users=args.users, items=args.items, events=args.events, seed=args.seed,
            fmt=args.fmt, bad_fraction=args.bad_fraction, chunk_rows=args.chunk_rows,
            start=start, days=args.days,
        )  # fmt: skip
    except GeneratorConfigError as err:
        logger.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
