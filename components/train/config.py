"""Configuration of the train stage."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Model size, optimisation and export settings.

    Attributes:
        epochs: Passes over the train examples.
        batch_size: Examples per step (also the number of in-batch negatives).
        embedding_dim: Width of the shared query/candidate embedding space.
        learning_rate: Adagrad learning rate.
        top_k: Items the serving signature returns per user (capped at the catalog size).
        seed: Seeds TensorFlow, NumPy and Python for a repeatable run.
    """

    epochs: int = 3
    batch_size: int = 256
    embedding_dim: int = 32
    learning_rate: float = 0.1
    top_k: int = 100
    seed: int = 7

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "embedding_dim", "top_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
