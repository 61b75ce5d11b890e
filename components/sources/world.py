"""The hidden world behind a synthetic shop: taste clusters, categories, users, items, chains.

Everything that is fixed for a whole run lives here and fits in memory (users and items up to about
a million); the event log is drawn from it block by block in ``behavior.py``.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime

import numpy as np
import pyarrow as pa

from components.sources import images
from components.sources.assemble import category_path
from components.sources.seeding import Stream, rng_for
from components.sources.vocab import SENTIMENT, Vocabulary, build_vocabulary, sentence
from schemas import tables

# Which modality carries a user's cluster before the history cut (recorded in _truth).
MODALITIES = ("text", "image", "behavior", "relation", "id")
CATEGORIES_PER_CLUSTER = 3
COUNTRIES = ("DE", "FR", "GB", "US", "ES", "IT", "NL", "PL", "SE", "BR", "IN", "JP")
IMAGE_FRACTION = 0.8  # ~20% of items have no image
PLAIN_FRACTION = 0.3  # of items with an image: no category, brand or cluster words
QUERY_POOL = 32  # distinct queries per cluster (and 2x that for the generic pool)
ID_WIDTH = 7


def cluster_count(users: int) -> int:
    """How many taste clusters for ``users`` users: 8 for small shops up to 20 for a million."""
    return int(min(20, max(8, round(math.sqrt(users) / 4))))


def format_ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """String ids like ``u0000042`` for each number (vectorised; ``[n]`` int -> ``[n]`` string)."""
    return pa.array([f"{prefix}{n:0{ID_WIDTH}d}" for n in numbers.tolist()], pa.string())


@dataclasses.dataclass(frozen=True)
class Ragged:
    """Per-cluster index lists, flattened: cluster ``c`` owns ``flat[off[c]:off[c] + n[c]]``."""

    flat: np.ndarray
    off: np.ndarray
    n: np.ndarray

    @classmethod
    def from_lists(cls, lists: list[np.ndarray]) -> Ragged:
        """Flatten ``lists`` (one int array per cluster)."""
        n = np.array([len(x) for x in lists], dtype=np.int64)
        off = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
        flat = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, np.int64)
        return cls(flat, off, n)

    def pick(self, clusters: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One item per row: position ``floor(u * n)`` of that row's cluster list (u in [0, 1))."""
        n = self.n[clusters]
        return self.flat[self.off[clusters] + np.minimum((u * n).astype(np.int64), n - 1)]

    def at(self, clusters: np.ndarray, position: np.ndarray) -> np.ndarray:
        """One item per row: ``position mod n`` of that row's cluster list (a cyclic chain)."""
        return self.flat[self.off[clusters] + position % self.n[clusters]]


@dataclasses.dataclass(frozen=True)
class World:
    """The fixed part of a synthetic shop.

    Attributes:
        seed: The run's seed.
        start_s: First second of the time range (epoch seconds, UTC).
        end_s: One past the last second of the time range.
        history_cut_s: Before this second, only a user's signal modality reveals their cluster;
            after it, every user's purchases follow their cluster (the targets carry the signal).
        clusters: Number of taste clusters K.
        categories: Number of item categories (``CATEGORIES_PER_CLUSTER * K``).
        vocab: The words.
        user_ids: ``[users]`` string ids.
        user_cluster: ``[users]`` int cluster of each user.
        user_modality: ``[users]`` index into ``MODALITIES``.
        user_cdf: ``[users]`` cumulative activity (a session picks user ``searchsorted(cdf, u)``).
        chain_start: ``[users]`` where each user starts on their cluster's item chain.
        item_ids: ``[items]`` string ids.
        item_category: ``[items]`` int category of each item.
        item_plain: ``[items]`` True for items whose category shows only in the image.
        item_cdf: ``[items]`` cumulative popularity.
        chain: Each cluster's preferred items in chain order (buying one makes the next likely).
        plain_chain: Each cluster's preferred plain items (falls back to ``chain`` when none).
        cluster_queries: ``[K * QUERY_POOL]`` queries made of cluster words.
        generic_queries: ``[2 * QUERY_POOL]`` queries made of filler and category nouns.
        users_table: Clean users rows (canonical schema).
        items_table: Clean items rows (canonical schema).
        pngs: ``[items]`` the PNG of each item (None when it has no image).
    """

    seed: int
    start_s: int
    end_s: int
    history_cut_s: int
    clusters: int
    categories: int
    vocab: Vocabulary
    user_ids: pa.Array
    user_cluster: np.ndarray
    user_modality: np.ndarray
    user_cdf: np.ndarray
    chain_start: np.ndarray
    item_ids: pa.Array
    item_category: np.ndarray
    item_plain: np.ndarray
    item_cdf: np.ndarray
    chain: Ragged
    plain_chain: Ragged
    cluster_queries: pa.Array
    generic_queries: pa.Array
    users_table: pa.Table
    items_table: pa.Table
    pngs: list[bytes | None]

    @property
    def n_users(self) -> int:
        """Number of (good) users."""
        return len(self.user_cluster)

    @property
    def n_items(self) -> int:
        """Number of (good) items."""
        return len(self.item_category)

    def item_cluster(self, items: np.ndarray) -> np.ndarray:
        """The cluster whose preferred categories contain each item (``[n]`` -> ``[n]``)."""
        return self.item_category[items] // CATEGORIES_PER_CLUSTER

    def sentiment_review(self, rng: np.random.Generator, rating: int, cluster: int | None) -> str:
        """A review: sentiment words for ``rating``, cluster words if ``cluster`` is given."""
        topic = (self.vocab.cluster_words[cluster], 4) if cluster is not None else ((), 0)
        return sentence(rng, (SENTIMENT[rating - 1], 2), (self.vocab.filler, 5), topic)


