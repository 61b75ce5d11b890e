"""Behavior features of a user as of a point in time: sequences, counts, rates."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.transform.codes import encode, fixed_float_lists, gather_strings, micros
from components.transform.timeline import lookback
from schemas.features import (
    HIST_AGE_DAYS,
    HIST_EVENT_TYPES,
    HIST_ITEM_IDS,
    HISTORY_LEN,
    MEAN_DWELL_S,
    N_EVENTS,
    N_PURCHASES,
    N_SESSIONS,
    NO_AGE,
    PAD,
    PURCHASE_RATE,
)
from schemas.tables import DWELL_S, EVENT_TYPE, ITEM_ID, SESSION_ID, TS, USER_ID

PURCHASE = "purchase"
MICROS_PER_DAY = 86_400 * 1_000_000


def user_behavior(
    events: pa.Table, users: pa.Array, at: np.ndarray, *, dictionary: pa.Array
) -> dict[str, pa.Array]:
    """Each (user, time) query's behavior strictly before that time.

    Args:
        events: Canonical events (any windows); needs user_id, item_id, event_type, ts,
            dwell_s, session_id.
        users: ``[queries]`` user ids.
        at: ``[queries]`` int64 epoch microseconds; only events strictly before count.
        dictionary: Code book covering the user ids.

    Returns:
        Columns ``hist_item_ids``/``hist_event_types`` (list<string> of HISTORY_LEN, most recent
        first, "" padding), ``hist_age_days`` (list<float32>, -1 padding), ``n_events``,
        ``n_purchases``, ``purchase_rate``, ``mean_dwell_s``, ``n_sessions`` (float32).
    """
    event_times = micros(events[TS])
    lb = lookback(encode(events[USER_ID], dictionary), event_times, encode(users, dictionary), at)
    last = lb.last(HISTORY_LEN)
    ages = np.where(
        last >= 0,
        (at[:, None] - event_times[np.maximum(last, 0)]) / MICROS_PER_DAY,
        NO_AGE,
    )
    counts = lb.counts.astype(np.float64)
    is_purchase = pc.equal(events[EVENT_TYPE], PURCHASE).to_numpy(zero_copy_only=False)
    purchases = lb.total(is_purchase.astype(np.float64))
    dwell = pc.fill_null(events[DWELL_S], np.nan).to_numpy(zero_copy_only=False)
    has_dwell = ~np.isnan(dwell)
    dwell_n = lb.total(has_dwell.astype(np.float64))
    dwell_sum = lb.total(np.where(has_dwell, dwell, 0.0))
    new_session = _session_starts(events, lb.order)
    return {
        HIST_ITEM_IDS: gather_strings(events[ITEM_ID].combine_chunks(), last, pad=PAD),
        HIST_EVENT_TYPES: gather_strings(events[EVENT_TYPE].combine_chunks(), last, pad=PAD),
        HIST_AGE_DAYS: fixed_float_lists(ages.astype(np.float32)),
        N_EVENTS: pa.array(counts, pa.float32()),
        N_PURCHASES: pa.array(purchases, pa.float32()),
        PURCHASE_RATE: pa.array(purchases / np.maximum(counts, 1.0), pa.float32()),
        MEAN_DWELL_S: pa.array(dwell_sum / np.maximum(dwell_n, 1.0), pa.float32()),
        N_SESSIONS: pa.array(lb.total(new_session), pa.float32()),
    }


def _session_starts(events: pa.Table, order: np.ndarray) -> np.ndarray:
    """1.0 for each event whose session differs from its user's previous event's, else 0.0.

    Events without a session id count as a session of their own.
    """
    users = events[USER_ID].combine_chunks().take(pa.array(order))
    sessions = events[SESSION_ID].combine_chunks().take(pa.array(order))
    u = np.asarray(users.to_numpy(zero_copy_only=False), dtype=object)
    s = np.asarray(pc.fill_null(sessions, "").to_numpy(zero_copy_only=False), dtype=object)
    starts_sorted = np.ones(len(order), dtype=np.float64)
    if len(order) > 1:
        same = (u[1:] == u[:-1]) & (s[1:] == s[:-1]) & (s[1:] != "")
        starts_sorted[1:] = np.where(same, 0.0, 1.0)
    out = np.empty(len(order), dtype=np.float64)
    out[order] = starts_sorted
    return out
