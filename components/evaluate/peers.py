"""Simple recommenders the candidate must beat, fitted on a train window only (pure numpy/scipy).

A nightly retrain is worth its cost only if it ships a model better than what ten lines of code
would give. These are those lines, each scored exactly like the candidate (same users, same
targets, history removed):

- ``most_popular``: items by distinct users over the whole window;
- ``recent_popular``: the same over the last ``days`` before the cut-off (over a long window
  all-time popularity is a straw man: Amazon 2014 grocery, Recall@20 0.002 all-time, 0.032 over
  the last 10%);
- ``item_knn``: cosine item-item similarity of the user-item matrix, ``neighbours`` per item;
- ``ease``: Steck's closed-form linear item-item model (``l2``); one dense ``items x items``
  inverse, so it is skipped above ``EASE_MAX_ITEMS`` with the reason written down;
- ``relation_knn``: items the catalog relates to the history (also-bought, also-viewed, ...),
  one weight per relation kind;
- ``text_knn``: TF-IDF cosine of item text (title + description), ``neighbours`` per item.

Every peer breaks ties (and ranks for users without history) by recent popularity, the same
fallback a platform team would write. Each peer's own setting is chosen on the validation
window (``tune``), never on the eval window.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack

from components.ranking_metrics import per_user_metrics
from components.similarity import cosine_neighbours

MOST_POPULAR = "most_popular"
RECENT_POPULAR = "recent_popular"
ITEM_KNN = "item_knn"
EASE = "ease"
RELATION_KNN = "relation_knn"
TEXT_KNN = "text_knn"
PEERS = (MOST_POPULAR, RECENT_POPULAR, ITEM_KNN, EASE, RELATION_KNN, TEXT_KNN)
# Above this many items EASE's dense inverse costs more than a nightly run should (12k items:
# about 25 s and 0.6 GB in float32 here, per setting tried).
EASE_MAX_ITEMS = 25_000
DAY_US = 86_400 * 1_000_000
# Settings tried on the validation window, per peer (a peer with one setting is not tuned).
GRIDS: Mapping[str, Mapping[str, Sequence[object]]] = {
    MOST_POPULAR: {},
    RECENT_POPULAR: {"days": (7, 30, 90, 365, 1095)},
    ITEM_KNN: {"neighbours": (20, 100, 400)},
    EASE: {"l2": (100.0, 400.0, 1600.0)},
    RELATION_KNN: {"secondary_weight": (0.0, 0.25, 1.0)},
    TEXT_KNN: {"neighbours": (20, 100)},
}
TIE_BREAK = 1e-6  # weight of recent popularity under every peer's own score

Scorer = Callable[[sp.csr_matrix], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Window:
    """What a peer may learn from: one window's (user, item) pairs over a fixed item index.

    Attributes:
        items: ``[I]`` item ids; column ``j`` of every matrix is ``items[j]``.
        pairs: ``[U, I]`` binary CSR, 1 where the user interacted with the item in the window.
        last_us: ``[nnz]`` int64 epoch microseconds of each pair's latest event, aligned with
            ``pairs.data``.
        cutoff_us: The window's end (its first excluded instant).
    """

    items: np.ndarray
    pairs: sp.csr_matrix
    last_us: np.ndarray
    cutoff_us: int

    @property
    def n_items(self) -> int:
        """Catalog size."""
        return len(self.items)


def build_window(
    users: np.ndarray, items: np.ndarray, ts_us: np.ndarray, catalog: np.ndarray, cutoff_us: int
) -> Window:
    """A ``Window`` from event columns; events at or after ``cutoff_us`` are ignored.

    Args:
        users: ``[n]`` user ids of the events.
        items: ``[n]`` item ids; items outside ``catalog`` are ignored (nothing to rank).
        ts_us: ``[n]`` int64 epoch microseconds.
        catalog: ``[I]`` item ids, the order of every score vector.
        cutoff_us: First instant not in the window.
    """
    catalog = np.asarray(catalog, dtype=object)
    position = {item: j for j, item in enumerate(catalog)}
    cols = np.fromiter((position.get(i, -1) for i in items), np.int64, len(items))
    keep = (cols >= 0) & (np.asarray(ts_us) < cutoff_us)
    user_ids, rows = np.unique(np.asarray(users, dtype=object)[keep], return_inverse=True)
    cols, ts = cols[keep], np.asarray(ts_us, np.int64)[keep]
    # Latest event per pair: sort by time, keep the last of each (row, col).
    order = np.lexsort((ts, cols, rows))
    rows, cols, ts = rows[order], cols[order], ts[order]
    last = np.ones(len(rows), bool)
    if len(rows):
        last[:-1] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, ts = rows[last], cols[last], ts[last]
    pairs = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(user_ids), len(catalog))
    )
    # csr_matrix sorts by (row, col), the order the arrays already have.
    return Window(items=catalog, pairs=pairs, last_us=ts, cutoff_us=int(cutoff_us))


def history_matrix(history: Sequence[set[str]], items: np.ndarray) -> sp.csr_matrix:
    """``[users, I]`` binary CSR of each user's history over ``items`` (unknown items dropped)."""
    position = {item: j for j, item in enumerate(items)}
    rows, cols = [], []
    for r, seen in enumerate(history):
        for item in seen:
            j = position.get(item)
            if j is not None:
                rows.append(r)
                cols.append(j)
    return sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(history), len(items))
    )


