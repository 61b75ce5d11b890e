"""The feature build split into key-partitioned shards (pure pyarrow/numpy; no Beam, no paths).

``feature_pipeline`` runs these steps in Beam so that no process holds the whole event log:

1. ``shard_queries`` + ``user_asks``: one shard of users (all their events, reviews, outgoing
   links, profile rows) lists its query rows (examples, requests) and asks the question it
   cannot answer alone: each neighbour's last item (the neighbour may live in another shard).
2. ``answer_friends``: the shard holding the neighbours' events answers their last items.
3. ``item_shard``: one shard of items (their content rows and links) builds those items'
   catalog rows; it needs no events (no candidate feature depends on time).
4. ``assemble``: the same user shard again, with its answers: own query features (the same code
   as the in-process reference, ``examples.own_query_features``) plus the answers, as output
   rows. Computing the own features here, not in step 1, keeps the widest tables in the worker
   that writes them.

Rows carry their input position (``ORD``: file rank, then row) and every step first restores
that order, so ties between events at the same time resolve exactly as in the reference, and the
outputs equal the reference's rows (in another row order).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.transform.codes import dictionary_of, fixed_string_lists, gather_strings, micros
from components.transform.examples import (
    Context,
    build_catalog,
    event_days,
    first_interactions,
    own_query_features,
    pair_converted,
    request_users,
    to_feature_table,
)
from components.transform.relations import last_items, user_neighbors
from schemas import EVENTS, ITEM_RELATIONS, ITEMS, REVIEWS, USER_RELATIONS, USERS
from schemas import features as fs
from schemas.features import FRIEND_ITEMS_LEN, PAD
from schemas.tables import ITEM_ID, TS, USER_ID

# Bookkeeping columns (double underscore: never a feature or table column).
ORD = "__ord"  # int64 input position: file rank * 2**40 + row in file
WINDOW = "__window"  # int8 rank of the file a row came from (events: train, eval, test)
QID = "__qid"  # int64 query row within its user shard
AT = "__at"  # int64 epoch microseconds of the query
ORIGIN = "__origin"  # int64 user shard a question came from and its answer goes back to
SLOT = "__slot"  # int64 neighbour slot of a friend question
FRIEND = "__friend"  # string: the neighbour asked about
FRIEND_ITEM = "__friend_item"
RANK_SHIFT = 40

TRAIN_EXAMPLES, EVAL_EXAMPLES = "examples/train", "examples/eval"
EVAL_REQUESTS, TEST_REQUESTS = "requests/eval", "requests/test"
VALIDATION_REQUESTS = "requests/validation"
CATALOG = "catalog"
OUTPUT_KINDS = (
    TRAIN_EXAMPLES,
    EVAL_EXAMPLES,
    EVAL_REQUESTS,
    TEST_REQUESTS,
    VALIDATION_REQUESTS,
)
SPAN_PREFIX = "span/"

FRIEND_ASK_SCHEMA = pa.schema(
    [(FRIEND, pa.string()), (AT, pa.int64()), (QID, pa.int64()), (SLOT, pa.int64()),
     (ORIGIN, pa.int64())]
)  # fmt: skip
FRIEND_ANSWER_SCHEMA = pa.schema(
    [(QID, pa.int64()), (SLOT, pa.int64()), (ORIGIN, pa.int64()), (FRIEND_ITEM, pa.string())]
)
# The event columns the friend step needs (the friend route carries only these).
FRIEND_EVENT_COLUMNS = (USER_ID, ITEM_ID, TS)


def shard_of(keys: pa.Array | pa.ChunkedArray, shards: int) -> np.ndarray:
    """``[rows]`` int64 shard of each key: CRC-32 of its UTF-8 bytes modulo ``shards``.

    Stable across processes and machines (unlike Python's ``hash``); hashed once per distinct
    key of the batch. Null keys go to shard 0.
    """
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    encoded = pc.dictionary_encode(keys.cast(pa.string()))
    distinct = encoded.dictionary.to_pylist()
    per_key = np.fromiter(
        (zlib.crc32(k.encode("utf-8")) % shards for k in distinct), np.int64, len(distinct)
    )
    index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return np.where(index >= 0, per_key[np.maximum(index, 0)] if len(per_key) else 0, 0)


def split_by_shard(table: pa.Table, key: str, shards: int) -> Iterator[tuple[int, pa.Table]]:
    """``(shard, rows)`` for every shard that has rows of ``table`` (keyed by column ``key``)."""
    if table.num_rows == 0:
        return
    shard = shard_of(table[key], shards)
    order = np.argsort(shard, kind="stable")
    sorted_shards = shard[order]
    bounds = np.flatnonzero(np.diff(sorted_shards)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(order)], strict=True):
        yield int(sorted_shards[lo]), table.take(pa.array(order[lo:hi]))


def split_by_column(table: pa.Table, column: str) -> Iterator[tuple[int, pa.Table]]:
    """``(value, rows)`` for each distinct int value of ``column`` (e.g. ``ORIGIN``)."""
    if table.num_rows == 0:
        return
    values = table[column].to_numpy()
    for value in np.unique(values):
        yield int(value), table.filter(pa.array(values == value))


def in_input_order(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    """Concatenate batches of one table, restore the input order (``ORD``), keep ``schema``."""
    parts = [t for t in tables if t.num_rows]
    if not parts:
        return schema.empty_table()
    table = pa.concat_tables(parts, promote_options="none") if len(parts) > 1 else parts[0]
    if ORD in table.column_names:
        table = table.take(pc.sort_indices(table[ORD]))
    return table.select(schema.names).cast(schema)


def concat_or_empty(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    """Concatenate ``tables`` (any order), or an empty table of ``schema``."""
    parts = [t.select(schema.names) for t in tables if t.num_rows]
    return pa.concat_tables(parts) if parts else schema.empty_table()


@dataclasses.dataclass(frozen=True)
class Queries:
    """The query rows of one user shard, in a deterministic order (their ``QID``).

    Attributes:
        users: ``[queries]`` user ids.
        at: ``[queries]`` int64 epoch microseconds.
        kind: ``[queries]`` int8 index into ``OUTPUT_KINDS``.
        items: ``[queries]`` example item ids (null for requests).
        label: ``[queries]`` float32 ranking labels (0 for requests).
    """

    users: pa.Array
    at: np.ndarray
    kind: np.ndarray
    items: pa.Array
    label: np.ndarray

    @property
    def qid(self) -> np.ndarray:
        """``[queries]`` int64 row numbers: how answers find their query."""
        return np.arange(len(self.at), dtype=np.int64)


def user_context(
    users: pa.Table, events: pa.Table, reviews: pa.Table, user_links: pa.Table
) -> Context:
    """A Context of one user shard (no items: user-side features never read them)."""
    return Context(
        users=users,
        items=ITEMS.arrow_schema().empty_table(),
        events=events,
        reviews=reviews,
        user_links=user_links,
        item_links=ITEM_RELATIONS.arrow_schema().empty_table(),
    )


def item_context(items: pa.Table, item_links: pa.Table) -> Context:
    """A Context of one item shard (no events: candidate features never read them)."""
    return Context(
        users=USERS.arrow_schema().empty_table(),
        items=items,
        events=EVENTS.arrow_schema().empty_table(),
        reviews=REVIEWS.arrow_schema().empty_table(),
        user_links=USER_RELATIONS.arrow_schema().empty_table(),
        item_links=item_links,
    )


def shard_queries(
    ctx: Context, windows: Mapping[str, pa.Table], request_starts: Mapping[str, int]
) -> Queries:
    """Every query row of one user shard: examples of each window, then requests.

    The same input gives the same rows in the same order, so two passes over a shard (one to
    ask, one to assemble the answers) agree on every ``QID``.

    Args:
        ctx: The shard's users, events (all windows, input order), reviews and outgoing links.
        windows: ``{TRAIN_EXAMPLES: train events, EVAL_EXAMPLES: eval events}`` of the shard
            (subsets of ``ctx.events``, input order).
        request_starts: ``{EVAL_REQUESTS: eval start, TEST_REQUESTS: test start,
            VALIDATION_REQUESTS: validation start}`` in epoch
            microseconds.
    """
    users, at, kinds, items, label = [], [], [], [], []
    for kind, window in windows.items():
        converted = pair_converted(ctx, window)
        first = first_interactions(ctx, window)
        chosen = window.filter(pa.array(first))
        users.append(chosen[USER_ID].combine_chunks().cast(pa.string()))
        at.append(micros(chosen[TS]))
        kinds.append(np.full(chosen.num_rows, OUTPUT_KINDS.index(kind), np.int8))
        items.append(chosen[ITEM_ID].combine_chunks().cast(pa.string()))
        label.append(converted[first].astype(np.float32))
    for kind, start in request_starts.items():
        who = request_users(ctx, start).cast(pa.string())
        users.append(who)
        at.append(np.full(len(who), start, np.int64))
        kinds.append(np.full(len(who), OUTPUT_KINDS.index(kind), np.int8))
        items.append(pa.nulls(len(who), pa.string()))
        label.append(np.zeros(len(who), np.float32))
    return Queries(
        users=pa.concat_arrays(users),
        at=np.concatenate(at),
        kind=np.concatenate(kinds),
        items=pa.concat_arrays(items),
        label=np.concatenate(label),
    )


def user_asks(ctx: Context, queries: Queries, *, shard: int) -> pa.Table:
    """The questions one user shard's queries ask other shards.

    Returns:
        ``FRIEND_ASK_SCHEMA`` rows (neighbour, time) whose last item a query needs.
    """
    _, nearest = user_neighbors(
        ctx.user_links, queries.users, queries.at, dictionary=ctx.user_dictionary
    )
    asked = pc.is_valid(nearest).to_numpy(zero_copy_only=False)
    n = len(queries.at)
    return pa.table(
        {
            FRIEND: nearest.filter(pa.array(asked)),
            AT: pa.array(np.repeat(queries.at, FRIEND_ITEMS_LEN)[asked]),
            QID: pa.array(np.repeat(queries.qid, FRIEND_ITEMS_LEN)[asked]),
            SLOT: pa.array(np.tile(np.arange(FRIEND_ITEMS_LEN, dtype=np.int64), n)[asked]),
            ORIGIN: pa.array(np.full(int(asked.sum()), shard, np.int64)),
        },
        schema=FRIEND_ASK_SCHEMA,
    )


def answer_friends(events: pa.Table, asks: pa.Table) -> pa.Table:
    """Each asked neighbour's last item strictly before the asked time.

    Args:
        events: The events of the neighbours' shard (user_id, item_id, ts; input order).
        asks: ``FRIEND_ASK_SCHEMA`` rows about users of this shard.

    Returns:
        ``FRIEND_ANSWER_SCHEMA`` rows, one per ask.
    """
    dictionary = dictionary_of(events[USER_ID], asks[FRIEND])
    items = last_items(
        events, asks[FRIEND].combine_chunks(), asks[AT].to_numpy(), dictionary=dictionary
    )
    return pa.table(
        {QID: asks[QID], SLOT: asks[SLOT], ORIGIN: asks[ORIGIN], FRIEND_ITEM: items},
        schema=FRIEND_ANSWER_SCHEMA,
    )


def item_shard(ctx: Context) -> pa.Table | None:
    """The catalog rows of one item shard's items (``examples.build_catalog``), None if none.

    Args:
        ctx: The shard's items (content rows) and their outgoing links.
    """
    return build_catalog(ctx) if ctx.items.num_rows else None


def assemble(
    ctx: Context, queries: Queries, friend_answers: pa.Table
) -> Iterator[tuple[str, pa.Table, np.ndarray]]:
    """The output rows of one user shard: ``(kind, rows, query times)`` per kind with rows.

    Own query features come from ``ctx`` (``examples.own_query_features``), the rest from the
    answers. Example rows have ``example_arrow_schema()`` (``to_feature_table``), request rows
    ``request_arrow_schema()``, exactly as ``build_examples`` / ``build_requests`` make them.
    """
    n = len(queries.at)
    if n == 0:
        return
    # Each neighbour slot's answer, PAD where nobody was asked (no neighbour in that slot).
    where = np.full(n * FRIEND_ITEMS_LEN, -1, np.int64)
    if friend_answers.num_rows:
        slot = friend_answers[QID].to_numpy() * FRIEND_ITEMS_LEN + friend_answers[SLOT].to_numpy()
        where[slot] = np.arange(friend_answers.num_rows)
    friend_items = gather_strings(
        friend_answers[FRIEND_ITEM].combine_chunks(), where.reshape(n, FRIEND_ITEMS_LEN), pad=PAD
    ).flatten()
    columns, _ = own_query_features(ctx, queries.users, queries.at)
    columns[ITEM_ID] = queries.items
    columns[fs.LABEL] = pa.array(queries.label, pa.float32())
    columns[fs.FRIEND_ITEM_IDS] = fixed_string_lists(friend_items, FRIEND_ITEMS_LEN)
    kind, at = queries.kind, queries.at
    request_schema = fs.request_arrow_schema()
    for index, name in enumerate(OUTPUT_KINDS):
        chosen = kind == index
        rows = int(chosen.sum())
        if rows == 0:
            continue
        mask = pa.array(chosen)
        if name.startswith("requests/"):
            table = pa.table(
                {f.name: columns[f.name].filter(mask).cast(f.type) for f in request_schema},
                schema=request_schema,
            )
        else:
            picked = {
                c: columns[c].filter(mask)
                for c in (*fs.QUERY_FEATURES, *fs.DYNAMIC_CANDIDATE_FEATURES, fs.LABEL)
            }
            picked[fs.WEIGHT] = pa.array(np.ones(rows, np.float32))
            picked[fs.EVENT_DAY] = event_days(at[chosen])
            table = to_feature_table(picked, rows)
        yield name, table, at[chosen]
