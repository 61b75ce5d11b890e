"""The exported SavedModel as numpy functions: the one client of its signatures.

Evaluate (rankings, the ranking head, query embeddings) and report (top-K, both embeddings) load
a train output's ``serving/`` through this class; the signatures it calls are the serving
contract (``components.train.signatures``). Each call takes Arrow rows (serving requests or
feature rows, converted batch by batch: a large table is never one feed) or a numpy feed
(``schemas.feeds``), and feeds each signature exactly the inputs it declares, so a model
exported with fewer features than today's still serves.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import tensorflow as tf

from components.train import signatures as sig
from schemas import features as fs
from schemas import feeds
from schemas.feeds import Feed


class ModelUnavailable(OSError):
    """The SavedModel cannot be loaded, or lacks a signature that is needed."""


class ServingInputError(ValueError):
    """The rows lack an input a signature needs, or a signature answers in the wrong shape."""


class ExportedModel:
    """One exported SavedModel, loaded once; ``batch_size`` rows per signature call."""

    def __init__(self, serving_dir: str, *, batch_size: int = 512) -> None:
        """Load ``serving_dir``.

        Raises:
            ModelUnavailable: naming ``serving_dir`` when it is not a loadable SavedModel or
                lacks the ``serving_default`` signature.
        """
        try:
            self._model = tf.saved_model.load(serving_dir)
        except (OSError, ValueError, tf.errors.OpError) as e:
            raise ModelUnavailable(f"{serving_dir}: not a loadable SavedModel ({e})") from e
        self.path = serving_dir
        self.batch_size = batch_size
        self.require(sig.SERVING_SIGNATURE)

    def has(self, signature: str) -> bool:
        """Whether the export has ``signature`` (older exports lack some)."""
        return signature in self._model.signatures

    def require(self, *signatures: str) -> None:
        """Raises ``ModelUnavailable`` naming the ``signatures`` the export lacks."""
        missing = [s for s in signatures if not self.has(s)]
        if missing:
            raise ModelUnavailable(
                f"{self.path}: no signature {missing} (has {sorted(self._model.signatures)})"
            )

    def inputs(self, signature: str) -> dict[str, tf.TensorSpec]:
        """The inputs ``signature`` takes, by name."""
        _, kwargs = self._model.signatures[signature].structured_input_signature
        return dict(kwargs)

    def call(self, signature: str, rows: pa.Table | Feed) -> dict[str, np.ndarray]:
        """``signature`` over every row of ``rows``, batch by batch; outputs ``[rows, ...]``.

        Raises:
            ServingInputError: the export has no ``signature``, or ``rows`` lack one of its
                inputs (the message names them).
        """
        chunks = list(self.iter_call(signature, rows))
        if not chunks:
            return {}
        return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}

    def iter_call(self, signature: str, rows: pa.Table | Feed) -> Iterator[dict[str, np.ndarray]]:
        """``signature`` over ``rows``, one output dict per batch (outputs never all in memory).

        Raises:
            ServingInputError: as ``call``.
        """
        if not self.has(signature):
            raise ServingInputError(f"{self.path} has no {signature!r} signature")
        fn, inputs = self._model.signatures[signature], self.inputs(signature)
        for batch in self._batches(signature, rows, inputs):
            yield {key: value.numpy() for key, value in fn(**batch).items()}

    def catalog_items(self) -> list[str]:
        """The catalog's item ids, in the order of ``catalog_scores``' columns.

        Raises:
            ServingInputError: the export has no ``catalog_items`` signature.
        """
        if not self.has(sig.CATALOG_ITEMS_SIGNATURE):
            raise ServingInputError(f"{self.path} has no {sig.CATALOG_ITEMS_SIGNATURE!r} signature")
        ids = self._model.signatures[sig.CATALOG_ITEMS_SIGNATURE]()[sig.OUTPUT_ITEM_IDS]
        return [b.decode() for b in ids.numpy()]

    def catalog_scores(self, rows: pa.Table | Feed) -> Iterator[np.ndarray]:
        """``[batch, I]`` scores of every catalog item, batch by batch (``catalog_items`` order).

        Raises:
            ServingInputError: no ``catalog_scores`` signature, or a missing input.
        """
        for out in self.iter_call(sig.CATALOG_SCORES_SIGNATURE, rows):
            yield out[sig.OUTPUT_SCORES]

    def _batches(
        self, signature: str, rows: pa.Table | Feed, inputs: dict[str, tf.TensorSpec]
    ) -> Iterator[dict[str, tf.Tensor]]:
        sides = sig.INPUT_SIDES[signature]
        if isinstance(rows, pa.Table):
            declared = {f.name for side in sides for f in fs.features(side)}
            available, total = declared & set(rows.column_names), rows.num_rows
        else:
            available, total = set(rows), feeds.rows_in(rows)
        missing = sorted(set(inputs) - available)
        if missing:
            raise ServingInputError(
                f"{self.path} {signature!r} needs inputs {missing} that the rows do not have"
            )
        for start in range(0, total, self.batch_size):
            if isinstance(rows, pa.Table):
                batch = rows.slice(start, self.batch_size)
                feed: Feed = {}
                for side in sides:
                    feed |= feeds.to_feed(batch, side, names=inputs)
            else:
                feed = {n: v[start : start + self.batch_size] for n, v in rows.items()}
            yield {n: tf.constant(feed[n], dtype=spec.dtype) for n, spec in inputs.items()}

    def top_k(self, rows: pa.Table | Feed) -> tuple[list[list[str]], np.ndarray]:
        """Raw query features -> (item ids ``[n][k]``, best first; scores ``[n, k]``)."""
        out = self.call(sig.SERVING_SIGNATURE, rows)
        if not out:
            return [], np.zeros((0, 0), np.float32)
        names: dict[bytes, str] = {}  # one str per item id, shared by every list
        ids = [
            [names.get(b) or names.setdefault(b, b.decode()) for b in row]
            for row in out[sig.OUTPUT_ITEM_IDS]
        ]
        return ids, out[sig.OUTPUT_SCORES]

    def embed_queries(self, rows: pa.Table | Feed) -> np.ndarray:
        """Raw query features -> ``[n, dim]`` (the ``query_embedding`` signature)."""
        return self._embedding(sig.QUERY_EMBEDDING_SIGNATURE, rows)

    def embed_candidates(self, rows: pa.Table | Feed) -> np.ndarray:
        """Raw candidate features -> ``[n, dim]`` (the ``candidate_embedding`` signature)."""
        return self._embedding(sig.CANDIDATE_EMBEDDING_SIGNATURE, rows)

    def _embedding(self, signature: str, rows: pa.Table | Feed) -> np.ndarray:
        out = self.call(signature, rows)
        return out[sig.EMBEDDING] if out else np.zeros((0, 0), np.float32)

    def conversion_probabilities(self, rows: pa.Table | Feed) -> np.ndarray:
        """``[rows]`` probability that each (user, item) row converts (the ranking head).

        Args:
            rows: Query and candidate features of each pair (e.g. feature rows,
                ``schemas.features.example_arrow_schema()``).

        Raises:
            ServingInputError: no ``ranking`` signature, a missing input, no ``probability``
                output, or not one probability per row.
        """
        out = self.call(sig.RANKING_SIGNATURE, rows)
        total = rows.num_rows if isinstance(rows, pa.Table) else feeds.rows_in(rows)
        if not out:
            return np.zeros(0, np.float32)
        if sig.OUTPUT_PROBABILITY not in out:
            raise ServingInputError(
                f"{self.path} {sig.RANKING_SIGNATURE!r} returns {sorted(out)}, not "
                f"{sig.OUTPUT_PROBABILITY!r}"
            )
        values = out[sig.OUTPUT_PROBABILITY].reshape(-1)
        if values.size != total:
            raise ServingInputError(
                f"{self.path} {sig.RANKING_SIGNATURE!r} returned {values.size} probabilities for "
                f"{total} rows"
            )
        return values
