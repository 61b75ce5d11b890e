"""Configuration of the train stage."""

from __future__ import annotations

import dataclasses

from schemas.contract import SWITCHABLE, Modality

ALL_MODALITIES = frozenset(SWITCHABLE)
# Modalities the query tower reads (image is candidate-side only).
QUERY_CONTENT = (Modality.PROFILE, Modality.TEXT, Modality.BEHAVIOR, Modality.RELATION)


SOFTMAX_MODES = ("auto", "exact", "in_batch")


def parse_modalities(text: str) -> frozenset[Modality]:
    """``"text,image"`` -> modalities; ``"all"`` -> every one; ``""``/``"none"`` -> ID only.

    Raises:
        ValueError: naming an unknown modality and the known ones.
    """
    text = text.strip().lower()
    if text == "all":
        return ALL_MODALITIES
    if text in ("", "none", "id"):
        return frozenset()
    names = {m.value: m for m in SWITCHABLE}
    chosen = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part not in names:
            raise ValueError(f"unknown modality {part!r}; known: {sorted(names)} (or 'all')")
        chosen.add(names[part])
    return frozenset(chosen)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Model size, objectives, optimisation, hardware and export settings.

    Attributes:
        epochs: Passes over the train examples; with ``select_epochs``, the most tried on
            validation (the final fit runs the chosen number).
        batch_size: Examples per step (also the number of in-batch negatives), global across
            replicas.
        embedding_dim: Width of the shared query/candidate embedding space.
        learning_rate: Adam learning rate.
        modalities: Content modalities on (ids always are).
        ranking_weight: Weight of the ranking head's loss beside retrieval (0 = retrieval only).
        positive_weight: Extra weight of positive ranking labels (class imbalance); None = from
            the data (negatives / positives, at most 10).
        logq_correction: Correct in-batch negatives for item popularity (sampling bias).
        mixed_precision: float16 compute; None = on exactly when a GPU is present.
        top_k: Items the serving signature returns per user (capped at the catalog size).
        checkpoint_every_steps: BackupAndRestore saves this often (a killed trainer resumes).
        user_id_dropout: In training, the share of examples whose user id is replaced by the
            out-of-vocabulary id (what an unseen user gets at serving), so the content paths
            (history, text, friends, profile) must place users on their own instead of leaning on
            the id embedding, which every warm user has. Only when a query-side content modality
            is on (the ID-only model has nothing else to place a user with). 0 = off.
        history_text: With text and behavior on, the query tower also pools the catalog text
            of the items in the user's history (on Amazon 2014 beauty, +9% Recall@20 on the
            validation window in the prototype).
        shared_space: Add to each tower's output a projection, shared by both towers, of the
            pooled token embeddings (user text / item text) and of the pooled item embeddings
            (history and friends' items / the candidate's id): a user's words and items then
            score the items with those words and near those items without a training example
            that links them (the text users' words, the relation users' friends).
        lazy_adam_min_rows: Embedding tables with at least this many rows get lazy Adam
            updates, only the rows a batch touched (``optimizer``); smaller tables tf_keras'
            Adam, which moves every row each step (225 ms a step for a 1M-row table here, 2.7 ms
            at 10k). 0: every table lazy.
        softmax: ``exact`` (every example against the whole catalog, ``scoring``),
            ``in_batch`` (TFRS in-batch negatives with logQ), or ``auto``: exact up to
            ``exact_softmax_max_items`` catalog rows.
        exact_softmax_max_items: The largest catalog ``auto`` scores whole at every step.
        recency_half_life_days: Example weights halve every this many days before the end of
            the window (recent behavior says more about tomorrow); 0 = all equal.
        popularity_bucket_days: Width of the point-in-time popularity buckets.
        popularity_window: Buckets of popularity before each example's own (the popularity
            term counts distinct users over ``window * bucket_days`` days).
        covisit_neighbours: With the behavior modality on and the exact softmax, the score
            gets the item-kNN blend term (``scoring.CoVisitation``): cosine co-visitation of
            the train window, this many neighbours per item (the item-kNN peer's middle
            setting). 0 = off.
        blend_weights: The blend term's weights tried on the validation window with each
            epoch (0 among them: the blend can be refused); the best pair is kept.
        select_epochs: Choose the number of epochs on the validation window (train on the
            examples before it, score its users after each epoch, stop ``patience`` epochs
            after the best), then train on the whole train window for that many epochs. Off,
            or with no validation window: ``epochs`` epochs.
        patience: Epochs without a better validation figure before selection stops (1: the
            validation curves measured on Amazon 2014 grocery and beauty rise to one peak and
            fall; each extra epoch of patience costs a whole epoch of training).
        selection_metric: The validation figure epochs are chosen by.
        seed: Seeds TensorFlow, NumPy and Python for a repeatable run.
    """

    epochs: int = 8
    batch_size: int = 256
    embedding_dim: int = 64
    learning_rate: float = 0.002
    modalities: frozenset[Modality] = ALL_MODALITIES
    ranking_weight: float = 0.0
    positive_weight: float | None = None
    logq_correction: bool = True
    mixed_precision: bool | None = None
    top_k: int = 100
    checkpoint_every_steps: int = 100
    user_id_dropout: float = 0.25
    shared_space: bool = True
    history_text: bool = True
    lazy_adam_min_rows: int = 500_000
    softmax: str = "auto"
    exact_softmax_max_items: int = 20_000
    recency_half_life_days: float = 0.0
    popularity_bucket_days: float = 7.0
    popularity_window: int = 4
    covisit_neighbours: int = 100
    blend_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    select_epochs: bool = True
    patience: int = 1
    selection_metric: str = "recall@20"
    seed: int = 7

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "embedding_dim", "top_k", "checkpoint_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if self.lazy_adam_min_rows < 0:
            raise ValueError(
                f"TrainConfig.lazy_adam_min_rows must be >= 0, got {self.lazy_adam_min_rows}"
            )
        if self.ranking_weight < 0:
            raise ValueError(f"TrainConfig.ranking_weight must be >= 0, got {self.ranking_weight}")
        if not 0 <= self.user_id_dropout < 1:
            raise ValueError(
                f"TrainConfig.user_id_dropout must be in [0, 1), got {self.user_id_dropout}"
            )
        if self.softmax not in SOFTMAX_MODES:
            raise ValueError(
                f"TrainConfig.softmax must be one of {SOFTMAX_MODES}: {self.softmax!r}"
            )
        if self.covisit_neighbours < 0 or any(w < 0 for w in self.blend_weights):
            raise ValueError(
                "TrainConfig.covisit_neighbours and blend_weights must be >= 0, got "
                f"{self.covisit_neighbours}, {self.blend_weights}"
            )
        for name in ("recency_half_life_days",):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("popularity_bucket_days", "popularity_window", "patience"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        metric, _, k = self.selection_metric.partition("@")
        if metric not in ("recall", "ndcg", "hit_rate") or not k.isdigit() or int(k) < 1:
            raise ValueError(
                f"TrainConfig.selection_metric must be recall@K, ndcg@K or hit_rate@K: "
                f"{self.selection_metric!r}"
            )
        unknown = set(self.modalities) - ALL_MODALITIES
        if unknown:
            raise ValueError(f"TrainConfig.modalities: {unknown} cannot be switched")

    def exact_softmax(self, catalog_items: int) -> bool:
        """Whether to train with the whole-catalog softmax for a catalog of this size."""
        if self.softmax == "auto":
            return catalog_items <= self.exact_softmax_max_items
        return self.softmax == "exact"

    def uses(self, modality: Modality) -> bool:
        """Whether ``modality`` is on (ids always are)."""
        return modality is Modality.ID or modality in self.modalities

    @property
    def query_content(self) -> bool:
        """Whether any query-side content modality is on (profile, behavior, text, relation)."""
        return any(m in self.modalities for m in QUERY_CONTENT)