def to_seconds(moment: datetime) -> int:
    """Epoch seconds of an aware (or UTC-naive) datetime."""
    return int(moment.timestamp())


def build_world(
    *, users: int, items: int, seed: int, start: datetime, days: int, history_cut: float = 0.75
) -> World:
    """Draw the hidden world: clusters, vocabulary, users, items, images and item chains.

    Args:
        users: Number of good users (>= 1).
        items: Number of good items (>= 1).
        seed: The run's seed.
        start: First moment of the time range (UTC).
        days: Length of the time range in days.
        history_cut: Fraction of the range after which every user's purchases follow their cluster.

    Returns:
        The world; the same arguments always give the same world.

    Raises:
        ValueError: if ``users``, ``items`` or ``days`` is below 1.
    """
    if users < 1 or items < 1 or days < 1:
        raise ValueError(f"users, items and days must be >= 1; got {users}, {items}, {days}")
    k = cluster_count(users)
    n_cat = CATEGORIES_PER_CLUSTER * k
    vocab = build_vocabulary(rng_for(seed, Stream.VOCAB), clusters=k, categories=n_cat)
    rng = rng_for(seed, Stream.WORLD)
    start_s = to_seconds(start)
    end_s = start_s + days * 86_400

    user_cluster = rng.integers(0, k, size=users)
    user_modality = rng.integers(0, len(MODALITIES), size=users)
    activity = rng.lognormal(0.0, 1.0, size=users)
    user_cdf = np.cumsum(activity) / activity.sum()
    chain_start = rng.integers(0, 1 << 30, size=users)

    item_category = rng.permutation(np.arange(items) % n_cat)
    has_image = rng.random(items) < IMAGE_FRACTION
    item_plain = has_image & (rng.random(items) < PLAIN_FRACTION)
    popularity = rng.pareto(1.5, size=items) + 1.0
    item_cdf = np.cumsum(popularity) / popularity.sum()
    item_cluster = item_category // CATEGORIES_PER_CLUSTER
    chains, plain_chains = [], []
    for c in range(k):
        mine = rng.permutation(np.flatnonzero(item_cluster == c))
        if len(mine) == 0:  # tiny shops: a cluster without items borrows the whole catalog
            mine = rng.permutation(items)
        chains.append(mine)
        plain = mine[item_plain[mine]]
        plain_chains.append(plain if len(plain) else mine)

    cluster_queries = [
        sentence(rng, (vocab.cluster_words[c], 2), (vocab.filler, 1))
        for c in range(k)
        for _ in range(QUERY_POOL)
    ]
    generic_queries = [
        sentence(rng, (vocab.filler, 2), (vocab.category_nouns, 1)) for _ in range(2 * QUERY_POOL)
    ]

    user_ids = format_ids("u", np.arange(users))
    item_ids = format_ids("i", np.arange(items))
    users_table = _users_table(rng, user_ids, start_s)
    items_table, pngs = _items_table(
        seed, rng, vocab, item_ids, item_category, has_image, item_plain
    )
    return World(
        seed=seed,
        start_s=start_s,
        end_s=end_s,
        history_cut_s=start_s + int(history_cut * days * 86_400),
        clusters=k,
        categories=n_cat,
        vocab=vocab,
        user_ids=user_ids,
        user_cluster=user_cluster,
        user_modality=user_modality,
        user_cdf=user_cdf,
        chain_start=chain_start,
        item_ids=item_ids,
        item_category=item_category,
        item_plain=item_plain,
        item_cdf=item_cdf,
        chain=Ragged.from_lists(chains),
        plain_chain=Ragged.from_lists(plain_chains),
        cluster_queries=pa.array(cluster_queries, pa.string()),
        generic_queries=pa.array(generic_queries, pa.string()),
        users_table=users_table,
        items_table=items_table,
        pngs=pngs,
    )


