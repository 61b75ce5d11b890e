"""Relation features: a user's social neighbours and what they did last; an item's neighbours."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from components.transform.codes import encode, gather_strings, micros
from components.transform.timeline import lookback
from schemas.features import (
    FRIEND_IDS,
    FRIEND_ITEM_IDS,
    FRIEND_ITEMS_LEN,
    FRIENDS_LEN,
    N_FRIENDS,
    N_NEIGHBORS,
    NEIGHBOR_ITEM_IDS,
    NEIGHBORS_LEN,
    PAD,
)
from schemas.tables import DST_ITEM, DST_USER, ITEM_ID, SRC_ITEM, SRC_USER, TS, USER_ID


def user_relations(
    links: pa.Table, events: pa.Table, users: pa.Array, at: np.ndarray, *, dictionary: pa.Array
) -> dict[str, pa.Array]:
    """Each (user, time) query's neighbours linked strictly before that time, and their last items.

    A link without a timestamp (a source that does not say, like Ciao's trust edges) counts as
    known since forever: it is static metadata, not an event.

    Args:
        links: Canonical user_relations (src_user -> dst_user, ts).
        events: Canonical events, for the neighbours' last items.
        users: ``[queries]`` user ids.
        at: ``[queries]`` int64 epoch microseconds.
        dictionary: Code book covering the user ids of links, events and queries.

    Returns:
        ``friend_ids`` (list<string> FRIENDS_LEN, newest link first), ``friend_item_ids``
        (list<string> FRIEND_ITEMS_LEN: each neighbour's last item before the time, in the same
        order), ``n_friends`` (float32, all links before the time).
    """
    src = encode(links[SRC_USER], dictionary)
    lb = lookback(src, micros(links[TS]), encode(users, dictionary), at)
    slots = lb.last(FRIENDS_LEN)
    friends = gather_strings(links[DST_USER].combine_chunks(), slots, pad=PAD)
    # Each neighbour's last item before the query time: one lookup per (query, slot).
    destinations = encode(links[DST_USER], dictionary)
    friend_codes = (
        np.where(slots >= 0, destinations[np.maximum(slots, 0)], -2)
        if len(destinations)
        else np.full(slots.shape, -2, dtype=np.int64)
    )
    per_slot = lookback(
        encode(events[USER_ID], dictionary),
        micros(events[TS]),
        friend_codes.reshape(-1),
        np.repeat(at, FRIENDS_LEN),
    )
    last_item = per_slot.last(1).reshape(len(at), FRIENDS_LEN)[:, :FRIEND_ITEMS_LEN]
    return {
        FRIEND_IDS: friends,
        FRIEND_ITEM_IDS: gather_strings(events[ITEM_ID].combine_chunks(), last_item, pad=PAD),
        N_FRIENDS: pa.array(lb.counts.astype(np.float32), pa.float32()),
    }


def item_neighbors(
    links: pa.Table, items: pa.Array, *, dictionary: pa.Array
) -> dict[str, pa.Array]:
    """Each item's also-bought / also-viewed neighbours (item_relations has no time: static).

    Returns:
        ``neighbor_item_ids`` (list<string> NEIGHBORS_LEN, in table order) and ``n_neighbors``.
    """
    src = encode(links[SRC_ITEM], dictionary)
    # Reverse table order as "time" so that last() returns neighbours in table order.
    order_as_time = np.arange(len(src), 0, -1, dtype=np.int64)
    queries = encode(items, dictionary)
    lb = lookback(src, order_as_time, queries, np.full(len(queries), len(src) + 1, np.int64))
    return {
        NEIGHBOR_ITEM_IDS: gather_strings(
            links[DST_ITEM].combine_chunks(), lb.last(NEIGHBORS_LEN), pad=PAD
        ),
        N_NEIGHBORS: pa.array(lb.counts.astype(np.float32), pa.float32()),
    }
