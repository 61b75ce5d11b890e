"""The generator's vocabulary: cluster words, shared filler, category nouns and sentiment.

Words are made-up syllable strings so that cluster vocabularies never overlap by accident; the
sentiment words are plain English so reviews read naturally.
"""

from __future__ import annotations

import dataclasses

import numpy as np

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")

WORDS_PER_CLUSTER = 16
FILLER_WORDS = 60

# Review sentiment follows the rating (index 0 is rating 1).
SENTIMENT: tuple[tuple[str, ...], ...] = (
    ("terrible", "broken", "awful", "refund", "disappointed"),
    ("poor", "cheap", "flimsy", "meh", "returned"),
    ("okay", "average", "fine", "decent", "acceptable"),
    ("good", "nice", "solid", "happy", "recommend"),
    ("excellent", "perfect", "love", "amazing", "favourite"),
)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """All the words the generator writes.

    Attributes:
        cluster_words: ``[K][WORDS_PER_CLUSTER]`` words specific to each taste cluster.
        filler: Words every cluster uses.
        category_nouns: One noun per category.
        departments: One department word per cluster (the first level of a category path).
    """

    cluster_words: tuple[tuple[str, ...], ...]
    filler: tuple[str, ...]
    category_nouns: tuple[str, ...]
    departments: tuple[str, ...]


def make_words(rng: np.random.Generator, count: int, *, taken: set[str]) -> list[str]:
    """``count`` new pseudo-words of 2-3 syllables, none of them in ``taken`` (which grows).

    Args:
        rng: Source of randomness.
        count: How many words.
        taken: Words already used; the new ones are added to it.

    Returns:
        The new words, in draw order.
    """
    out: list[str] = []
    while len(out) < count:
        syllables = int(rng.integers(2, 4))
        word = "".join(
            _ONSETS[int(rng.integers(len(_ONSETS)))] + _VOWELS[int(rng.integers(len(_VOWELS)))]
            for _ in range(syllables)
        )
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


def build_vocabulary(rng: np.random.Generator, *, clusters: int, categories: int) -> Vocabulary:
    """Draw a vocabulary with disjoint word sets per cluster, filler, categories and departments."""
    taken: set[str] = {w for row in SENTIMENT for w in row}
    cluster_words = tuple(
        tuple(make_words(rng, WORDS_PER_CLUSTER, taken=taken)) for _ in range(clusters)
    )
    filler = tuple(make_words(rng, FILLER_WORDS, taken=taken))
    nouns = tuple(make_words(rng, categories, taken=taken))
    departments = tuple(make_words(rng, clusters, taken=taken))
    return Vocabulary(cluster_words, filler, nouns, departments)


def sentence(rng: np.random.Generator, *pools: tuple[tuple[str, ...], int]) -> str:
    """Words drawn from each ``(pool, count)``, shuffled and joined by spaces."""
    words = [pool[int(i)] for pool, n in pools if n > 0 for i in rng.integers(len(pool), size=n)]
    rng.shuffle(words)
    return " ".join(words)
