"""Random streams derived from one seed, one per (purpose, index), so chunking never matters."""

from __future__ import annotations

import enum

import numpy as np


class Stream(enum.IntEnum):
    """What a random stream is used for; part of its seed, so streams never overlap."""

    VOCAB = 1
    WORLD = 2
    IMAGES = 3
    EVENTS = 4
    REVIEWS = 5
    RELATIONS = 6
    BAD_ROWS = 7


def rng_for(seed: int, stream: Stream, index: int = 0) -> np.random.Generator:
    """A generator for block ``index`` of ``stream``, independent of every other block.

    Args:
        seed: The run's seed.
        stream: Purpose of the stream.
        index: Block number within the stream (e.g. the events block).

    Returns:
        A fresh PCG64 generator; the same arguments always give the same draws.
    """
    return np.random.default_rng([seed, int(stream), index])
