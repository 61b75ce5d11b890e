import pyarrow as pa
import pytest

from components.sources.amazon import parse_price
from components.sources.assemble import age_bucket, build_table, category_path
from schemas import tables


@pytest.mark.parametrize(
    ("text", "price"),
    [("$29.99", 29.99), ("$1,250.00", 1250.0), (" $7 ", 7.0), ("", None), ("$10 - $20", None),
     (".a-box-inner{color:#fff}", None), (None, None), (12, None)],
)  # fmt: skip
def test_parse_price(text, price):
    assert parse_price(text) == price


def test_category_path_drops_blank_levels_and_escapes_separator():
    assert category_path(["Gift Cards", "</span>", "Leggings/Tights", None]) == (
        "Gift Cards/Leggings-Tights"
    )
    assert category_path([]) is None


@pytest.mark.parametrize(
    ("age", "band"),
    [(17, "<18"), (18, "18-24"), (24, "18-24"), (25, "25-34"), (64, "55-64"), (65, "65+"),
     (None, None), (float("nan"), None), (-1, None)],
)  # fmt: skip
def test_age_bucket(age, band):
    assert age_bucket(age) == band


def test_build_table_fills_absent_columns_with_nulls():
    out = build_table(tables.ITEMS, {tables.ITEM_ID: ["a", "b"], tables.PRICE: [1.5, None]})
    assert out.schema == tables.ITEMS.arrow_schema()
    assert out.column(tables.TITLE).null_count == 2
    assert out.column(tables.PRICE).to_pylist() == [1.5, None]


def test_build_table_rejects_unknown_column_and_ragged_lengths():
    with pytest.raises(KeyError, match="no column"):
        build_table(tables.ITEMS, {"nope": [1]})
    with pytest.raises(ValueError, match="differ in length"):
        build_table(tables.ITEMS, {tables.ITEM_ID: ["a"], tables.TITLE: pa.array(["x", "y"])})