def popularity(window: Window, *, days: float | None = None) -> np.ndarray:
    """``[I]`` distinct users per item, over the last ``days`` of the window (None: all)."""
    pairs = window.pairs.tocoo()
    keep = np.ones(len(pairs.data), bool)
    if days is not None:
        keep = window.last_us >= window.cutoff_us - int(days * DAY_US)
    return np.bincount(pairs.col[keep], minlength=window.n_items).astype(np.float64)


def ease_weights(pairs: sp.csr_matrix, l2: float) -> np.ndarray:
    """EASE's item-item weights ``[I, I]`` (zero diagonal) from the user-item matrix.

    B = I - P diag(1 / diag(P)), with P = (X^T X + l2 I)^-1 (Steck, WWW 2019). P comes from a
    float32 Cholesky factorization (LAPACK potrf/potri; the Gram matrix plus ``l2`` is
    positive definite): 3.5x faster than a float64 ``inv`` here (8.7k items: 11 s against
    38 s), which is most of the peers' time. float64 if float32 cannot factor it.
    """
    pairs = pairs.astype(np.float32)
    gram = (pairs.T @ pairs).toarray()  # float32: counts up to 2^24 are exact
    gram[np.diag_indices_from(gram)] += l2
    inverse = None
    for factor, invert, dtype in (
        (lapack.spotrf, lapack.spotri, np.float32),
        (lapack.dpotrf, lapack.dpotri, np.float64),
    ):
        chol, info = factor(gram.astype(dtype, copy=False), lower=False, overwrite_a=True)
        if info == 0:
            upper, info = invert(chol, lower=False, overwrite_c=True)
        if info == 0:
            inverse = np.triu(upper)
            inverse += np.triu(upper, 1).T
            break
        gram = (pairs.T @ pairs).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += l2
    if inverse is None:  # not positive definite (cannot happen with l2 > 0): the general way
        inverse = np.linalg.inv(gram)
    inverse /= -np.diag(inverse)
    weights = inverse.astype(np.float32, copy=False)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights


class Unavailable(ValueError):
    """A peer cannot be fitted on this data (the message says why)."""


def fit(
    name: str,
    window: Window,
    setting: Mapping[str, object],
    *,
    relations: Mapping[str, sp.csr_matrix],
    texts: sp.csr_matrix | None,
    fallback_days: float,
) -> Scorer:
    """A scorer ``[users, I]`` history -> ``[users, I]`` scores for peer ``name``.

    Args:
        name: One of ``PEERS``.
        window: The train window it learns from.
        setting: The peer's own setting (a point of ``GRIDS[name]``).
        relations: Relation kind -> ``[I, I]`` CSR (row item related to column item), in
            order of strength (the first kind weighs 1, the others ``secondary_weight``).
        texts: ``[I, V]`` TF-IDF rows of item text, or None when the catalog has none.
        fallback_days: Recent-popularity window of the tie-break.

    Raises:
        Unavailable: the data cannot support the peer (catalog too large for EASE, no
            relations, no item text).
    """
    tie = popularity(window, days=fallback_days)
    tie = TIE_BREAK * tie / max(tie.max(), 1.0)

    def constant(scores: np.ndarray) -> Scorer:
        return lambda history: np.broadcast_to(scores, (history.shape[0], len(scores))).copy()

    def through(weights: sp.spmatrix | np.ndarray) -> Scorer:
        def score(history: sp.csr_matrix) -> np.ndarray:
            out = history @ weights
            out = out.toarray() if sp.issparse(out) else np.asarray(out)
            return out.astype(np.float64) + tie

        return score

    if name == MOST_POPULAR:
        return constant(popularity(window) + tie)
    if name == RECENT_POPULAR:
        return constant(popularity(window, days=float(setting["days"])) + tie)
    if name == ITEM_KNN:
        return through(cosine_neighbours(window.pairs.T, int(setting["neighbours"])))
    if name == EASE:
        if window.n_items > EASE_MAX_ITEMS:
            raise Unavailable(
                f"catalog of {window.n_items} items > {EASE_MAX_ITEMS}: EASE's dense "
                "items x items inverse is skipped"
            )
        return through(ease_weights(window.pairs, float(setting["l2"])))
    if name == RELATION_KNN:
        if not relations:
            raise Unavailable("no item relations in the catalog")
        secondary = float(setting["secondary_weight"])
        kinds = list(relations)
        weights = sum(
            (relations[k] * (1.0 if i == 0 else secondary) for i, k in enumerate(kinds)),
            sp.csr_matrix((window.n_items, window.n_items), dtype=np.float32),
        )
        return through(weights)
    if name == TEXT_KNN:
        if texts is None or texts.nnz == 0:
            raise Unavailable("no item text in the catalog")
        return through(cosine_neighbours(texts, int(setting["neighbours"])))
    raise KeyError(f"unknown peer {name!r}; peers: {PEERS}")


