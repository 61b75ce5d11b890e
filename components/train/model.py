"""The two-tower retrieval model: TFRS Retrieval over in-batch negatives."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.train.towers import CandidateTower, QueryTower


class TwoTowerModel(tfrs.Model):
    """Query and candidate towers scored by dot product, trained with a softmax over the batch."""

    def __init__(self, query_tower: QueryTower, candidate_tower: CandidateTower) -> None:
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.retrieval = tfrs.tasks.Retrieval()

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """In-batch softmax loss of ``[batch, dim]`` queries against ``[batch, dim]`` candidates."""
        queries = self.query_tower(features)
        candidates = self.candidate_tower(features)
        return self.retrieval(queries, candidates, compute_metrics=not training)
