"""Export: one SavedModel that takes raw features and returns top-K raw item ids and scores.

The TFT graph is tracked inside the module, so its vocabularies travel with the model and serving
applies exactly the training-time transform; images are decoded inside the model by the same
function training used (no skew). Signatures:

- ``serving_default``: raw query features -> ``item_ids`` ``[batch, k]``, ``scores``;
- ``query_embedding``: raw query features -> ``embedding`` ``[batch, dim]``;
- ``candidate_embedding``: raw candidate features (image bytes included) -> ``embedding``: a new
  item (cold start) is placed by its content;
- ``ranking`` (when the model was trained with a ranking head): raw query + candidate features of
  (user, item) pairs -> ``probability`` ``[batch]`` that the pair converts.
"""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.train.catalog import raw_tensors, transform_candidates
from components.train.towers import CandidateTower, QueryTower
from schemas import features as fs
from schemas.tables import ITEM_ID

SERVING_DIR = "serving"
EMBEDDINGS_DIR = "embeddings"
OUTPUT_ITEM_IDS = "item_ids"
OUTPUT_SCORES = "scores"
EMBEDDING = "embedding"
SERVING_SIGNATURE = "serving_default"
QUERY_EMBEDDING_SIGNATURE = "query_embedding"
CANDIDATE_EMBEDDING_SIGNATURE = "candidate_embedding"
RANKING_SIGNATURE = "ranking"
OUTPUT_PROBABILITY = "probability"

QUERY_SPEC = {f.name: f.tensor_spec() for f in fs.features(fs.Side.QUERY)}
CANDIDATE_SPEC = {f.name: f.tensor_spec() for f in fs.features(fs.Side.CANDIDATE)}
PAIR_SPEC = {**QUERY_SPEC, **CANDIDATE_SPEC}


class Recommender(tf.Module):
    """Raw features in, top-K items or embeddings out (see the module docstring)."""

    def __init__(
        self,
        *,
        tft_layer: tf.keras.Model,
        query_tower: QueryTower,
        candidate_tower: CandidateTower,
        index: tfrs.layers.factorized_top_k.TopK,
        k: int,
        ranking_head: tf.keras.Model | None = None,
    ) -> None:
        super().__init__(name="recommender")
        self.tft_layer = tft_layer
        self.query_tower = query_tower
        self.candidate_tower = candidate_tower
        self.index = index
        self.k = k
        self.ranking_head = ranking_head
        # Only a model with a head gets the traced function: saving traces every tf.function
        # attribute, and a head-less one would fail there.
        self.rank = (
            tf.function(self._rank, input_signature=[PAIR_SPEC])
            if ranking_head is not None
            else None
        )

    @tf.function(input_signature=[QUERY_SPEC])
    def recommend(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features ``[batch, ...]`` -> ``item_ids``/``scores`` ``[batch, k]``."""
        scores, ids = self.index(self._embed_queries(raw), k=self.k)
        return {OUTPUT_ITEM_IDS: ids, OUTPUT_SCORES: scores}

    @tf.function(input_signature=[QUERY_SPEC])
    def query_embedding(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features -> ``embedding`` ``[batch, dim]``."""
        return {EMBEDDING: self._embed_queries(raw)}

    @tf.function(input_signature=[CANDIDATE_SPEC])
    def candidate_embedding(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw candidate features (image bytes, "" for none) -> ``embedding`` ``[batch, dim]``."""
        return {EMBEDDING: self._embed_candidates(raw)}

    def _rank(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query + candidate features of pairs -> conversion ``probability`` ``[batch]``."""
        queries = self._embed_queries({name: raw[name] for name in QUERY_SPEC})
        candidates = self._embed_candidates({name: raw[name] for name in CANDIDATE_SPEC})
        logits = self.ranking_head(tf.concat([queries, candidates], axis=-1))
        return {OUTPUT_PROBABILITY: tf.sigmoid(tf.cast(logits[:, 0], tf.float32))}

    def _embed_candidates(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.candidate_tower(transform_candidates(raw, self.tft_layer))

    def _embed_queries(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.query_tower(self.tft_layer(raw))


def item_embeddings_path(model_dir: str) -> str:
    """``<model>/embeddings/items.parquet``: every catalog item's candidate embedding."""
    return os.path.join(model_dir, EMBEDDINGS_DIR, "items.parquet")


def user_embeddings_path(model_dir: str) -> str:
    """``<model>/embeddings/users.parquet``: the eval requests' query embeddings."""
    return os.path.join(model_dir, EMBEDDINGS_DIR, "users.parquet")


def embed_catalog(
    catalog: pa.Table,
    *,
    tft_layer: tf.keras.Model,
    candidate_tower: CandidateTower,
    batch_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate embeddings of every catalog row, from its raw features (as serving would).

    Returns:
        ``(ids [n] str, embeddings [n, dim] float32)``.
    """
    chunks = []
    for start in range(0, catalog.num_rows, batch_size):
        raw = raw_tensors(catalog.slice(start, batch_size), fs.Side.CANDIDATE)
        chunks.append(candidate_tower(transform_candidates(raw, tft_layer)).numpy())
    ids = np.asarray(catalog[ITEM_ID].combine_chunks().flatten().to_pylist(), dtype=object)
    return ids.astype(bytes).astype(str), np.concatenate(chunks).astype(np.float32)


def build_recommender(
    *,
    tft_layer: tf.keras.Model,
    query_tower: QueryTower,
    candidate_tower: CandidateTower,
    item_ids: np.ndarray,
    item_embeddings: np.ndarray,
    k: int,
    ranking_head: tf.keras.Model | None = None,
) -> Recommender:
    """A Recommender whose BruteForce index holds ``item_embeddings`` ``[n, dim]``.

    With ``ranking_head`` (a model trained with one), the export also has a ``ranking`` signature.
    """
    k = min(k, len(item_ids))
    index = tfrs.layers.factorized_top_k.BruteForce(k=k)
    index.index(candidates=tf.constant(item_embeddings), identifiers=tf.constant(item_ids))
    return Recommender(
        tft_layer=tft_layer,
        query_tower=query_tower,
        candidate_tower=candidate_tower,
        index=index,
        k=k,
        ranking_head=ranking_head,
    )


def save_recommender(recommender: Recommender, path: str) -> None:
    """Write the SavedModel with its signatures (``ranking`` only with a ranking head)."""
    signatures = {
        SERVING_SIGNATURE: recommender.recommend,
        QUERY_EMBEDDING_SIGNATURE: recommender.query_embedding,
        CANDIDATE_EMBEDDING_SIGNATURE: recommender.candidate_embedding,
    }
    if recommender.rank is not None:
        signatures[RANKING_SIGNATURE] = recommender.rank
    tf.saved_model.save(recommender, path, signatures=signatures)


def embeddings_table(ids: np.ndarray, embeddings: np.ndarray, *, id_column: str) -> pa.Table:
    """Ids and their embeddings as an Arrow table (``id_column``, ``embedding`` list<float32>)."""
    flat = pa.array(embeddings.reshape(-1), type=pa.float32())
    return pa.table(
        {
            id_column: pa.array(ids, type=pa.string()),
            EMBEDDING: pa.FixedSizeListArray.from_arrays(flat, embeddings.shape[1]).cast(
                pa.list_(pa.float32())
            ),
        }
    )
