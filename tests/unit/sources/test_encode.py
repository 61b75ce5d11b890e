import base64
import json

import pyarrow as pa

from components.sources.encode import to_csv, to_jsonl
from schemas import tables


def _items() -> pa.Table:
    return pa.Table.from_pydict(
        {
            tables.ITEM_ID: ["i1", "i2"],
            tables.TITLE: ["red, cup", None],
            tables.DESCRIPTION: [None, None],
            tables.CATEGORY: [None, None],
            tables.BRAND: [None, None],
            tables.PRICE: [2.5, None],
            tables.IMAGE_BYTES: [b"\x89PNG", None],
            tables.IMAGE_URI: [None, None],
            tables.IMAGE_EMBEDDING: [[0.5, -1.0], None],
        },
        schema=tables.ITEMS.arrow_schema(),
    )


def test_jsonl_encodes_bytes_lists_nulls_and_overrides():
    lines = to_jsonl(_items(), [(1, tables.PRICE, "abc")]).splitlines()
    first, second = (json.loads(line) for line in lines)
    assert list(first) == tables.ITEMS.names
    assert first[tables.IMAGE_BYTES] == base64.b64encode(b"\x89PNG").decode()
    assert first[tables.IMAGE_EMBEDDING] == [0.5, -1.0]
    assert first[tables.PRICE] == 2.5
    assert second[tables.PRICE] == "abc"
    assert second[tables.TITLE] is None


def test_csv_has_header_quotes_commas_and_empty_nulls():
    text = to_csv(_items())
    header, first, second = text.splitlines()
    assert header.split(",") == tables.ITEMS.names
    assert first == 'i1,"red, cup",,,,2.5,iVBORw==,,"[0.5,-1.0]"'
    assert second == "i2,,,,,,,,"


def test_timestamps_are_iso_utc_whole_seconds():
    events = pa.Table.from_pydict(
        {
            tables.USER_ID: ["u"],
            tables.ITEM_ID: ["i"],
            tables.EVENT_TYPE: ["view"],
            tables.TS: pa.array([1_704_449_472_500_000]).cast(tables.EVENTS.column(tables.TS).type),
            tables.VALUE: [None],
            tables.DWELL_S: [None],
            tables.SESSION_ID: [None],
            tables.QUERY: [None],
        },
        schema=tables.EVENTS.arrow_schema(),
    )
    assert json.loads(to_jsonl(events))[tables.TS] == "2024-01-05T10:11:12Z"
