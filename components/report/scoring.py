"""The exported model as numpy functions, through its three signatures (TensorFlow shell)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.report.contributions import Feed
from components.train.outputs import serving_dir
from components.train.signatures import (
    CANDIDATE_EMBEDDING_SIGNATURE,
    EMBEDDING,
    OUTPUT_ITEM_IDS,
    OUTPUT_SCORES,
    QUERY_EMBEDDING_SIGNATURE,
    SERVING_SIGNATURE,
)


class ModelUnavailable(RuntimeError):
    """The exported model cannot be loaded or lacks a signature the report needs."""


class ExportedModel:
    """``serving_default``, ``query_embedding`` and ``candidate_embedding`` on numpy feeds."""

    def __init__(self, model_dir: str, *, batch_size: int = 512) -> None:
        path = serving_dir(model_dir)
        try:
            self._model = tf.saved_model.load(path)
        except (OSError, ValueError) as e:
            raise ModelUnavailable(f"{path}: not a loadable SavedModel ({e})") from e
        wanted = (SERVING_SIGNATURE, QUERY_EMBEDDING_SIGNATURE, CANDIDATE_EMBEDDING_SIGNATURE)
        missing = [s for s in wanted if s not in self._model.signatures]
        if missing:
            raise ModelUnavailable(
                f"{path}: no signature {missing} (has {list(self._model.signatures)})"
            )
        self._batch = batch_size

    def _call(self, signature: str, feed: Feed) -> dict[str, np.ndarray]:
        fn = self._model.signatures[signature]
        specs = fn.structured_input_signature[1]
        rows = len(next(iter(feed.values())))
        chunks: list[dict[str, np.ndarray]] = []
        for start in range(0, rows, self._batch):
            args = {
                name: tf.constant(feed[name][start : start + self._batch], dtype=spec.dtype)
                for name, spec in specs.items()
            }
            chunks.append({k: v.numpy() for k, v in fn(**args).items()})
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def embed_queries(self, feed: Feed) -> np.ndarray:
        """Raw query features ``[n, ...]`` -> ``[n, dim]``."""
        return self._call(QUERY_EMBEDDING_SIGNATURE, feed)[EMBEDDING]

    def embed_candidates(self, feed: Feed) -> np.ndarray:
        """Raw candidate features ``[n, ...]`` -> ``[n, dim]``."""
        return self._call(CANDIDATE_EMBEDDING_SIGNATURE, feed)[EMBEDDING]

    def top_k(self, feed: Feed) -> tuple[list[list[str]], np.ndarray]:
        """Raw query features -> (item ids ``[n][k]`` best first, scores ``[n, k]``)."""
        out = self._call(SERVING_SIGNATURE, feed)
        ids = [[i.decode() for i in row] for row in out[OUTPUT_ITEM_IDS]]
        return ids, out[OUTPUT_SCORES]
