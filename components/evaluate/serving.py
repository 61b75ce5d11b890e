"""Ranking through an exported serving model: the path users get, not the training model."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf

from components.train.catalog import raw_tensors
from components.train.signatures import (
    EMBEDDING,
    OUTPUT_ITEM_IDS,
    OUTPUT_PROBABILITY,
    OUTPUT_SCORES,
    QUERY_EMBEDDING_SIGNATURE,
    RANKING_SIGNATURE,
    SERVING_SIGNATURE,
)
from schemas import features as fs


class ServingInputError(ValueError):
    """The requests lack an input the model's serving signature needs."""


def signature_inputs(
    serving_fn: tf.types.experimental.ConcreteFunction,
) -> dict[str, tf.TensorSpec]:
    """The serving signature's inputs by name."""
    _, kwargs = serving_fn.structured_input_signature
    return dict(kwargs)


def to_tensor(column: pa.ChunkedArray, spec: tf.TensorSpec) -> tf.Tensor:
    """One request column as the tensor ``spec`` asks for (strings, numbers, fixed-size lists)."""
    values = column.to_pylist()
    if spec.shape.rank and spec.shape.rank > 1:
        values = np.asarray(values)
    return tf.constant(values, dtype=spec.dtype)


class ServingModel:
    """An exported SavedModel, loaded once, fed generically over its signature's inputs."""

    def __init__(self, serving_dir: str) -> None:
        """Load ``serving_dir``.

        Raises:
            OSError: naming ``serving_dir`` when it is not a loadable SavedModel or lacks the
                ``serving_default`` signature.
        """
        try:
            self._model = tf.saved_model.load(serving_dir)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise OSError(f"{serving_dir}: not a loadable SavedModel ({e})") from e
        if SERVING_SIGNATURE not in self._model.signatures:
            raise OSError(f"{serving_dir}: no {SERVING_SIGNATURE!r} signature")
        self.path = serving_dir
        self._serve = self._model.signatures[SERVING_SIGNATURE]
        self._embed = self._model.signatures.get(QUERY_EMBEDDING_SIGNATURE)
        self._rank = self._model.signatures.get(RANKING_SIGNATURE)
        self.inputs = signature_inputs(self._serve)

    @property
    def has_query_embedding(self) -> bool:
        """Whether the export has the ``query_embedding`` signature."""
        return self._embed is not None

    @property
    def has_ranking(self) -> bool:
        """Whether the export has the ranking head's ``ranking`` signature."""
        return self._rank is not None

    def conversion_probabilities(self, rows: pa.Table, *, batch_size: int) -> np.ndarray:
        """``[rows]`` probability that each (user, item) feature row converts (ranking head).

        Args:
            rows: Feature rows (``schemas.features.example_arrow_schema()``) with the query and
                candidate features the signature takes.
            batch_size: Rows per call.

        Raises:
            ServingInputError: no ``ranking`` signature, a signature input is not a query or
                candidate feature of ``rows``, or the signature has no ``probability`` output
                or returns the wrong number of values.
        """
        if self._rank is None:
            raise ServingInputError(f"{self.path} has no {RANKING_SIGNATURE!r} signature")
        inputs = signature_inputs(self._rank)
        offered = {f.name for f in (*fs.features(fs.Side.QUERY), *fs.features(fs.Side.CANDIDATE))}
        missing = sorted(set(inputs) - (offered & set(rows.column_names)))
        if missing:
            raise ServingInputError(
                f"{self.path} {RANKING_SIGNATURE!r} needs inputs {missing} that the eval examples "
                "do not have"
            )
        chunks = []
        for start in range(0, rows.num_rows, batch_size):
            batch = rows.slice(start, batch_size)
            tensors = raw_tensors(batch, fs.Side.QUERY) | raw_tensors(batch, fs.Side.CANDIDATE)
            out = self._rank(**{name: tensors[name] for name in inputs})
            if OUTPUT_PROBABILITY not in out:
                raise ServingInputError(
                    f"{self.path} {RANKING_SIGNATURE!r} returns {sorted(out)}, not "
                    f"{OUTPUT_PROBABILITY!r}"
                )
            values = out[OUTPUT_PROBABILITY].numpy().reshape(-1)
            if values.size != batch.num_rows:
                raise ServingInputError(
                    f"{self.path} {RANKING_SIGNATURE!r} returned {values.size} probabilities for "
                    f"{batch.num_rows} rows"
                )
            chunks.append(values)
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)

    def _feeds(self, requests: pa.Table, batch_size: int):
        missing = sorted(set(self.inputs) - set(requests.column_names))
        if missing:
            raise ServingInputError(
                f"{self.path} needs inputs {missing}; the requests have {requests.column_names}"
            )
        for start in range(0, requests.num_rows, batch_size):
            batch = requests.slice(start, batch_size)
            yield {name: to_tensor(batch[name], spec) for name, spec in self.inputs.items()}

    def top_k(self, requests: pa.Table, *, batch_size: int) -> tuple[list[list[str]], np.ndarray]:
        """Top-K item ids (best first) and their scores ``[rows, K]`` per request row.

        Raises:
            ServingInputError: a signature input is not a column of ``requests``.
        """
        ranked: list[list[str]] = []
        scores = []
        names: dict[bytes, str] = {}  # one str per item id, shared by every list
        for feed in self._feeds(requests, batch_size):
            out = self._serve(**feed)
            for row in out[OUTPUT_ITEM_IDS].numpy():
                ranked.append([names.get(b) or names.setdefault(b, b.decode()) for b in row])
            scores.append(out[OUTPUT_SCORES].numpy())
        width = scores[0].shape[1] if scores else 0
        return ranked, np.concatenate(scores) if scores else np.zeros((0, width), np.float32)

    def query_embeddings(self, requests: pa.Table, *, batch_size: int) -> np.ndarray:
        """``[rows, dim]`` query embeddings from the ``query_embedding`` signature.

        Raises:
            ServingInputError: the export has no such signature, or an input is missing.
        """
        if self._embed is None:
            raise ServingInputError(f"{self.path} has no {QUERY_EMBEDDING_SIGNATURE!r} signature")
        chunks = [
            self._embed(**feed)[EMBEDDING].numpy() for feed in self._feeds(requests, batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
