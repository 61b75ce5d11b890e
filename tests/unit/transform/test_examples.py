import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from components.transform.examples import (
    Context,
    build_catalog,
    build_examples,
    build_requests,
    item_text,
    labels,
    request_users,
)
from components.transform.relations import ranked_relations
from schemas import EVENTS, ITEM_RELATIONS, ITEMS, REVIEWS, USER_RELATIONS, USERS
from schemas import features as fs
from schemas.tables import (
    DESCRIPTION,
    DST_ITEM,
    DST_USER,
    EVENT_TYPE,
    ITEM_ID,
    KIND,
    QUERY,
    RATING,
    SRC_ITEM,
    SRC_USER,
    TEXT,
    TITLE,
    TS,
    USER_ID,
    VALUE,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def at(day: float) -> dt.datetime:
    return T0 + dt.timedelta(days=day)


def us(day: float) -> int:
    return int(at(day).timestamp() * 1_000_000)


def table(schema_table, rows):
    return pa.table(
        {c.name: pa.array([r.get(c.name) for r in rows], c.type) for c in schema_table},
        schema=schema_table.arrow_schema(),
    )


EVENT_ROWS = [
    {USER_ID: "u1", ITEM_ID: "i1", EVENT_TYPE: "view", TS: at(1), QUERY: "red mug"},
    {USER_ID: "u1", ITEM_ID: "i2", EVENT_TYPE: "purchase", TS: at(2)},
    {USER_ID: "u2", ITEM_ID: "i2", EVENT_TYPE: "view", TS: at(2.5)},
    {USER_ID: "u1", ITEM_ID: "i3", EVENT_TYPE: "rating", VALUE: 5.0, TS: at(3)},
]


def context(events=EVENT_ROWS):
    return Context(
        users=table(USERS, [{USER_ID: "u1", "country": "FR"}, {USER_ID: "u2"}]),
        items=table(
            ITEMS,
            [
                {ITEM_ID: "i1", TITLE: "Red Mug"},
                {ITEM_ID: "i2"},
                {ITEM_ID: "i3", DESCRIPTION: "soft wool"},
            ],
        ),
        events=table(EVENTS, events),
        reviews=table(
            REVIEWS, [{USER_ID: "u1", ITEM_ID: "i2", RATING: 4.0, TEXT: "great gift", TS: at(2.2)}]
        ),
        user_links=table(
            USER_RELATIONS, [{SRC_USER: "u1", DST_USER: "u2", KIND: "follow", TS: at(0.5)}]
        ),
        item_links=table(ITEM_RELATIONS, [{SRC_ITEM: "i1", DST_ITEM: "i2", KIND: "also_bought"}]),
    )


def values(rows: pa.Table, name: str) -> list:
    return [v[0] if fs.feature(name).length is None else v for v in rows[name].to_pylist()]


def test_item_text_joins_title_and_description_without_nulls():
    items = context().items
    assert item_text(items).to_pylist() == ["Red Mug", "", "soft wool"]


def test_labels_mark_purchases_carts_and_good_ratings():
    label, weight = labels(context().events)
    assert label.to_pylist() == [0.0, 1.0, 0.0, 1.0]
    assert weight.to_pylist() == [1.0] * 4


def test_an_example_sees_only_what_happened_before_its_event():
    ctx = context()
    ex = build_examples(ctx, ctx.events)
    assert ex.schema == fs.example_arrow_schema()
    # The rating of i3 by u1 at day 3 (the fourth event):
    hist = values(ex, fs.HIST_ITEM_IDS)[3]
    assert hist[:3] == [b"i2", b"i1", b""]  # most recent first, padded
    assert values(ex, fs.HIST_EVENT_TYPES)[3][:2] == [b"purchase", b"view"]
    assert values(ex, fs.HIST_AGE_DAYS)[3][:3] == pytest.approx([1.0, 2.0, -1.0])
    assert values(ex, fs.N_EVENTS)[3] == 2.0 and values(ex, fs.N_PURCHASES)[3] == 1.0
    assert values(ex, fs.USER_TEXT)[3] == b"great gift red mug"  # review (2.2), query (1)
    assert values(ex, fs.FRIEND_IDS)[3][:2] == [b"u2", b""]
    assert values(ex, fs.FRIEND_ITEM_IDS)[3][0] == b"i2"  # u2 viewed i2 at day 2.5
    assert values(ex, "country")[3] == b"FR"
    # The very first event has no history at all, and a defined (empty) one.
    assert values(ex, fs.N_EVENTS)[0] == 0.0 and values(ex, fs.USER_TEXT)[0] == b""


def test_catalog_rows_hold_content_and_placeholder_queries():
    cat = build_catalog(context())
    assert values(cat, USER_ID) == [b"", b"", b""]
    assert values(cat, fs.ITEM_TEXT) == [b"Red Mug", b"", b"soft wool"]
    assert values(cat, fs.NEIGHBOR_ITEM_IDS)[0][:2] == [b"i2", b""]


def test_requests_for_an_unknown_user_are_defined_and_empty():
    req = build_requests(context(), pa.array(["nobody"]), us(10))
    assert req.schema == fs.request_arrow_schema()
    row = req.to_pylist()[0]
    assert row[fs.N_EVENTS] == 0.0 and set(row[fs.HIST_ITEM_IDS]) == {""}


def test_no_feature_depends_on_anything_at_or_after_its_cut_off():
    """Leakage: adding events at or after a cut-off changes no request or example before it."""
    rng = np.random.default_rng(0)
    later = [
        {
            USER_ID: str(rng.choice(["u1", "u2"])),
            ITEM_ID: str(rng.choice(["i1", "i2", "i3"])),
            EVENT_TYPE: str(rng.choice(["view", "purchase"])),
            TS: at(3 + rng.random() * 5),
            QUERY: "leak",
        }
        for _ in range(50)
    ]
    base, grown = context(), context(EVENT_ROWS + later)
    users = pa.array(["u1", "u2"])
    assert build_requests(base, users, us(3)).equals(build_requests(grown, users, us(3)))
    window = base.events  # the original four events: features strictly before each of them
    assert build_examples(base, window).equals(build_examples(grown, window))
    # ...and the check can fail: a cut-off after the new events does see them.
    assert not build_requests(base, users, us(9)).equals(build_requests(grown, users, us(9)))


def test_examples_are_first_interactions_labelled_by_whether_the_pair_converts():
    funnel = [
        {USER_ID: "u1", ITEM_ID: "i1", EVENT_TYPE: "view", TS: at(1)},
        {USER_ID: "u1", ITEM_ID: "i1", EVENT_TYPE: "click", TS: at(1.1)},
        {USER_ID: "u1", ITEM_ID: "i1", EVENT_TYPE: "purchase", TS: at(1.2)},
        {USER_ID: "u1", ITEM_ID: "i2", EVENT_TYPE: "view", TS: at(2)},
    ]
    ctx = context(funnel)
    ex = build_examples(ctx, ctx.events)
    assert values(ex, ITEM_ID) == [b"i1", b"i2"]  # the click and purchase of i1 are not examples
    assert values(ex, fs.LABEL) == [1.0, 0.0]  # i1 converted later in the window; i2 did not
    assert values(ex, fs.HIST_ITEM_IDS)[1][:3] == [b"i1", b"i1", b"i1"]


def test_a_data_set_without_links_or_reviews_gives_defined_empty_features():
    """Real sets lack whole tables (Amazon: no user links): features are padding, not a crash."""
    full = context()
    bare = Context(
        users=full.users, items=full.items, events=full.events,
        reviews=full.reviews.slice(0, 0), user_links=full.user_links.slice(0, 0),
        item_links=full.item_links.slice(0, 0),
    )  # fmt: skip
    ex = build_examples(bare, bare.events)
    assert {tuple(v) for v in values(ex, fs.FRIEND_IDS)} == {(b"",) * fs.FRIENDS_LEN}
    assert {tuple(v) for v in values(ex, fs.FRIEND_ITEM_IDS)} == {(b"",) * fs.FRIEND_ITEMS_LEN}
    neighbors = values(build_catalog(bare), fs.NEIGHBOR_ITEM_IDS)
    assert {tuple(v) for v in neighbors} == {(b"",) * fs.NEIGHBORS_LEN}
    assert values(ex, fs.USER_TEXT)[3] == b"red mug"  # the query is still there


def test_examples_carry_their_event_day():
    ctx = context()
    days = values(build_examples(ctx, ctx.events), fs.EVENT_DAY)
    assert days == pytest.approx([us(d) / 86_400e6 for d in (1, 2, 2.5, 3)])


def test_every_known_user_gets_a_request_history_or_not():
    ctx = context()
    # At day 1.5 only u1 has an event; u2 (in the users table) gets a request all the same.
    assert request_users(ctx, us(1.5)).to_pylist() == ["u1", "u2"]


def test_relations_are_ranked_within_their_source_and_kind():
    links = table(ITEM_RELATIONS, [
        {SRC_ITEM: "i1", DST_ITEM: "i2", KIND: "also_bought"},
        {SRC_ITEM: "i1", DST_ITEM: "i3", KIND: "also_viewed"},
        {SRC_ITEM: "i1", DST_ITEM: "i3", KIND: "also_bought"},
        {SRC_ITEM: "i2", DST_ITEM: "i1", KIND: "also_bought"},
    ])  # fmt: skip
    assert ranked_relations(links)["rank"].to_pylist() == [0, 0, 1, 0]