def settings(name: str) -> list[dict[str, object]]:
    """Every setting of ``GRIDS[name]`` (one empty setting for an untuned peer)."""
    grid = GRIDS[name]
    keys = sorted(grid)
    return [
        dict(zip(keys, values, strict=True))
        for values in itertools.product(*(grid[k] for k in keys))
    ]


def rank(
    scorer: Scorer, history: sp.csr_matrix, items: np.ndarray, *, depth: int, batch: int = 512
) -> list[list[str]]:
    """Per user, the ``depth`` best items by ``scorer``, history removed, best first."""
    ranked: list[list[str]] = []
    depth = min(depth, len(items))
    for start in range(0, history.shape[0], batch):
        block = history[start : start + batch]
        scores = scorer(block)
        seen = block.tocoo()
        scores[seen.row, seen.col] = -np.inf
        top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
        part = np.take_along_axis(scores, top, axis=1)
        # Ties by catalog position, so every run ranks the same.
        order = np.lexsort((top, -part), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        part = np.take_along_axis(part, order, axis=1)
        for row, values in zip(top, part, strict=True):
            ranked.append([str(items[j]) for j, v in zip(row, values, strict=True) if v > -np.inf])
    return ranked


@dataclasses.dataclass(frozen=True)
class Choice:
    """A peer's setting chosen on validation, with every setting's validation figure.

    Attributes:
        setting: The chosen setting (empty for an untuned peer).
        tried: One ``{"setting": ..., metric: value}`` per setting tried, in grid order.
        problem: Why the peer could not be fitted (then ``setting`` is None).
    """

    setting: dict[str, object] | None
    tried: list[dict[str, object]]
    problem: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return {"setting": self.setting, "tried": self.tried, "problem": self.problem}


def tune(
    name: str,
    window: Window,
    history: sp.csr_matrix,
    targets: Sequence[set[str]],
    *,
    metric: str,
    relations: Mapping[str, sp.csr_matrix],
    texts: sp.csr_matrix | None,
    fallback_days: float,
    ks: Sequence[int],
) -> Choice:
    """The setting of ``GRIDS[name]`` with the best ``metric`` on a validation window.

    Args:
        name: The peer.
        window: The validation fit window (events before the validation cut-off).
        history: ``[users, I]`` the validation users' histories in ``window``.
        targets: Their validation-window targets.
        metric: What to maximise (e.g. ``recall@20``); ties keep the earlier setting.
        relations: As for ``fit``.
        texts: As for ``fit``.
        fallback_days: As for ``fit``.
        ks: Cut-offs the metrics are computed at (must produce ``metric``).
    """
    tried: list[dict[str, object]] = []
    best, best_value = None, -np.inf
    depth = max(ks)
    for setting in settings(name):
        try:
            scorer = fit(
                name, window, setting, relations=relations, texts=texts, fallback_days=fallback_days
            )
        except Unavailable as e:
            return Choice(setting=None, tried=[], problem=str(e))
        if not targets:
            return Choice(setting=setting, tried=[], problem=None)
        ranked = rank(scorer, history, window.items, depth=depth)
        value = float(per_user_metrics(ranked, targets, ks=ks)[metric].mean())
        tried.append({"setting": setting, metric: round(value, 6)})
        if value > best_value:
            best, best_value = setting, value
    return Choice(setting=best, tried=tried)


@dataclasses.dataclass(frozen=True)
class Events:
    """Event columns a peer reads: ``[n]`` user ids, item ids, epoch microseconds."""

    users: np.ndarray
    items: np.ndarray
    ts_us: np.ndarray

    def before(self, cutoff_us: int) -> Events:
        """The events strictly before ``cutoff_us``."""
        keep = self.ts_us < cutoff_us
        return Events(self.users[keep], self.items[keep], self.ts_us[keep])


@dataclasses.dataclass(frozen=True)
class PeerRankings:
    """Every peer's rankings of the eval users, and how each peer's setting was chosen.

    Attributes:
        ranked: Peer -> per eval user, item ids best first (history removed).
        choices: Peer -> its validation ``Choice`` (``problem`` set when it could not run).
        validation_users: Users the validation window judged.
    """

    ranked: dict[str, list[list[str]]]
    choices: dict[str, Choice]
    validation_users: int


def relation_matrices(
    src: Sequence[str], dst: Sequence[str], kind: Sequence[str], items: np.ndarray
) -> dict[str, sp.csr_matrix]:
    """One ``[I, I]`` binary CSR per relation kind, strongest first (most pairs, then name).

    Pairs with an end outside ``items`` are left out.
    """
    position = {item: j for j, item in enumerate(items)}
    by_kind: dict[str, tuple[list[int], list[int]]] = {}
    for s, d, k in zip(src, dst, kind, strict=True):
        i, j = position.get(s), position.get(d)
        if i is not None and j is not None and i != j:
            rows, cols = by_kind.setdefault(k, ([], []))
            rows.append(i)
            cols.append(j)
    out = {}
    for k in sorted(by_kind, key=lambda k: (-len(by_kind[k][0]), k)):
        rows, cols = by_kind[k]
        m = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, cols)), shape=(len(items), len(items))
        )
        m.data[:] = 1.0  # duplicates summed by the constructor count once
        out[k] = m
    return out


