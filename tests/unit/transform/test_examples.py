import pyarrow as pa

from components.transform.examples import build_examples, build_requests, item_text
from schemas import EVENTS, ITEMS
from schemas.features import QUERY_FEATURES, example_arrow_schema
from schemas.tables import DESCRIPTION, EVENT_TYPE, ITEM_ID, TITLE, USER_ID, VALUE


def items():
    rows = {ITEM_ID: ["i1", "i2"], TITLE: ["Red  Mug", None], DESCRIPTION: [None, "soft wool"]}
    return pa.table({c.name: pa.array(rows.get(c.name, [None, None]), c.type) for c in ITEMS})


def events(rows):
    cols = {name: [r.get(name) for r in rows] for name in EVENTS.names}
    return pa.table(
        {
            c.name: pa.array(cols[c.name], c.type)
            for c in EVENTS
            if c.name in (USER_ID, ITEM_ID, EVENT_TYPE, VALUE)
        }
    )


def test_item_text_joins_title_and_description_without_nulls():
    assert item_text(items())["item_text"].to_pylist() == ["Red  Mug", "soft wool"]


def test_examples_keep_event_order_labels_and_text():
    ev = events(
        [
            {USER_ID: "u2", ITEM_ID: "i2", EVENT_TYPE: "rating", VALUE: 4.0},
            {USER_ID: "u1", ITEM_ID: "i1", EVENT_TYPE: "click"},
            {USER_ID: "u1", ITEM_ID: "i9", EVENT_TYPE: "purchase"},  # not in the catalog
        ]
    )
    out = build_examples(ev, items())
    assert out.schema == example_arrow_schema()
    assert out.to_pylist() == [
        {"user_id": [b"u2"], "item_id": [b"i2"], "item_text": [b"soft wool"], "label": [4.0]},
        {"user_id": [b"u1"], "item_id": [b"i1"], "item_text": [b"Red  Mug"], "label": [1.0]},
        {"user_id": [b"u1"], "item_id": [b"i9"], "item_text": [b""], "label": [1.0]},
    ]


def test_requests_are_one_sorted_row_per_user_with_query_features_only():
    ev = events(
        [
            {USER_ID: "u2", ITEM_ID: "i1", EVENT_TYPE: "view"},
            {USER_ID: "u1", ITEM_ID: "i2", EVENT_TYPE: "view"},
            {USER_ID: "u2", ITEM_ID: "i2", EVENT_TYPE: "click"},
        ]
    )
    out = build_requests(ev)
    assert out.column_names == list(QUERY_FEATURES)
    assert out[USER_ID].to_pylist() == ["u1", "u2"]
