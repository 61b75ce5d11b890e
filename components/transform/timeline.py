"""Point-in-time lookups over keyed event timelines (pure numpy, vectorized).

Every context feature is "what happened to this key (user, item) strictly before this time".
Training examples ask it at their own event time, serving requests at the window's cut-off; one
mechanism answers both, so the features a model trains on and the ones it serves with are
computed by the same code, and nothing at or after a query's time can reach it.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Lookback:
    """For each query point, where its key's earlier events lie in the sorted event order.

    Attributes:
        order: ``[events]`` permutation sorting events by (key, time).
        start: ``[queries]`` sorted position of the query key's first event.
        end: ``[queries]`` sorted position one past the key's last event strictly before the
            query time (``end - start`` events qualify).
    """

    order: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        """``[queries]`` events of the same key strictly before each query."""
        return self.end - self.start

    def last(self, k: int) -> np.ndarray:
        """``[queries, k]`` original event indices, most recent first; -1 where there is none."""
        offsets = self.end[:, None] - 1 - np.arange(k)[None, :]
        valid = offsets >= self.start[:, None]
        picked = self.order[np.where(valid, offsets, 0)] if len(self.order) else offsets
        return np.where(valid, picked, -1)

    def total(self, values: np.ndarray) -> np.ndarray:
        """``[queries]`` sum of ``values`` (one per original event) over the qualifying events."""
        prefix = np.concatenate([[0.0], np.cumsum(values[self.order], dtype=np.float64)])
        return prefix[self.end] - prefix[self.start]


def lookback(
    event_keys: np.ndarray,
    event_times: np.ndarray,
    query_keys: np.ndarray,
    query_times: np.ndarray,
) -> Lookback:
    """Index events by (key, time) and place each query point among them.

    Args:
        event_keys: ``[events]`` int64 key codes.
        event_times: ``[events]`` int64 times (any monotone unit, e.g. epoch microseconds).
        query_keys: ``[queries]`` int64 key codes (same coding as ``event_keys``).
        query_times: ``[queries]`` int64 times; events at exactly this time do not qualify.

    Returns:
        The Lookback; ties between events keep their input order (stable sort).
    """
    event_keys = np.asarray(event_keys, dtype=np.int64)
    event_times = np.asarray(event_times, dtype=np.int64)
    query_keys = np.asarray(query_keys, dtype=np.int64)
    query_times = np.asarray(query_times, dtype=np.int64)
    if event_keys.shape != event_times.shape or query_keys.shape != query_times.shape:
        raise ValueError("keys and times must have the same length")
    n_events = len(event_keys)
    keys = np.concatenate([event_keys, query_keys])
    times = np.concatenate([event_times, query_times])
    # A query sorts before events of the same key and time, so only strictly earlier events
    # precede it: that is the no-leakage rule, enforced by the sort itself.
    kind = np.concatenate([np.ones(n_events, np.int8), np.zeros(len(query_keys), np.int8)])
    merged = np.lexsort((kind, times, keys))
    is_event = kind[merged] == 1
    events_before = np.concatenate([[0], np.cumsum(is_event)])
    position = np.empty(len(merged), dtype=np.int64)
    position[merged] = np.arange(len(merged))
    end = events_before[position[n_events:]]
    order = merged[is_event]
    start = np.searchsorted(event_keys[order], query_keys, side="left")
    return Lookback(order=order, start=start.astype(np.int64), end=end.astype(np.int64))
