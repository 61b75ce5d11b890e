from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from components.sources import adapt, amazon, amazon2014, ciao, hm
from schemas import table, tables

DATA = Path(__file__).parents[3].parent / "shared" / "data"
needs_data = pytest.mark.skipif(
    not DATA.is_dir(), reason=f"real data sets not found at {DATA} (../shared/data)"
)


def _review(user: str, asin: str, overall: float, text: str | None = "ok") -> dict:
    record = {"reviewerID": user, "asin": asin, "overall": overall, "unixReviewTime": 1_500_000_000}
    if text is not None:
        record["reviewText"] = text
    return record


def test_amazon_keeps_reviewed_items_missing_from_meta_and_dangling_relations():
    meta = [{"asin": "A", "title": "<b>Card</b>", "price": "$5.00", "category": ["Gift", "Cards"],
             "description": ["one", "<p>two</p>"], "also_buy": ["B", "Z"], "also_view": [],
             "imageURL": ["u1"], "imageURLHighRes": []}]  # fmt: skip
    reviews = [_review("u1", "A", 5.0), _review("u2", "B", 1.0, text=None)]
    out = amazon.adapt_amazon(reviews, meta)
    items = out[tables.ITEMS.name].to_pylist()
    assert [i[tables.ITEM_ID] for i in items] == ["A", "B"]
    assert items[0][tables.TITLE] == "Card" and items[0][tables.DESCRIPTION] == "one two"
    assert items[0][tables.CATEGORY] == "Gift/Cards" and items[0][tables.PRICE] == 5.0
    assert items[0][tables.IMAGE_URI] == "u1" and items[1][tables.TITLE] is None
    assert out[tables.ITEM_RELATIONS.name].column(tables.DST_ITEM).to_pylist() == ["B", "Z"]
    assert out[tables.REVIEWS.name].column(tables.TEXT).to_pylist() == ["ok", ""]
    events = out[tables.EVENTS.name].to_pylist()
    assert [(e[tables.EVENT_TYPE], e[tables.VALUE]) for e in events] == [
        ("rating", 5.0),
        ("rating", 1.0),
    ]
    assert events[0][tables.TS].year == 2017


def test_ciao_keeps_zero_ratings_and_duplicates():
    ratings = pa.table({"user_id": [1, 1, 2], "item_id": [10, 10, 11], "category_id": [1, 1, 2],
                        "rating": [0, 0, 5], "helpfulness": [1, 1, 1],
                        "timestamp": [0, 0, 86_400]})  # fmt: skip
    trust = pa.table({"src_user_id": [1], "dst_user_id": [3]})
    categories = pa.table({"category_id": [1, 2], "category_name": ["DVDs", "Books"]})
    out = ciao.adapt_ciao(ratings, trust, categories)
    assert out[tables.USERS.name].column(tables.USER_ID).to_pylist() == ["1", "2", "3"]
    assert out[tables.ITEMS.name].select([tables.ITEM_ID, tables.CATEGORY]).to_pylist() == [
        {tables.ITEM_ID: "10", tables.CATEGORY: "DVDs"},
        {tables.ITEM_ID: "11", tables.CATEGORY: "Books"},
    ]
    assert out[tables.EVENTS.name].column(tables.VALUE).to_pylist() == [0.0, 0.0, 5.0]
    edge = out[tables.USER_RELATIONS.name].to_pylist()[0]
    assert (edge[tables.KIND], edge[tables.TS]) == ("trust", None)


def test_hm_pads_ids_averages_prices_and_loads_images():
    articles = pa.table({"article_id": [123, 456], "prod_name": ["Tee", "Sock"],
                         "detail_desc": ["soft", None], "index_group_name": ["Men", "Men"],
                         "product_group_name": ["Upper", "Socks"],
                         "product_type_name": ["T/shirt", "Sock"]})  # fmt: skip
    customers = pa.table({"customer_id": ["c1"], "age": [None]}, schema=pa.schema(
        [("customer_id", pa.string()), ("age", pa.int64())]))  # fmt: skip
    transactions = pa.table({"t_dat": ["2020-01-02", "2020-01-03"], "customer_id": ["c1", "c1"],
                             "article_id": [123, 123], "price": [0.1, 0.3]})  # fmt: skip
    out = hm.adapt_hm(articles, customers, transactions, {"0000000123": b"jpg"}.get)
    items = out[tables.ITEMS.name].to_pylist()
    assert items[0][tables.ITEM_ID] == "0000000123"
    assert items[0][tables.PRICE] == pytest.approx(0.2) and items[1][tables.PRICE] is None
    assert items[0][tables.CATEGORY] == "Men/Upper/T-shirt"
    assert (items[0][tables.IMAGE_BYTES], items[1][tables.IMAGE_BYTES]) == (b"jpg", None)
    assert out[tables.USERS.name].column(tables.AGE_BUCKET).to_pylist() == [None]
    events = out[tables.EVENTS.name].to_pylist()
    assert [e[tables.TS].day for e in events] == [2, 3]
    assert {e[tables.EVENT_TYPE] for e in events} == {"purchase"}


