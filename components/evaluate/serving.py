"""Ranking through an exported serving model: the path users get, not the training model."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from components.train.export import OUTPUT_ITEM_IDS
from schemas.tables import USER_ID


def recommend(serving_dir: str, users: Sequence[str], *, batch_size: int) -> list[list[str]]:
    """Top-K item ids per user from the SavedModel at ``serving_dir``, best first.

    Raises:
        OSError: naming ``serving_dir`` when it is not a loadable SavedModel.
    """
    try:
        model = tf.saved_model.load(serving_dir)
    except (OSError, ValueError) as e:
        raise OSError(f"{serving_dir}: not a loadable SavedModel ({e})") from e
    serve = model.signatures["serving_default"]
    ranked: list[list[str]] = []
    for start in range(0, len(users), batch_size):
        batch = tf.constant(list(users[start : start + batch_size]), dtype=tf.string)
        ids = serve(**{USER_ID: batch})[OUTPUT_ITEM_IDS].numpy()
        ranked.extend([item.decode() for item in row] for row in ids)
    return ranked
