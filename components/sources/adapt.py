"""Adapt a real public data set (read in place) into the raw contract layout.

Usage::

    python -m components.sources.adapt {amazon,amazon2014,ciao,hm} --src DIR --out DIR
    python -m components.sources.adapt amazon --src DIR --category Gift_Cards --out DIR
    python -m components.sources.adapt amazon --reviews R_5.json.gz --meta meta_R.json.gz --out DIR

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


# The files each adapter reads from --src (``--help`` prints these).
WANTED = {
    "amazon": f"{amazon.WANTED} (any category of the 2018 release; or --reviews/--meta)",
    "amazon2014": f"{amazon2014.INTERACTIONS_FILE} + {amazon2014.ITEMS_FILE}",
    "ciao": f"{ciao.RATINGS_FILE} + {ciao.TRUST_FILE} + {ciao.CATEGORIES_FILE}",
    "hm": f"{hm.ARTICLES_FILE} + {hm.CUSTOMERS_FILE} + {hm.TRANSACTIONS_FILE} + {hm.IMAGES_DIR}/",
}


def find_amazon_files(
    src: Path | None,
    *,
    category: str | None = None,
    reviews: Path | None = None,
    meta: Path | None = None,
) -> tuple[str, Path, Path]:
    """``(category, reviews file, metadata file)`` of an Amazon 2018 category.

    Given both ``reviews`` and ``meta``, those; else the pair in ``src`` for ``category``, or
    the only category in ``src`` when none is named.

    Raises:
        storage.SourceFileError: a file is missing, or ``src`` holds no category, another one
            than ``category``, or several and none was named (the message lists what is there).
    """
    if reviews is not None or meta is not None:
        if reviews is None or meta is None:
            raise storage.SourceFileError("amazon: give both --reviews and --meta, or --src")
        for path in (reviews, meta):
            if not path.is_file():
                raise storage.SourceFileError(f"{path}: no such file")
        name = reviews.name
        given = name[: -len(amazon.REVIEWS_SUFFIX)] if name.endswith(amazon.REVIEWS_SUFFIX) else ""
        return category or given or name, reviews, meta
    if src is None or not src.is_dir():
        raise storage.SourceFileError(f"{src}: no such folder (amazon wants {amazon.WANTED})")
    names = sorted(p.name for p in src.iterdir())
    found = amazon.categories_in(names)
    if category is not None and category not in found:
        raise storage.SourceFileError(
            f"{src}: no {amazon.reviews_file(category)} + {amazon.meta_file(category)}; "
            f"categories here: {found or 'none'} (files: {', '.join(names) or 'none'})"
        )
    if category is None:
        if not found:
            raise storage.SourceFileError(
                f"{src}: no Amazon 2018 category: wants {amazon.WANTED}; "
                f"files here: {', '.join(names) or 'none'}"
            )
        if len(found) > 1:
            raise storage.SourceFileError(
                f"{src}: {len(found)} categories ({', '.join(found)}): name one with --category"
            )
        category = found[0]
    return category, src / amazon.reviews_file(category), src / amazon.meta_file(category)


def load_amazon(
    src: Path | None,
    *,
    category: str | None = None,
    reviews: Path | None = None,
    meta: Path | None = None,
) -> dict[str, pa.Table]:
    """Amazon 2018 reviews + metadata of one category -> tables (see ``find_amazon_files``)."""
    category, reviews, meta = find_amazon_files(src, category=category, reviews=reviews, meta=meta)
    logger.info("amazon category=%s reviews=%s meta=%s", category, reviews, meta)
    records = list(storage.read_json_lines_gz(meta))
    facts = amazon.describe_meta(records)
    logger.info(
        "amazon metadata %s",
        " ".join(f"{k}={v}" for k, v in facts.items()),
    )
    return amazon.adapt_amazon(storage.read_json_lines_gz(reviews), records)


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


def adapt(
    source: str,
    src: Path | None,
    out: Path,
    *,
    category: str | None = None,
    reviews: Path | None = None,
    meta: Path | None = None,
) -> dict[str, int]:
    """Run adapter ``source`` on ``src`` and write the tables under ``out``; returns row counts.

    ``category``, ``reviews`` and ``meta`` choose the Amazon 2018 files (``find_amazon_files``).

    Raises:
        KeyError: for an unknown source name (naming the known ones).
        ValueError: ``category``/``reviews``/``meta`` given to another adapter than amazon.
        storage.SourceFileError: when a source file is missing or unreadable.
    """
    if source not in ADAPTERS:
        raise KeyError(f"unknown source {source!r}; known: {sorted(ADAPTERS)}")
    chosen = {"category": category, "reviews": reviews, "meta": meta}
    if source == "amazon":
        named = load_amazon(src, **chosen)
    elif any(v is not None for v in chosen.values()):
        raise ValueError(f"--category, --reviews and --meta are for amazon, not {source}")
    else:
        if src is None:
            raise storage.SourceFileError(f"{source}: --src is required (wants {WANTED[source]})")
        named = ADAPTERS[source](src)
    counts = storage.write_tables(out, named)
    storage.write_meta(
        out,
        {
            "adapter": source,
            "source": str(src if src is not None else reviews),
            "schema_version": SCHEMA_VERSION,
            "rows": counts,
        },
    )
    logger.info("adapted source=%s src=%s out=%s rows=%s", source, src, out, counts)
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse arguments, configure logging, adapt; returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m components.sources.adapt",
        description="Adapt a real public data set, read in place, into the raw contract layout.",
        epilog="files each source reads from --src:\n"
        + "\n".join(f"  {name:<11} {wanted}" for name, wanted in WANTED.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", choices=sorted(ADAPTERS))
    parser.add_argument("--src", type=Path, help="folder holding the source files")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the raw tables")
    amazon_files = parser.add_argument_group(
        "amazon (2018)", f"by default the only category in --src with {amazon.WANTED}"
    )
    amazon_files.add_argument(
        "--category", help="the category to read when --src holds several, e.g. Gift_Cards"
    )
    amazon_files.add_argument("--reviews", type=Path, help="a reviews file (JSON Lines, gzip)")
    amazon_files.add_argument("--meta", type=Path, help="its metadata file (JSON Lines, gzip)")
    args = parser.parse_args(argv)
    try:
        adapt(
            args.source,
            args.src,
            args.out,
            category=args.category,
            reviews=args.reviews,
            meta=args.meta,
        )
    except ValueError as err:
        parser.error(str(err))
    except storage.SourceFileError as err:
        logger.error("%s", err)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