def test_amazon2014_uses_real_ids_and_keeps_dangling_relations():
    interactions = pa.table({"user_id": ["1", "2", "2"], "item_id": ["10", "11", "12"],
                             "ts": [86_400, 0, 172_800], "user_raw": ["A1", "A2", "A2"],
                             "item_raw": ["B10", "B11", "B12"]})  # fmt: skip
    items = pa.table({"item_id": ["10", "11"], "asin": ["B10", "B11"], "category_l2": ["0", "7"],
                      "text_id": ["red lipstick", " "], "also_bought": ["[11, 99]", "[]"],
                      "also_viewed": ["[10]", None]})  # fmt: skip
    out = amazon2014.adapt_amazon2014(interactions, items)
    assert out[tables.USERS.name].column(tables.USER_ID).to_pylist() == ["A1", "A2"]
    catalog = out[tables.ITEMS.name].select([tables.ITEM_ID, tables.TITLE, tables.CATEGORY])
    assert catalog.to_pylist() == [
        {tables.ITEM_ID: "B10", tables.TITLE: "red lipstick", tables.CATEGORY: None},
        {tables.ITEM_ID: "B11", tables.TITLE: None, tables.CATEGORY: "7"},
        {tables.ITEM_ID: "B12", tables.TITLE: None, tables.CATEGORY: None},  # not in items
    ]
    relations = out[tables.ITEM_RELATIONS.name].select(
        [tables.SRC_ITEM, tables.DST_ITEM, tables.KIND]
    )
    assert [tuple(r.values()) for r in relations.to_pylist()] == [
        ("B10", "B11", "also_bought"), ("B10", "99", "also_bought"), ("B10", "B10", "also_viewed"),
    ]  # fmt: skip
    events = out[tables.EVENTS.name].to_pylist()
    assert [(e[tables.USER_ID], e[tables.ITEM_ID], e[tables.EVENT_TYPE]) for e in events] == [
        ("A1", "B10", "purchase"), ("A2", "B11", "purchase"), ("A2", "B12", "purchase"),
    ]  # fmt: skip
    assert [e[tables.TS].day for e in events] == [2, 1, 3]


def test_amazon2014_integer_ids_when_no_raw_columns():
    interactions = pa.table({"user_id": ["5"], "item_id": ["1"], "ts": [0]})
    items = pa.table({"item_id": ["1", "2"], "category_l2": ["3", "0"],
                      "also_bought": ["[2]", "[]"], "also_viewed": ["[]", "[1, 2]"]})  # fmt: skip
    out = amazon2014.adapt_amazon2014(interactions, items)
    assert out[tables.ITEMS.name].column(tables.ITEM_ID).to_pylist() == ["1", "2"]
    assert out[tables.ITEM_RELATIONS.name].num_rows == 3
    assert out[tables.EVENTS.name].column(tables.USER_ID).to_pylist() == ["5"]


def _written(out: Path) -> dict[str, pa.Table]:
    tables_out = {}
    for folder in sorted(p for p in out.iterdir() if p.is_dir()):
        written = pq.read_table(folder / "part-00000.parquet")
        assert written.schema == table(folder.name).arrow_schema(), folder.name
        tables_out[folder.name] = written
    return tables_out


@needs_data
def test_amazon_real_counts(tmp_path):
    adapt.adapt("amazon", DATA / "amazon2018-giftcards", tmp_path)
    out = _written(tmp_path)
    rows = {name: t.num_rows for name, t in out.items()}
    assert rows == {"events": 2_972, "item_relations": 21_681 + 34_098, "items": 1_547,
                    "reviews": 2_972, "users": 458}  # fmt: skip
    texts = out["reviews"].column(tables.TEXT)
    assert pc.sum(pc.equal(texts, "")).as_py() == 6
    assert out["items"].column(tables.PRICE).null_count == 1_547 - 358  # 4 of 362 unparseable


@needs_data
@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("amazon2014-grocery", {"users": 14_681, "items": 8_713, "events": 151_254,
                                "item_relations": 248_444 + 124_933}),
        ("amazon2014-beauty", {"users": 22_363, "items": 12_101, "events": 153_776,
                               "item_relations": 239_345 + 155_350}),
    ],
)  # fmt: skip
def test_amazon2014_real_counts(tmp_path, name, rows):
    assert adapt.adapt("amazon2014", DATA / name, tmp_path) == rows
    out = _written(tmp_path)
    # Every related id resolves to a catalog item (no dangling relation in either set).
    catalog = out["items"].column(tables.ITEM_ID)
    assert pc.all(pc.is_in(out["item_relations"].column(tables.DST_ITEM), catalog)).as_py()


@needs_data
def test_ciao_real_counts(tmp_path):
    counts = adapt.adapt("ciao", DATA / "ciao", tmp_path)
    assert counts == {"users": 7_375, "items": 105_114, "events": 284_086,
                      "user_relations": 111_781}  # fmt: skip
    events = _written(tmp_path)["events"]
    assert pc.sum(pc.equal(events.column(tables.VALUE), 0.0)).as_py() == 34


@needs_data
def test_hm_real_counts(tmp_path):
    counts = adapt.adapt("hm", DATA / "hm-sample", tmp_path)
    assert counts == {"users": 4_946, "items": 1_000, "events": 5_000}
    items = _written(tmp_path)["items"]
    assert items.column(tables.IMAGE_BYTES).null_count == 900
    assert items.column(tables.PRICE).null_count == 1_000 - 606


def test_adapt_cli_reports_missing_files(tmp_path):
    assert adapt.main(["hm", "--src", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