def tfidf(texts: Sequence[str]) -> sp.csr_matrix | None:
    """``[I, V]`` TF-IDF rows of item texts (scikit-learn), or None when no item has text."""
    if not any(t.strip() for t in texts):
        return None
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(min_df=1).fit_transform(texts).tocsr().astype(np.float32)


def rank_peers(
    train: Events,
    *,
    catalog: np.ndarray,
    validation_start_us: int,
    train_end_us: int,
    validation_history: Sequence[set[str]],
    validation_targets: Sequence[set[str]],
    eval_history: Sequence[set[str]],
    relations: Mapping[str, sp.csr_matrix],
    texts: sp.csr_matrix | None,
    metric: str,
    ks: Sequence[int],
    depth: int,
) -> PeerRankings:
    """Tune every peer on the validation window, then rank the eval users with it.

    Args:
        train: The train window's events (all users: popularity counts everyone).
        catalog: ``[I]`` item ids, the order of every score.
        validation_start_us: The validation window's start.
        train_end_us: The train window's end (the eval cut-off).
        validation_history: The validation users' items before the validation window.
        validation_targets: Their new items in it.
        eval_history: The eval users' train-window items (never ranked back).
        relations: ``relation_matrices`` of the catalog.
        texts: ``tfidf`` of the catalog's item texts, or None.
        metric: The validation figure that chooses each setting.
        ks: Cut-offs of the validation metrics.
        depth: Length of the eval rankings.
    """
    fit_window = build_window(train.users, train.items, train.ts_us, catalog, validation_start_us)
    eval_window = build_window(train.users, train.items, train.ts_us, catalog, train_end_us)
    val_history = history_matrix(validation_history, catalog)
    eval_rows = history_matrix(eval_history, catalog)
    extra = {"relations": relations, "texts": texts}
    choices: dict[str, Choice] = {}
    ranked: dict[str, list[list[str]]] = {}
    recent = tune(
        RECENT_POPULAR, fit_window, val_history, validation_targets, metric=metric,
        fallback_days=1e9, ks=ks, **extra,
    )  # fmt: skip
    fallback = float(recent.setting["days"]) if recent.setting else 1e9
    for name in PEERS:
        choice = recent if name == RECENT_POPULAR else tune(
            name, fit_window, val_history, validation_targets, metric=metric,
            fallback_days=fallback, ks=ks, **extra,
        )  # fmt: skip
        choices[name] = choice
        if choice.setting is None:
            continue
        scorer = fit(name, eval_window, choice.setting, fallback_days=fallback, **extra)
        ranked[name] = rank(scorer, eval_rows, catalog, depth=depth)
    return PeerRankings(ranked=ranked, choices=choices, validation_users=len(validation_targets))
