"""Ranking through an exported serving model: the path users get, not the training model."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import tensorflow as tf

from components.train.export import OUTPUT_ITEM_IDS, SERVING_SIGNATURE


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


def recommend(serving_dir: str, requests: pa.Table, *, batch_size: int) -> list[list[str]]:
    """Top-K item ids per request row from the SavedModel at ``serving_dir``, best first.

    Args:
        serving_dir: An exported SavedModel with a ``serving_default`` signature.
        requests: One row per user; a column per signature input (extra columns are ignored).
        batch_size: Rows per call.

    Raises:
        OSError: naming ``serving_dir`` when it is not a loadable SavedModel.
        ServingInputError: a signature input is not a column of ``requests``.
    """
    try:
        model = tf.saved_model.load(serving_dir)
    except (OSError, ValueError) as e:
        raise OSError(f"{serving_dir}: not a loadable SavedModel ({e})") from e
    serve = model.signatures[SERVING_SIGNATURE]
    inputs = signature_inputs(serve)
    missing = sorted(set(inputs) - set(requests.column_names))
    if missing:
        raise ServingInputError(
            f"{serving_dir} needs inputs {missing}; the requests have {requests.column_names}"
        )
    ranked: list[list[str]] = []
    for start in range(0, requests.num_rows, batch_size):
        batch = requests.slice(start, batch_size)
        feed = {name: to_tensor(batch[name], spec) for name, spec in inputs.items()}
        ids = serve(**feed)[OUTPUT_ITEM_IDS].numpy()
        ranked.extend([item.decode() for item in row] for row in ids)
    return ranked
