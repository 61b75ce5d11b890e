"""Export: one SavedModel that takes raw features and returns top-K raw item ids and scores.

The TFT graph is tracked inside the module, so its vocabularies travel with the model and serving
applies exactly the training-time transform; images are decoded inside the model by the same
function training used (no skew). The signatures, their inputs and outputs are the serving
contract declared in ``components.train.signatures``; this module implements them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_recommenders as tfrs

from components.train import signatures as sig
from components.train.catalog import raw_tensors, transform_candidates
from components.train.towers import CandidateTower, QueryTower
from schemas import features as fs
from schemas.tables import ITEM_ID


def input_spec(signature: str) -> dict[str, tf.TensorSpec]:
    """The batched input specs of ``signature``: every raw feature of the sides it takes."""
    return {
        f.name: f.tensor_spec() for side in sig.INPUT_SIDES[signature] for f in fs.features(side)
    }


QUERY_SPEC = input_spec(sig.QUERY_EMBEDDING_SIGNATURE)
CANDIDATE_SPEC = input_spec(sig.CANDIDATE_EMBEDDING_SIGNATURE)
PAIR_SPEC = input_spec(sig.RANKING_SIGNATURE)


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

    @tf.function(input_signature=[input_spec(sig.SERVING_SIGNATURE)])
    def recommend(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features ``[batch, ...]`` -> ``item_ids``/``scores`` ``[batch, k]``."""
        scores, ids = self.index(self._embed_queries(raw), k=self.k)
        return {sig.OUTPUT_ITEM_IDS: ids, sig.OUTPUT_SCORES: scores}

    @tf.function(input_signature=[QUERY_SPEC])
    def query_embedding(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query features -> ``embedding`` ``[batch, dim]``."""
        return {sig.EMBEDDING: self._embed_queries(raw)}

    @tf.function(input_signature=[CANDIDATE_SPEC])
    def candidate_embedding(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw candidate features (image bytes, "" for none) -> ``embedding`` ``[batch, dim]``."""
        return {sig.EMBEDDING: self._embed_candidates(raw)}

    def _rank(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Raw query + candidate features of pairs -> conversion ``probability`` ``[batch]``."""
        queries = self._embed_queries({name: raw[name] for name in QUERY_SPEC})
        candidates = self._embed_candidates({name: raw[name] for name in CANDIDATE_SPEC})
        logits = self.ranking_head(tf.concat([queries, candidates], axis=-1))
        return {sig.OUTPUT_PROBABILITY: tf.sigmoid(tf.cast(logits[:, 0], tf.float32))}

    def _embed_candidates(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.candidate_tower(transform_candidates(raw, self.tft_layer))

    def _embed_queries(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        return self.query_tower(self.tft_layer(raw))


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
        sig.SERVING_SIGNATURE: recommender.recommend,
        sig.QUERY_EMBEDDING_SIGNATURE: recommender.query_embedding,
        sig.CANDIDATE_EMBEDDING_SIGNATURE: recommender.candidate_embedding,
    }
    if recommender.rank is not None:
        signatures[sig.RANKING_SIGNATURE] = recommender.rank
    tf.saved_model.save(recommender, path, signatures=signatures)


def embeddings_table(ids: np.ndarray, embeddings: np.ndarray, *, id_column: str) -> pa.Table:
    """Ids and their embeddings as an Arrow table (``id_column``, ``embedding`` list<float32>)."""
    flat = pa.array(embeddings.reshape(-1), type=pa.float32())
    return pa.table(
        {
            id_column: pa.array(ids, type=pa.string()),
            sig.EMBEDDING: pa.FixedSizeListArray.from_arrays(flat, embeddings.shape[1]).cast(
                pa.list_(pa.float32())
            ),
        }
    )
