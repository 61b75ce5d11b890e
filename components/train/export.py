"""Export: one SavedModel that takes raw features and returns top-K raw item ids and scores.

The TFT graph is tracked inside the module, so its vocabularies travel with the model and serving
applies exactly the training-time transform (no skew).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.train.towers import CandidateTower, QueryTower
from components.transform.examples import item_text
from schemas.features import ITEM_TEXT
from schemas.tables import ITEM_ID, USER_ID

SERVING_DIR = "serving"
OUTPUT_ITEM_IDS = "item_ids"
OUTPUT_SCORES = "scores"
EMBEDDING = "embedding"
# Signatures of the exported model: top-K for serving, and the query embedding (same inputs) for
# analysis and independent checks (scores = query_embedding . item embedding).
SERVING_SIGNATURE = "serving_default"
QUERY_EMBEDDING_SIGNATURE = "query_embedding"


class Recommender(tf.Module):
    """Raw ``user_id`` strings -> top-K item ids and scores."""

    def __init__(
        self,
        *,
        tft_layer: tf.keras.Model,
        query_tower: QueryTower,
        index: tfrs.layers.factorized_top_k.TopK,
        k: int,
    ) -> None:
        super().__init__(name="recommender")
        self.tft_layer = tft_layer
        self.query_tower = query_tower
        self.index = index
        self.k = k

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=USER_ID)])
    def recommend(self, user_id: tf.Tensor) -> dict[str, tf.Tensor]:
        """Args: ``[batch]`` raw user ids. Returns ``item_ids`` and ``scores``, ``[batch, k]``."""
        scores, ids = self.index(self._embed(user_id), k=self.k)
        return {OUTPUT_ITEM_IDS: ids, OUTPUT_SCORES: scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=USER_ID)])
    def query_embedding(self, user_id: tf.Tensor) -> dict[str, tf.Tensor]:
        """Args: ``[batch]`` raw user ids. Returns ``embedding`` ``[batch, dim]``."""
        return {EMBEDDING: self._embed(user_id)}

    def _embed(self, user_id: tf.Tensor) -> tf.Tensor:
        return self.query_tower(self.tft_layer({USER_ID: user_id}))


def embed_items(
    items: pa.Table,
    *,
    tft_layer: tf.keras.Model,
    candidate_tower: CandidateTower,
    batch_size: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate embeddings of every catalog item, from its raw features.

    Returns:
        ``(ids [n] bytes, embeddings [n, dim] float32)``.
    """
    texts = item_text(items)
    ids = np.asarray(texts[ITEM_ID].to_pylist(), dtype=object)
    text = np.asarray(texts[ITEM_TEXT].to_pylist(), dtype=object)
    chunks = []
    for start in range(0, len(ids), batch_size):
        raw = {
            ITEM_ID: tf.constant(ids[start : start + batch_size].astype(str)),
            ITEM_TEXT: tf.constant(text[start : start + batch_size].astype(str)),
        }
        chunks.append(candidate_tower(tft_layer(raw)).numpy())
    return ids.astype(str), np.concatenate(chunks).astype(np.float32)


def build_recommender(
    *,
    tft_layer: tf.keras.Model,
    query_tower: QueryTower,
    item_ids: np.ndarray,
    item_embeddings: np.ndarray,
    k: int,
) -> Recommender:
    """A Recommender whose BruteForce index holds ``item_embeddings`` ``[n, dim]``."""
    k = min(k, len(item_ids))
    index = tfrs.layers.factorized_top_k.BruteForce(k=k)
    index.index(candidates=tf.constant(item_embeddings), identifiers=tf.constant(item_ids))
    return Recommender(tft_layer=tft_layer, query_tower=query_tower, index=index, k=k)


def save_recommender(recommender: Recommender, path: str) -> None:
    """Write the SavedModel: ``serving_default`` (top-K) and ``query_embedding`` signatures."""
    tf.saved_model.save(
        recommender,
        path,
        signatures={
            SERVING_SIGNATURE: recommender.recommend,
            QUERY_EMBEDDING_SIGNATURE: recommender.query_embedding,
        },
    )


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
