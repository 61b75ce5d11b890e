"""Users as clusters in the embedding space, and one persona per cluster (pure numpy/sklearn).

The map is a 2-D PCA projection of the query embeddings; clusters are k-means in the full
embedding space (so the map shows them, it does not define them). A persona describes a
cluster by what its users did in the train window, every value counted in distinct users and
shown only when at least k users share it (see ``privacy``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from components.report.privacy import Suppressed, is_shown

# Words too common to describe anybody; the rest of a text's tokens are kept.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "i",
        "in",
        "is",
        "it",
        "its",
        "my",
        "not",
        "of",
        "on",
        "or",
        "so",
        "that",
        "the",
        "this",
        "to",
        "too",
        "was",
        "were",
        "will",
        "with",
        "you",
        "your",
        "very",
        "just",
        "all",
        "can",
        "one",
        "get",
        "got",
        "they",
        "them",
        "than",
        "then",
        "there",
        "these",
        "those",
        "would",
        "could",
        "should",
        "our",
        "out",
        "up",
        "about",
        "into",
        "what",
        "when",
        "which",
        "who",
        "also",
        "more",
        "most",
        "some",
        "such",
        "only",
        "own",
        "same",
        "other",
        "any",
        "each",
        "few",
        "both",
        "over",
        "again",
        "did",
        "does",
        "do",
        "had",
        "him",
        "her",
        "his",
        "she",
        "he",
        "we",
        "me",
        "am",
        "us",
        "no",
        "nor",
        "if",
        "because",
        "while",
        "where",
        "why",
        "how",
        "off",
        "under",
        "until",
        "after",
        "before",
        "above",
        "below",
        "between",
        "through",
        "during",
        "here",
        "now",
        "ever",
    ]
)
TOKEN = re.compile(r"[^\W\d_]{3,}")
ACTIVITY_LEVELS = ("light", "medium", "heavy")
PRICE_BANDS = ("low", "mid", "high")


@dataclasses.dataclass(frozen=True)
class Clustering:
    """Where each user lands on the map and which cluster it is in.

    Attributes:
        coords: ``[users, 2]`` PCA projection of the embeddings.
        labels: ``[users]`` cluster index, 0 the largest cluster, 1 the next, ...
        explained: Variance share each of the two map axes explains.
    """

    coords: np.ndarray
    labels: np.ndarray
    explained: tuple[float, float]


def cluster_count(users: int, *, wanted: int, k: int) -> int:
    """Clusters to ask k-means for: ``wanted``, fewer when there are not k users per cluster."""
    return max(1, min(wanted, users // k))


def cluster_users(embeddings: np.ndarray, *, clusters: int, seed: int) -> Clustering:
    """Project ``embeddings`` ``[users, dim]`` to 2-D and cluster them (deterministic per seed).

    Clusters are renumbered by size, largest first (ties by the smallest member index), so the
    numbers mean the same thing on every page.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n = len(x)
    if n == 0:
        return Clustering(np.zeros((0, 2)), np.zeros(0, dtype=int), (0.0, 0.0))
    components = min(2, n, x.shape[1])
    pca = PCA(n_components=components, random_state=seed)
    coords = pca.fit_transform(x)
    explained = [float(v) for v in pca.explained_variance_ratio_]
    if components < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - components)))
        explained += [0.0] * (2 - components)
    clusters = max(1, min(clusters, n))
    raw = KMeans(n_clusters=clusters, n_init=10, random_state=seed).fit_predict(x)
    order = sorted(set(raw.tolist()), key=lambda c: (-(raw == c).sum(), np.argmax(raw == c)))
    renumber = {c: i for i, c in enumerate(order)}
    labels = np.array([renumber[c] for c in raw.tolist()], dtype=int)
    return Clustering(coords, labels, (explained[0], explained[1]))


@dataclasses.dataclass(frozen=True)
class TopValues:
    """The values that best describe a cluster, each with the distinct users who share it.

    Attributes:
        shown: ``(value, users)`` pairs, each shared by >= k users of the cluster, most shared
            first, or most distinctive first when ``lifts`` is filled.
        hidden: Distinct values shared by fewer than k users of the cluster (not named).
        lifts: Per shown value, its share in the cluster over its share among all users
            (2.0: twice as common here), when ranked by distinctiveness.
    """

    shown: list[tuple[str, int]]
    hidden: int
    lifts: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Persona:
    """One cluster described for analysts (or only its number when it is suppressed).

    Attributes:
        cluster: Cluster number (0 the largest).
        users: Its size, or ``Suppressed`` when below k (nothing else is then filled in).
        categories, words, brands: The most shared values (see ``TopValues``).
        price_band: ``low``/``mid``/``high`` against the catalog's price tertiles, or "".
        median_price: Median over users of the median price of the items they touched.
        activity: ``light``/``medium``/``heavy`` against all users' event-count tertiles.
        median_events: Median train-window events per user.
        social_degree: Mean number of distinct social neighbours per user.
    """

    cluster: int
    users: int | Suppressed
    categories: TopValues | None = None
    words: TopValues | None = None
    brands: TopValues | None = None
    price_band: str = ""
    median_price: float | None = None
    activity: str = ""
    median_events: float = 0.0
    social_degree: float = 0.0

    @property
    def shown(self) -> bool:
        """False when the whole cluster is suppressed."""
        return not isinstance(self.users, Suppressed)


def tokenize(text: str) -> list[str]:
    """Lower-case words of 3+ letters, stopwords dropped (``"The Cat's hat"`` -> cat, hat)."""
    return [w for w in TOKEN.findall(text.lower()) if w not in STOPWORDS]