def seconds_to_timestamps(seconds: np.ndarray) -> pa.Array:
    """``[n]`` int epoch seconds -> ``[n]`` timestamp[us, UTC]."""
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000, pa.int64()).cast(
        tables.USERS.column(tables.SIGNUP_TS).type
    )


def _with_nulls(values: list[str], missing: np.ndarray) -> pa.Array:
    return pa.array([None if m else v for v, m in zip(values, missing, strict=True)], pa.string())


def _users_table(rng: np.random.Generator, user_ids: pa.Array, start_s: int) -> pa.Table:
    n = len(user_ids)
    signup = start_s - rng.integers(86_400, 730 * 86_400, size=n)
    countries = [COUNTRIES[i] for i in rng.integers(0, len(COUNTRIES), size=n)]
    ages = [tables.AGE_BUCKETS[i] for i in rng.integers(0, len(tables.AGE_BUCKETS), size=n)]
    columns = {
        tables.USER_ID: user_ids,
        tables.SIGNUP_TS: seconds_to_timestamps(signup),
        tables.COUNTRY: _with_nulls(countries, rng.random(n) < 0.05),
        tables.AGE_BUCKET: _with_nulls(ages, rng.random(n) < 0.05),
    }
    return pa.Table.from_pydict(columns, schema=tables.USERS.arrow_schema())


def _items_table(
    seed: int,
    rng: np.random.Generator,
    vocab: Vocabulary,
    item_ids: pa.Array,
    item_category: np.ndarray,
    has_image: np.ndarray,
    item_plain: np.ndarray,
) -> tuple[pa.Table, list[bytes | None]]:
    n = len(item_ids)
    n_cat = len(vocab.category_nouns)
    titles, descriptions, categories, brands = [], [], [], []
    for cat, plain in zip(item_category.tolist(), item_plain.tolist(), strict=True):
        cluster = cat // CATEGORIES_PER_CLUSTER
        noun = vocab.category_nouns[cat]
        if plain:
            titles.append(sentence(rng, (vocab.filler, 3)))
            descriptions.append(sentence(rng, (vocab.filler, 10)))
            categories.append(None)
            brands.append(None)
            continue
        words = vocab.cluster_words[cluster]
        titles.append(f"{sentence(rng, (words, 2), (vocab.filler, 1))} {noun}")
        descriptions.append(sentence(rng, (words, 3), (vocab.filler, 8), ((noun,), 1)))
        categories.append(category_path((vocab.departments[cluster], noun)))
        brands.append(f"{noun[:3].title()}{vocab.filler[int(rng.integers(3))].title()}")
    price_scale = rng.uniform(5.0, 200.0, size=n_cat)
    prices = np.round(price_scale[item_category] * rng.lognormal(0.0, 0.3, size=n), 2)
    image_rng = rng_for(seed, Stream.IMAGES)
    protos = images.category_prototypes(n_cat, image_rng)
    pngs: list[bytes | None] = []
    embeddings: list[list[float] | None] = []
    for cat, has in zip(item_category.tolist(), has_image.tolist(), strict=True):
        if not has:
            pngs.append(None)
            embeddings.append(None)
            continue
        pngs.append(images.render_png(cat, n_cat, image_rng))
        noise = image_rng.normal(0.0, 0.3, size=images.EMBEDDING_DIM).astype(np.float32)
        embeddings.append((protos[cat] + noise).tolist())
    schema = tables.ITEMS.arrow_schema()
    columns = {
        tables.ITEM_ID: item_ids,
        tables.TITLE: pa.array(titles, pa.string()),
        tables.DESCRIPTION: pa.array(descriptions, pa.string()),
        tables.CATEGORY: pa.array(categories, pa.string()),
        tables.BRAND: pa.array(brands, pa.string()),
        tables.PRICE: pa.array(prices, pa.float64()),
        tables.IMAGE_BYTES: pa.array(pngs, pa.binary()),
        tables.IMAGE_URI: pa.nulls(n, pa.string()),
        tables.IMAGE_EMBEDDING: pa.array(embeddings, schema.field(tables.IMAGE_EMBEDDING).type),
    }
    return pa.Table.from_pydict(columns, schema=schema), pngs
