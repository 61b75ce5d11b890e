"""Configuration of the train stage."""

from __future__ import annotations

import dataclasses

from schemas.contract import Modality

# Content modalities that can be switched off; ids are always on (the ID-only model is the same
# code with every one of these off).
SWITCHABLE = (Modality.PROFILE, Modality.TEXT, Modality.IMAGE, Modality.BEHAVIOR, Modality.RELATION)
ALL_MODALITIES = frozenset(SWITCHABLE)


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
        epochs: Passes over the train examples.
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
        seed: Seeds TensorFlow, NumPy and Python for a repeatable run.
    """

    epochs: int = 3
    batch_size: int = 256
    embedding_dim: int = 32
    learning_rate: float = 0.005
    modalities: frozenset[Modality] = ALL_MODALITIES
    ranking_weight: float = 0.2
    positive_weight: float | None = None
    logq_correction: bool = True
    mixed_precision: bool | None = None
    top_k: int = 100
    checkpoint_every_steps: int = 100
    seed: int = 7

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "embedding_dim", "top_k", "checkpoint_every_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if self.ranking_weight < 0:
            raise ValueError(f"TrainConfig.ranking_weight must be >= 0, got {self.ranking_weight}")
        unknown = set(self.modalities) - ALL_MODALITIES
        if unknown:
            raise ValueError(f"TrainConfig.modalities: {unknown} cannot be switched")

    def uses(self, modality: Modality) -> bool:
        """Whether ``modality`` is on (ids always are)."""
        return modality is Modality.ID or modality in self.modalities
