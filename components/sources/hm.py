"""H&M sample (articles, customers, transactions, product JPEGs) -> raw contract tables.

Item ids are the Kaggle form of ``article_id``: zero-padded to 10 digits, which is also the image
file name. Prices are the mean transaction price (Kaggle-scaled), null for articles never bought.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from components.sources.assemble import age_bucket, build_table, category_path
from schemas import TIMESTAMP, tables

ARTICLES_FILE = "articles_sample.parquet"
CUSTOMERS_FILE = "customers_sample.parquet"
TRANSACTIONS_FILE = "transactions_sample.parquet"
IMAGES_DIR = "images"
ARTICLE_ID_WIDTH = 10
# Source column names (H&M's, not the contract's).
ARTICLE_ID, PROD_NAME, DETAIL_DESC = "article_id", "prod_name", "detail_desc"
CATEGORY_LEVELS = ("index_group_name", "product_group_name", "product_type_name")
CUSTOMER_ID, AGE, T_DAT, TX_PRICE = "customer_id", "age", "t_dat", "price"


def article_key(article_id: int) -> str:
    """Kaggle's article id string: ``255396018`` -> ``"0255396018"``."""
    return f"{article_id:0{ARTICLE_ID_WIDTH}d}"


def _keys(values: pa.ChunkedArray) -> list[str]:
    return [article_key(a) for a in values.to_pylist()]


def mean_prices(transactions: pa.Table) -> dict[int, float]:
    """Mean transaction price per article id."""
    grouped = transactions.group_by(ARTICLE_ID, use_threads=False).aggregate([(TX_PRICE, "mean")])
    return dict(
        zip(
            grouped.column(ARTICLE_ID).to_pylist(),
            grouped.column(f"{TX_PRICE}_mean").to_pylist(),
            strict=True,
        )
    )


def adapt_hm(
    articles: pa.Table,
    customers: pa.Table,
    transactions: pa.Table,
    load_image: Callable[[str], bytes | None],
) -> dict[str, pa.Table]:
    """Contract tables from the H&M sample.

    Args:
        articles: ``articles_sample`` (article_id, prod_name, detail_desc, index_group_name,
            product_group_name, product_type_name, ...).
        customers: ``customers_sample`` (customer_id, age, ...).
        transactions: ``transactions_sample`` (t_dat ``YYYY-MM-DD``, customer_id, article_id,
            price).
        load_image: JPEG bytes for a 10-digit article id, or None when there is no image.

    Returns:
        ``items`` (title, description, category path, mean price, JPEG bytes), ``users`` (age
        band; unknown ages stay null) and ``events`` (one purchase per transaction row, at
        midnight UTC of its day, no session).
    """
    prices = mean_prices(transactions)
    article_ids = articles.column(ARTICLE_ID).to_pylist()
    keys = [article_key(a) for a in article_ids]
    levels = [articles.column(name).to_pylist() for name in CATEGORY_LEVELS]
    categories = [category_path(parts) for parts in zip(*levels, strict=True)]
    items = {
        tables.ITEM_ID: keys,
        tables.TITLE: articles.column(PROD_NAME),
        tables.DESCRIPTION: articles.column(DETAIL_DESC),
        tables.CATEGORY: categories,
        tables.PRICE: [prices.get(a) for a in article_ids],
        tables.IMAGE_BYTES: [load_image(k) for k in keys],
    }
    users = {
        tables.USER_ID: customers.column(CUSTOMER_ID),
        tables.AGE_BUCKET: [age_bucket(a) for a in customers.column(AGE).to_pylist()],
    }
    days = pc.strptime(transactions.column(T_DAT), format="%Y-%m-%d", unit="us")
    events = {
        tables.USER_ID: transactions.column(CUSTOMER_ID),
        tables.ITEM_ID: _keys(transactions.column(ARTICLE_ID)),
        tables.EVENT_TYPE: ["purchase"] * transactions.num_rows,
        tables.TS: pc.assume_timezone(days, timezone="UTC").cast(TIMESTAMP),
    }
    return {
        tables.USERS.name: build_table(tables.USERS, users),
        tables.ITEMS.name: build_table(tables.ITEMS, items),
        tables.EVENTS.name: build_table(tables.EVENTS, events),
    }
