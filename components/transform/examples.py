"""Raw feature rows: training examples, catalog rows and serving requests (pure pyarrow/numpy).

- An example is one interaction in a window: the user's context strictly before the event, the
  item, a label and a weight.
- A catalog row is one item with its static content (text, category, brand, price, image,
  neighbours); the trainer gathers static candidate features from these rows, and the export
  indexes them.
- A serving request is one user's context as of a cut-off: exactly the query features.

Examples and catalog rows share one schema (every feature present, placeholders where a row has
nothing to say), because tensorflow-transform analyzes and transforms them as one dataset.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.transform.behavior import user_behavior
from components.transform.codes import dictionary_of, encode, fixed_string_lists, micros
from components.transform.embeddings import fixed_width_embeddings
from components.transform.relations import item_neighbors, last_items, user_neighbors
from components.transform.text import user_texts
from components.transform.timeline import lookback
from schemas import ITEMS
from schemas import features as fs
from schemas.features import FRIEND_ITEMS_LEN
from schemas.tables import (
    AGE_BUCKET,
    BRAND,
    CATEGORY,
    COUNTRY,
    DESCRIPTION,
    DST_ITEM,
    DST_USER,
    EVENT_TYPE,
    IMAGE_BYTES,
    IMAGE_EMBEDDING,
    ITEM_ID,
    PRICE,
    SRC_ITEM,
    SRC_USER,
    TITLE,
    TS,
    USER_ID,
    VALUE,
)

POSITIVE_EVENTS = ("purchase", "cart")
DAY_US = 86_400 * 1_000_000
RATING_EVENT = "rating"
GOOD_RATING = 4.0


@dataclasses.dataclass(frozen=True)
class Context:
    """The canonical tables features are computed from, with id code books.

    ``events`` and ``reviews`` may span several windows: every lookup only sees rows strictly
    before its own time, so passing later rows cannot leak (a test proves it). The id code books
    are computed once per context (each is a pass over all events).
    """

    users: pa.Table
    items: pa.Table
    events: pa.Table
    reviews: pa.Table
    user_links: pa.Table
    item_links: pa.Table

    @functools.cached_property
    def user_dictionary(self) -> pa.Array:
        """Code book of every user id in the tables."""
        return dictionary_of(
            self.users[USER_ID],
            self.events[USER_ID],
            self.reviews[USER_ID],
            self.user_links[SRC_USER],
            self.user_links[DST_USER],
        )

    @functools.cached_property
    def item_dictionary(self) -> pa.Array:
        """Code book of every item id in the tables."""
        return dictionary_of(
            self.items[ITEM_ID],
            self.events[ITEM_ID],
            self.item_links[SRC_ITEM],
            self.item_links[DST_ITEM],
        )


def item_text(items: pa.Table) -> pa.Array:
    """Title and description joined by a space (nulls as empty)."""
    title = pc.fill_null(items[TITLE], "")
    description = pc.fill_null(items[DESCRIPTION], "")
    return pc.utf8_trim_whitespace(pc.binary_join_element_wise(title, description, " "))


def query_features(ctx: Context, users: pa.Array, at: np.ndarray) -> dict[str, pa.Array]:
    """Query-side raw features of each (user, time), from data strictly before the time."""
    out, nearest = own_query_features(ctx, users, at)
    items = last_items(
        ctx.events, nearest, np.repeat(at, FRIEND_ITEMS_LEN), dictionary=ctx.user_dictionary
    )
    out[fs.FRIEND_ITEM_IDS] = fixed_string_lists(items, FRIEND_ITEMS_LEN)
    return out


def own_query_features(
    ctx: Context, users: pa.Array, at: np.ndarray
) -> tuple[dict[str, pa.Array], pa.Array]:
    """Query features from the user's own rows: all but ``friend_item_ids``.

    Returns:
        The features, and the ``[queries * FRIEND_ITEMS_LEN]`` nearest neighbours whose last
        items (``relations.last_items``) make ``friend_item_ids``.
    """
    dictionary = ctx.user_dictionary
    profile = _lookup(ctx.users, USER_ID, users, (COUNTRY, AGE_BUCKET))
    out = {USER_ID: users.cast(pa.string())}
    out[COUNTRY] = pc.fill_null(profile[COUNTRY], "")
    out[AGE_BUCKET] = pc.fill_null(profile[AGE_BUCKET], "")
    out.update(user_behavior(ctx.events, users, at, dictionary=dictionary))
    out[fs.USER_TEXT] = user_texts(ctx.reviews, ctx.events, users, at, dictionary=dictionary)
    neighbors, nearest = user_neighbors(ctx.user_links, users, at, dictionary=dictionary)
    out.update(neighbors)
    return out, nearest


def static_candidate_features(ctx: Context, items: pa.Array) -> dict[str, pa.Array]:
    """Content of each item: text, category, brand, price, image bytes and embedding, neighbours.

    Raises:
        EmbeddingWidthError: an item's image embedding is not ``IMAGE_EMBEDDING_LEN`` wide.
    """
    content = _lookup(
        ctx.items,
        ITEM_ID,
        items,
        (TITLE, DESCRIPTION, CATEGORY, BRAND, PRICE, IMAGE_BYTES, IMAGE_EMBEDDING),
    )
    out = {
        fs.ITEM_TEXT: item_text(content),
        CATEGORY: pc.fill_null(content[CATEGORY], ""),
        BRAND: pc.fill_null(content[BRAND], ""),
        PRICE: pc.fill_null(content[PRICE], 0.0).cast(pa.float32()),
        fs.IMAGE: pc.fill_null(content[IMAGE_BYTES].cast(pa.large_binary()), b""),
        fs.IMAGE_EMBEDDING: fixed_width_embeddings(
            content[IMAGE_EMBEDDING],
            items,
            width=fs.IMAGE_EMBEDDING_LEN,
            column=f"{ITEMS.name}.{IMAGE_EMBEDDING}",
        ),
    }
    out.update(item_neighbors(ctx.item_links, items, dictionary=ctx.item_dictionary))
    return out


def labels(events: pa.Table) -> tuple[pa.Array, pa.Array]:
    """Ranking-head label (1.0 for a purchase, cart or rating >= 4, else 0.0) and weight."""
    kinds = events[EVENT_TYPE]
    good_rating = pc.and_(
        pc.equal(kinds, RATING_EVENT),
        pc.greater_equal(pc.fill_null(events[VALUE], 0.0), GOOD_RATING),
    )
    positive = pc.or_(pc.is_in(kinds, value_set=pa.array(POSITIVE_EVENTS)), good_rating)
    label = pc.cast(positive, pa.float32()).combine_chunks()
    return label, pa.array(np.ones(len(label), np.float32))


def first_interactions(ctx: Context, window: pa.Table) -> np.ndarray:
    """``[rows]`` bool: the event is the user's first ever interaction with that item.

    The funnel (view, click, cart, purchase of one item) would otherwise make most examples'
    target the most recent item of their own history, teaching "recommend what was just seen",
    which evaluation (new items only) never rewards. Measured: with every event as an example the
    full model trailed the ID-only one.
    """
    users, items = ctx.user_dictionary, ctx.item_dictionary

    def pairs(events: pa.Table) -> np.ndarray:
        return encode(events[USER_ID], users) * (len(items) + 1) + encode(events[ITEM_ID], items)

    earlier = lookback(pairs(ctx.events), micros(ctx.events[TS]), pairs(window), micros(window[TS]))
    return earlier.counts == 0


def pair_converted(ctx: Context, window: pa.Table) -> np.ndarray:
    """``[rows]`` 1.0 where the event's (user, item) pair converts anywhere in ``window``.

    Converting is a purchase, a cart or a good rating: the ranking head's label for a first
    interaction.
    """
    users, items = ctx.user_dictionary, ctx.item_dictionary
    pair = encode(window[USER_ID], users) * (len(items) + 1) + encode(window[ITEM_ID], items)
    positive = np.asarray(labels(window)[0].to_numpy(zero_copy_only=False))
    _, inverse = np.unique(pair, return_inverse=True)
    best = np.zeros(inverse.max() + 1 if len(inverse) else 0)
    np.maximum.at(best, inverse, positive)
    return best[inverse].astype(np.float32)


def build_examples(ctx: Context, window: pa.Table) -> pa.Table:
    """One example per first (user, item) interaction in ``window``.

    Features are computed strictly before each event's time; the label says whether the pair
    converted within the window.

    Returns:
        A table with ``schemas.features.example_arrow_schema()``; static candidate features are
        placeholders (the trainer gathers them from the catalog rows by item).
    """
    label = pair_converted(ctx, window)
    first = first_interactions(ctx, window)
    window = window.filter(pa.array(first))
    users = window[USER_ID].combine_chunks()
    items = window[ITEM_ID].combine_chunks()
    at = micros(window[TS])
    columns = query_features(ctx, users, at)
    columns[ITEM_ID] = items.cast(pa.string())
    columns[fs.LABEL] = pa.array(label[first], pa.float32())
    columns[fs.WEIGHT] = pa.array(np.ones(window.num_rows, np.float32))
    columns[fs.EVENT_DAY] = event_days(at)
    return to_feature_table(columns, window.num_rows)


def event_days(at: np.ndarray) -> pa.Array:
    """``[rows]`` float32 days since the epoch of epoch-microsecond times (``EVENT_DAY``)."""
    return pa.array(np.asarray(at, np.float64) / DAY_US, pa.float32())


def example_times(ctx: Context, window: pa.Table) -> np.ndarray:
    """``[examples]`` int64 epoch microseconds of the event of each ``build_examples`` row."""
    return micros(window.filter(pa.array(first_interactions(ctx, window)))[TS])


def build_catalog(ctx: Context) -> pa.Table:
    """One row per catalog item with its content (static: the same at every cut-off).

    Returns:
        A table with ``example_arrow_schema()``; query features are placeholders (user_id "").
    """
    items = ctx.items[ITEM_ID].combine_chunks()
    columns = static_candidate_features(ctx, items)
    columns[ITEM_ID] = items.cast(pa.string())
    return to_feature_table(columns, len(items))


def request_users(ctx: Context, at_micros: int) -> pa.Array:
    """Who gets a serving request as of ``at_micros``: every known user, sorted.

    A user of the users table with no event before the time gets one too: what the model does
    for a user with no history is part of what is judged (their request carries the profile,
    if any, and padding).
    """
    before = pa.array(micros(ctx.events[TS]) < at_micros)
    users = pc.unique(
        pa.concat_arrays(
            [
                ctx.users[USER_ID].combine_chunks().cast(pa.string()),
                ctx.events[USER_ID].combine_chunks().filter(before).cast(pa.string()),
            ]
        )
    )
    return pc.take(users, pc.array_sort_indices(users))


def build_requests(ctx: Context, users: pa.Array, at_micros: int) -> pa.Table:
    """Serving requests: each user's query features as of ``at_micros``.

    Returns:
        A table with ``schemas.features.request_arrow_schema()``, rows in ``users`` order.
    """
    at = np.full(len(users), at_micros, dtype=np.int64)
    columns = query_features(ctx, users, at)
    schema = fs.request_arrow_schema()
    return pa.table({f.name: columns[f.name].cast(f.type) for f in schema}, schema=schema)


def to_feature_table(columns: dict[str, pa.Array], rows: int) -> pa.Table:
    """Every declared feature as a large list column; absent features become placeholders."""
    schema = fs.example_arrow_schema()
    arrays = []
    for feature, field in zip(fs.FEATURES, schema, strict=True):
        value_type = field.type.value_type
        column = columns.get(feature.name)
        if column is None:
            column = _placeholder(feature, rows)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if feature.length is None:
            flat = column.cast(value_type)
            offsets = pa.array(np.arange(rows + 1, dtype=np.int64))
        else:
            flat = column.flatten().cast(value_type)
            offsets = pa.array(
                np.arange(0, rows * feature.length + 1, feature.length, dtype=np.int64)
            )
        arrays.append(pa.LargeListArray.from_arrays(offsets, flat))
    return pa.Table.from_arrays(arrays, schema=schema)


def _placeholder(feature: fs.Feature, rows: int) -> pa.Array:
    n = rows * (feature.length or 1)
    if feature.is_string:
        values = pa.array([fs.PAD] * n, pa.string())
    else:
        fill = fs.NO_AGE if feature.name == fs.HIST_AGE_DAYS else 0.0
        values = pa.array(np.full(n, fill, np.float32))
    if feature.length is None:
        return values
    offsets = pa.array(np.arange(0, n + 1, feature.length, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


def _lookup(table: pa.Table, key: str, keys: pa.Array, columns: tuple[str, ...]) -> pa.Table:
    """``columns`` of ``table`` for each of ``keys`` (nulls where a key is absent), in order."""
    if table.num_rows == 0:
        return pa.table({c: pa.nulls(len(keys), table.schema.field(c).type) for c in columns})
    index = pc.index_in(keys.cast(pa.string()), value_set=table[key].combine_chunks())
    valid = pc.is_valid(index)
    taken = table.select(list(columns)).take(pc.fill_null(index, 0))
    return pa.table(
        {c: pc.if_else(valid, taken[c], pa.scalar(None, taken[c].type)) for c in columns}
    )
