"""Adapt a real public data set (read in place) into the raw contract layout.

Usage::

    python -m components.sources.adapt {amazon,amazon2014,ciao,hm} --src DIR --out DIR

Writes ``<out>/<table>/part-00000.parquet`` for each table the source has, in the contract's
canonical Arrow schema, plus ``<out>/_meta.json`` with the source folder and row counts.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from components.sources import amazon, amazon2014, ciao, hm, storage
from schemas import SCHEMA_VERSION

logger = logging.getLogger(__name__)


def load_amazon(src: Path) -> dict[str, pa.Table]:
    """Amazon 2018 reviews + metadata in ``src`` -> contract tables."""
    reviews = storage.read_json_lines_gz(src / amazon.REVIEWS_FILE)
    meta = storage.read_json_lines_gz(src / amazon.META_FILE)
    return amazon.adapt_amazon(reviews, meta)


def load_amazon2014(src: Path) -> dict[str, pa.Table]:
    """Amazon 2014 5-core interactions + items CSVs in ``src`` -> contract tables."""
    return amazon2014.adapt_amazon2014(
        storage.read_csv(
            src / amazon2014.INTERACTIONS_FILE, column_types=amazon2014.INTERACTION_TYPES
        ),
        storage.read_csv(src / amazon2014.ITEMS_FILE, column_types=amazon2014.ITEM_TYPES),
    )


def load_ciao(src: Path) -> dict[str, pa.Table]:
    """Ciao ratings, trust and categories CSVs in ``src`` -> contract tables."""
    return ciao.adapt_ciao(
        storage.read_csv(src / ciao.RATINGS_FILE),
        storage.read_csv(src / ciao.TRUST_FILE),
        storage.read_csv(src / ciao.CATEGORIES_FILE),
    )


def load_hm(src: Path) -> dict[str, pa.Table]:
    """H&M sample Parquet files and JPEGs in ``src`` -> contract tables."""
    images = src / hm.IMAGES_DIR
    return hm.adapt_hm(
        storage.read_parquet(src / hm.ARTICLES_FILE),
        storage.read_parquet(src / hm.CUSTOMERS_FILE),
        storage.read_parquet(src / hm.TRANSACTIONS_FILE),
        lambda key: storage.read_bytes_if_exists(images / f"{key}.jpg"),
    )


ADAPTERS: dict[str, Callable[[Path], dict[str, pa.Table]]] = {
    "amazon": load_amazon,
    "amazon2014": load_amazon2014,
    "ciao": load_ciao,
    "hm": load_hm,
}


def adapt(source: str, src: Path, out: Path) -> dict[str, int]:
    """Run adapter ``source`` on ``src`` and write the tables under ``out``; returns row counts.

    Raises:
        KeyError: for an unknown source name (naming the known ones).
        storage.SourceFileError: when a source file is missing or unreadable.
    """
    if source not in ADAPTERS:
        raise KeyError(f"unknown source {source!r}; known: {sorted(ADAPTERS)}")
    counts = storage.write_tables(out, ADAPTERS[source](src))
    storage.write_meta(
        out,
        {"adapter": source, "source": str(src), "schema_version": SCHEMA_VERSION, "rows": counts},
    )
    logger.info("adapted source=%s src=%s out=%s rows=%s", source, src, out, counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments, configure logging, adapt; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m components.sources.adapt")
    parser.add_argument("source", choices=sorted(ADAPTERS))
    parser.add_argument("--src", type=Path, required=True, help="folder holding the source files")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the raw tables")
    args = parser.parse_args(argv)
    try:
        adapt(args.source, args.src, args.out)
    except storage.SourceFileError as err:
        logger.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
