"""The two-tower model: a softmax over the whole catalog (or TFRS in-batch negatives) + a head.

Retrieval has two modes (``TrainConfig.softmax``):

- ``exact`` (catalogs up to ``TrainConfig.exact_softmax_max_items``): every example's positive
  is scored against every catalog item (``scoring.CatalogScorer``: towers, item bias,
  point-in-time popularity, relation graph), the user's own history masked out as it is at
  evaluation. 10k-100k items fit on a CPU; on Amazon 2014 grocery this alone took the model
  from below EASE to above every peer (prototype figures in README);
- ``in_batch``: TFRS Retrieval with the other examples of the batch as negatives and the logQ
  correction of their sampling bias, for catalogs too large to score whole at every step.

Both losses, and the ranking head's, are per-example means over the global batch, so the
task weights mean the same whatever the batch size and replica count.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.train.catalog import CatalogTable
from components.train.config import TrainConfig
from components.train.scoring import CatalogScorer, PopularityTimeline, history_mask
from components.train.towers import CandidateTower, QueryTower
from schemas import features as fs
from schemas.tables import ITEM_ID

xf = fs.transformed_name
MASKED = -1e9  # the logit of an item never recommended back (history)


class TwoTowerModel(tfrs.Model):
    """Query and candidate towers, scored over the catalog; optionally a conversion head.

    Args:
        query_tower: Transformed query features -> ``[B, d]``.
        candidate_tower: Candidate features -> ``[B, d]``.
        catalog: Every catalog row's static candidate features.
        config: Training settings.
        scorer: The catalog-wide scorer (``exact`` softmax); None for in-batch negatives.
        timeline: Point-in-time popularity of the train window (exact softmax with the
            behavior modality on), else None.
        item_probability: ``[vocab rows]`` sampling probability of each item id (logQ of
            in-batch negatives), or None.
        positive_weight: Extra weight of positive ranking labels.
        cutoff_day: The end of the examples' window (recency weights count back from it).
    """

    def __init__(
        self,
        *,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        catalog: CatalogTable,
        config: TrainConfig,
        scorer: CatalogScorer | None,
        timeline: PopularityTimeline | None,
        item_probability: tf.Tensor | None,
        positive_weight: float,
        cutoff_day: float,
    ) -> None:
        super().__init__()
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.catalog = catalog
        self.config = config
        self.scorer = scorer
        self.timeline = timeline
        self.popularity = None if timeline is None else tf.constant(timeline.table)
        self.item_probability = item_probability
        self.positive_weight = positive_weight
        self.cutoff_day = cutoff_day
        self.retrieval = tfrs.tasks.Retrieval(
            loss=tf.keras.losses.CategoricalCrossentropy(
                from_logits=True, reduction=tf.keras.losses.Reduction.SUM
            ),
            remove_accidental_hits=True,
        )
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

    def score_catalog(self, features: dict[str, tf.Tensor], *, blend: bool = True) -> tf.Tensor:
        """``[B, I]`` scores of every catalog row for transformed query features, as served.

        Popularity is the cut-off's; without the catalog scorer (in-batch training) the score
        is the towers' dot product alone. ``blend=False`` leaves the item-kNN blend term out
        (model selection adds it at every weight it tries).
        """
        queries = self.query_tower(features)
        if self.scorer is None:
            candidates = self.candidate_tower(self.catalog.rows())
            return tf.matmul(queries, candidates, transpose_b=True)
        return self.catalog_scores(features, queries, at_cutoff=True, blend=blend)

    def popularity_now(self) -> tf.Tensor | None:
        """``[I]`` log1p popularity as of the cut-off, or None (no popularity term)."""
        if self.popularity is None:
            return None
        return self.popularity[self.timeline.serving_row]

    def catalog_scores(
        self,
        features: dict[str, tf.Tensor],
        queries: tf.Tensor,
        *,
        at_cutoff: bool,
        blend: bool = False,
    ) -> tf.Tensor:
        """``[B, I]`` scores of every catalog row (exact mode).

        Args:
            features: Transformed query features (examples or requests).
            queries: ``[B, d]`` their query embeddings.
            at_cutoff: Popularity as of the cut-off (serving, validation) instead of as of each
                example's own day.
            blend: Add the item-kNN blend term (serving); training never does.
        """
        candidates = self.candidate_tower(self.catalog.rows())
        history = self.catalog.position_of(features[xf(fs.HIST_ITEM_IDS)])
        popularity = None
        if self.popularity is not None:
            if at_cutoff:
                popularity = self.popularity_now()[None, :]
            else:
                rows = self.timeline.rows(features[xf(fs.EVENT_DAY)])
                popularity = tf.gather(self.popularity, rows)
        return self.scorer(
            queries,
            candidates,
            history=history,
            recency=features[xf(fs.HIST_AGE_DAYS)],
            popularity=popularity,
            blend=blend,
        )

    def covisit_scores(self, features: dict[str, tf.Tensor]) -> tf.Tensor | None:
        """``[B, I]`` the item-kNN scores of the history, unweighted (None: no blend term)."""
        if self.scorer is None or self.scorer.covisit is None:
            return None
        return self.scorer.covisit(self.catalog.position_of(features[xf(fs.HIST_ITEM_IDS)]))

    def example_weights(self, features: dict[str, tf.Tensor]) -> tf.Tensor:
        """``[B]`` example weights: the examples' own, halved every ``recency_half_life_days``.

        Examples at or after ``cutoff_day`` weigh nothing: that is how model selection trains
        on the train window before the validation window alone.
        """
        day = features[xf(fs.EVENT_DAY)]
        weight = features[xf(fs.WEIGHT)] * tf.cast(day < self.cutoff_day, tf.float32)
        half_life = self.config.recency_half_life_days
        if half_life > 0:
            age = tf.maximum(self.cutoff_day - day, 0.0)
            weight = weight * tf.pow(0.5, age / half_life)
        return weight

    def compute_loss(self, features: dict[str, tf.Tensor], training: bool = False) -> tf.Tensor:
        """Weighted retrieval loss (+ weighted ranking loss when ``ranking_weight`` > 0)."""
        queries = self.query_tower(features, training=training)
        ids = features[xf(ITEM_ID)]
        weight = self.example_weights(features)
        replicas = tf.distribute.get_replica_context().num_replicas_in_sync
        global_batch = tf.cast(tf.shape(ids)[0] * replicas, tf.float32)
        if self.scorer is not None:
            scores = self.catalog_scores(features, queries, at_cutoff=False)
            history = self.catalog.position_of(features[xf(fs.HIST_ITEM_IDS)])
            seen = history_mask(history, self.catalog.items)
            scores = tf.where(seen > 0, MASKED, scores)
            positives = self.catalog.position_of(ids)
            # An item with no catalog row of its own (cut from the id vocabulary) cannot be a
            # softmax target: such an example weighs nothing.
            known = positives < self.catalog.items
            weight = tf.where(known, weight, 0.0)
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                tf.where(known, positives, 0), scores
            )
            loss = tf.reduce_sum(weight * per_example) / global_batch
        else:
            candidates = self.candidate_tower(self.catalog(features))
            probability = (
                tf.gather(self.item_probability, ids) if self.item_probability is not None else None
            )
            loss = (
                self.retrieval(
                    queries,
                    candidates,
                    sample_weight=weight,
                    candidate_sampling_probability=probability,
                    candidate_ids=ids,
                    compute_metrics=False,
                )
                / global_batch
            )
        if self.config.ranking_weight > 0:
            label = features[xf(fs.LABEL)]
            candidates = self.candidate_tower(self.catalog(features))
            logits = self.ranking_head(tf.concat([queries, candidates], axis=-1))
            class_weight = 1.0 + (self.positive_weight - 1.0) * label
            ranking = self.ranking(
                labels=label[:, None], predictions=logits, sample_weight=weight * class_weight
            )
            loss += self.config.ranking_weight * ranking / global_batch
        return loss
