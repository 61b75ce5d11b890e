"""Relation features: a user's social neighbours and what they did last; an item's neighbours."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.transform.codes import encode, fixed_string_lists, gather_strings, micros
from components.transform.timeline import lookback
from schemas.features import (
    FRIEND_IDS,
    FRIEND_ITEM_IDS,
    FRIEND_ITEMS_LEN,
    FRIENDS_LEN,
    NEIGHBOR_ITEM_IDS,
    NEIGHBORS_LEN,
    PAD,
)
from schemas.tables import DST_ITEM, DST_USER, ITEM_ID, KIND, SRC_ITEM, SRC_USER, TS, USER_ID


def user_relations(
    links: pa.Table, events: pa.Table, users: pa.Array, at: np.ndarray, *, dictionary: pa.Array
) -> dict[str, pa.Array]:
    """Each (user, time) query's neighbours linked strictly before that time, and their last items.

    A link without a timestamp (a source that does not say, like Ciao's trust edges) counts as
    known since forever: it is static metadata, not an event. This is ``user_neighbors`` then
    ``last_items`` of the nearest neighbours; a sharded build runs the two where each one's
    data lives (the neighbours' events may be in another shard).

    Args:
        links: Canonical user_relations (src_user -> dst_user, ts).
        events: Canonical events, for the neighbours' last items.
        users: ``[queries]`` user ids.
        at: ``[queries]`` int64 epoch microseconds.
        dictionary: Code book covering the user ids of links, events and queries.

    Returns:
        ``friend_ids`` (list<string> FRIENDS_LEN, newest link first), ``friend_item_ids``
        (list<string> FRIEND_ITEMS_LEN: each neighbour's last item before the time, in the same
        order).
    """
    out, nearest = user_neighbors(links, users, at, dictionary=dictionary)
    items = last_items(events, nearest, np.repeat(at, FRIEND_ITEMS_LEN), dictionary=dictionary)
    out[FRIEND_ITEM_IDS] = fixed_string_lists(items, FRIEND_ITEMS_LEN)
    return out


def user_neighbors(
    links: pa.Table, users: pa.Array, at: np.ndarray, *, dictionary: pa.Array
) -> tuple[dict[str, pa.Array], pa.Array]:
    """Each (user, time) query's neighbours linked strictly before that time.

    Returns:
        ``{friend_ids}`` (see ``user_relations``), and the ``[queries *
        FRIEND_ITEMS_LEN]`` nearest neighbours (row-major, null where a slot is empty) whose last
        items ``friend_item_ids`` holds.
    """
    src = encode(links[SRC_USER], dictionary)
    lb = lookback(src, micros(links[TS]), encode(users, dictionary), at)
    slots = lb.last(FRIENDS_LEN)
    destinations = links[DST_USER].combine_chunks()
    nearest = slots[:, :FRIEND_ITEMS_LEN].reshape(-1)
    if len(destinations):
        taken = pc.take(destinations.cast(pa.string()), pa.array(np.maximum(nearest, 0)))
        nearest_ids = pc.if_else(pa.array(nearest < 0), pa.scalar(None, pa.string()), taken)
    else:
        nearest_ids = pa.nulls(len(nearest), pa.string())
    return {FRIEND_IDS: gather_strings(destinations, slots, pad=PAD)}, nearest_ids


def last_items(
    events: pa.Table, users: pa.Array, at: np.ndarray, *, dictionary: pa.Array
) -> pa.Array:
    """``[queries]`` item of each (user, time)'s last event strictly before the time.

    Args:
        events: Canonical events (user_id, item_id, ts).
        users: ``[queries]`` user ids; null asks nothing (PAD).
        at: ``[queries]`` int64 epoch microseconds.
        dictionary: Code book covering the user ids of ``events``.

    Returns:
        ``[queries]`` strings, PAD where the user had no event before the time.
    """
    # -2 matches no event (an event's unknown user would be -1).
    empty = pc.is_null(users).to_numpy(zero_copy_only=False)
    codes = np.where(empty, -2, encode(users, dictionary))
    per_query = lookback(encode(events[USER_ID], dictionary), micros(events[TS]), codes, at)
    last = per_query.last(1)
    return gather_strings(events[ITEM_ID].combine_chunks(), last, pad=PAD).flatten()


def item_neighbors(
    links: pa.Table, items: pa.Array, *, dictionary: pa.Array
) -> dict[str, pa.Array]:
    """Each item's also-bought / also-viewed neighbours (item_relations has no time: static).

    Returns:
        ``neighbor_item_ids`` (list<string> NEIGHBORS_LEN, in table order).
    """
    src = encode(links[SRC_ITEM], dictionary)
    # Reverse table order as "time" so that last() returns neighbours in table order.
    order_as_time = np.arange(len(src), 0, -1, dtype=np.int64)
    queries = encode(items, dictionary)
    lb = lookback(src, order_as_time, queries, np.full(len(queries), len(src) + 1, np.int64))
    return {
        NEIGHBOR_ITEM_IDS: gather_strings(
            links[DST_ITEM].combine_chunks(), lb.last(NEIGHBORS_LEN), pad=PAD
        )
    }


RANK = "rank"


def ranked_relations(links: pa.Table) -> pa.Table:
    """Item relations with each one's ``rank`` among its source item's links of its kind.

    The graph signal of the model (``components.train.scoring``) weighs a related item by its
    kind and rank: Amazon's also-bought lists are ordered, the first entries the strongest.

    Args:
        links: Canonical item_relations (``src_item, dst_item, kind``), in table order.

    Returns:
        ``src_item, dst_item, kind`` (strings) and ``rank`` (int32, 0 = first), table order.
    """
    src = links[SRC_ITEM].combine_chunks().cast(pa.string())
    kind = links[KIND].combine_chunks().cast(pa.string())
    key = pc.binary_join_element_wise(src, kind, "\x00")
    _, group = np.unique(np.asarray(key.to_pylist(), dtype=object), return_inverse=True)
    order = np.argsort(group, kind="stable")
    rank = np.empty(len(group), np.int32)
    if len(group):
        sorted_group = group[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_group)) + 1]
        position = np.arange(len(group)) - np.repeat(starts, np.diff(np.r_[starts, len(group)]))
        rank[order] = position
    return pa.table(
        {
            SRC_ITEM: src,
            DST_ITEM: links[DST_ITEM].combine_chunks().cast(pa.string()),
            KIND: kind,
            RANK: pa.array(rank, pa.int32()),
        }
    )