def user_counts(values_of: Mapping[str, Iterable[str]], users: Iterable[str]) -> Counter:
    """How many of ``users`` have each value (a user's repeats count once)."""
    return Counter(v for u in users for v in set(values_of.get(u, ())) if v)


def top_values(
    values_of: Mapping[str, Iterable[str]],
    members: Sequence[str],
    *,
    k: int,
    top_n: int,
    population: tuple[Counter, int] | None = None,
) -> TopValues:
    """The values most members share (or most distinctive ones), at least ``k`` members each.

    Args:
        values_of: Per user, the values they have (repeats count once).
        members: The cluster's users.
        k: Fewest users a shown value may have.
        top_n: Most values shown.
        population: ``(user_counts over all users, number of users)``: rank by lift (share
            in the cluster / share in the population) instead of by count, so words everybody
            uses ("great", "gift") give way to the ones that set the cluster apart.
    """
    counts = user_counts(values_of, members)
    eligible = [(v, n) for v, n in counts.items() if is_shown(n, k=k)]
    lifts = {}
    if population is not None:
        overall, size = population
        lifts = {v: (n / len(members)) / (overall[v] / size) for v, n in eligible}
        eligible.sort(key=lambda vn: (-lifts[vn[0]], -vn[1], vn[0]))
    else:
        eligible.sort(key=lambda vn: (-vn[1], vn[0]))
    shown = eligible[:top_n]
    hidden = sum(not is_shown(n, k=k) for n in counts.values())
    return TopValues(shown, hidden, {v: lifts[v] for v, _ in shown} if lifts else {})


def tertile_label(value: float, edges: tuple[float, float], labels: Sequence[str]) -> str:
    """``labels[0]`` below ``edges[0]``, ``labels[2]`` above ``edges[1]``, else ``labels[1]``."""
    if value < edges[0]:
        return labels[0]
    if value > edges[1]:
        return labels[2]
    return labels[1]


def tertiles(values: Iterable[float]) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``values`` (0, 0 when there are none)."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        return (0.0, 0.0)
    low, high = np.quantile(arr, [1 / 3, 2 / 3])
    return (float(low), float(high))


def build_personas(
    clusters_of: Mapping[str, int],
    *,
    categories_of: Mapping[str, Iterable[str]],
    brands_of: Mapping[str, Iterable[str]],
    words_of: Mapping[str, Iterable[str]],
    prices_of: Mapping[str, Sequence[float]],
    events_of: Mapping[str, int],
    degree_of: Mapping[str, int],
    price_edges: tuple[float, float],
    k: int,
    top_n: int,
) -> list[Persona]:
    """One persona per cluster, largest first; clusters under ``k`` users are suppressed.

    Args:
        clusters_of: Cluster of each user on the map.
        categories_of: Categories of the items each user interacted with.
        brands_of: Brands of the items each user interacted with.
        words_of: Words of each user's own texts (reviews, search queries). Words and brands
            are ranked by lift against all users (see ``top_values``), categories by count.
        prices_of: Prices of the items each user interacted with.
        events_of: Train-window events per user (0 when absent).
        degree_of: Distinct social neighbours per user (0 when absent).
        price_edges: The catalog's price tertiles (``low`` below the first, ``high`` above
            the second).
        k: Fewest users a shown cluster or value may have.
        top_n: Values listed per persona and attribute.
    """
    members: dict[int, list[str]] = {}
    for user, cluster in sorted(clusters_of.items()):
        members.setdefault(int(cluster), []).append(user)
    activity_edges = tertiles(events_of.get(u, 0) for u in clusters_of)
    everybody = list(clusters_of)
    word_population = (user_counts(words_of, everybody), len(everybody))
    brand_population = (user_counts(brands_of, everybody), len(everybody))
    out = []
    for cluster in sorted(members, key=lambda c: (-len(members[c]), c)):
        users = members[cluster]
        if not is_shown(len(users), k=k):
            out.append(Persona(cluster=cluster, users=Suppressed(k)))
            continue
        medians = [float(np.median(prices_of[u])) for u in users if len(prices_of.get(u, ()))]
        median_price = float(np.median(medians)) if medians else None
        events = float(np.median([events_of.get(u, 0) for u in users]))
        out.append(
            Persona(
                cluster=cluster,
                users=len(users),
                categories=top_values(categories_of, users, k=k, top_n=top_n),
                words=top_values(words_of, users, k=k, top_n=top_n, population=word_population),
                brands=top_values(brands_of, users, k=k, top_n=top_n, population=brand_population),
                price_band=""
                if median_price is None
                else tertile_label(median_price, price_edges, PRICE_BANDS),
                median_price=median_price,
                activity=tertile_label(events, activity_edges, ACTIVITY_LEVELS),
                median_events=events,
                social_degree=float(np.mean([degree_of.get(u, 0) for u in users])),
            )
        )
    return out


def sample_users(
    clusters_of: Mapping[str, int], clusters: Iterable[int], *, per_cluster: int, seed: int
) -> list[tuple[str, int]]:
    """``per_cluster`` users of each of ``clusters``, the same ones for the same ids and seed.

    Users are ordered by a hash of ``seed`` and their id (not by id, which may encode signup
    order), so the sample neither favours old accounts nor changes when other users come.

    Returns:
        ``(user, cluster)`` pairs, cluster by cluster in the order given.
    """

    def key(user: str) -> str:
        return hashlib.sha256(f"{seed}:{user}".encode()).hexdigest()

    out = []
    for cluster in clusters:
        users = sorted((u for u, c in clusters_of.items() if c == cluster), key=key)
        out += [(u, cluster) for u in users[:per_cluster]]
    return out
