"""The two-tower model: TFRS Retrieval (in-batch negatives, logQ correction) + a ranking head."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.train.catalog import CatalogTable
from components.train.config import TrainConfig
from components.train.towers import CandidateTower, QueryTower
from schemas import features as fs
from schemas.tables import ITEM_ID

xf = fs.transformed_name


class TwoTowerModel(tfrs.Model):
    """Query and candidate towers scored by dot product; optionally a purchase-intent head.

    The loss is retrieval + ``ranking_weight`` x ranking (multi-task), both weighted per
    example; positive ranking labels are up-weighted by ``positive_weight`` (class imbalance).
    """

    def __init__(
        self,
        *,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        catalog: CatalogTable,
        config: TrainConfig,
        item_probability: tf.Tensor | None,
        positive_weight: float,
    ) -> None:
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.catalog = catalog
        self.config = config
        self.item_probability = item_probability
        self.positive_weight = positive_weight
        self.retrieval = tfrs.tasks.Retrieval(remove_accidental_hits=True)
        self.ranking_head = self.ranking = None
        if config.ranking_weight <= 0:
            return  # retrieval only: an unused head would have no weights (Keras refuses that)
        self.ranking_head = tf.keras.Sequential(
            [
                tf.keras.layers.Dense(config.embedding_dim, activation="relu"),
                tf.keras.layers.Dense(1),
            ],
            name="ranking_head",
        )
        self.ranking = tfrs.tasks.Ranking(
            # SUM, averaged over the global batch in compute_loss: tf.distribute strategies
            # refuse the default (AUTO) reduction ("Please use ... Reduction.SUM or NONE").
            loss=tf.keras.losses.BinaryCrossentropy(
                from_logits=True, reduction=tf.keras.losses.Reduction.SUM
            ),
            metrics=[tf.keras.metrics.AUC(from_logits=True, name="ranking_auc")],
        )

    def embed(
        self, features: dict[str, tf.Tensor], training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """``([batch, dim] queries, [batch, dim] candidates)`` of a batch of examples."""
        queries = self.query_tower(features, training=training)
        candidates = self.candidate_tower(self.catalog(features))
        return queries, candidates

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """Weighted retrieval loss (+ weighted ranking loss when ``ranking_weight`` > 0)."""
        queries, candidates = self.embed(features, training=training)
        ids = features[xf(ITEM_ID)]
        weight = features[xf(fs.WEIGHT)]
        probability = (
            tf.gather(self.item_probability, ids) if self.item_probability is not None else None
        )
        loss = self.retrieval(
            queries,
            candidates,
            sample_weight=weight,
            candidate_sampling_probability=probability,
            candidate_ids=ids,
            compute_metrics=False,
        )
        if self.config.ranking_weight > 0:
            label = features[xf(fs.LABEL)]
            logits = self.ranking_head(tf.concat([queries, candidates], axis=-1))
            class_weight = 1.0 + (self.positive_weight - 1.0) * label
            ranking = self.ranking(
                labels=label[:, None], predictions=logits, sample_weight=weight * class_weight
            )
            replicas = tf.distribute.get_replica_context().num_replicas_in_sync
            global_batch = tf.cast(tf.shape(label)[0] * replicas, ranking.dtype)
            loss += self.config.ranking_weight * ranking / global_batch
        return loss
