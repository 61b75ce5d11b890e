"""The tf.distribute strategy, chosen from the hardware (and TF_CONFIG) at run time."""

from __future__ import annotations

import json
import logging
import os

import tensorflow as tf

logger = logging.getLogger(__name__)


def choose_strategy() -> tf.distribute.Strategy:
    """The strategy for this process's hardware.

    MultiWorkerMirrored when TF_CONFIG names several workers, Mirrored over 2+ local GPUs, else
    the default (one device: CPU or a single GPU).
    """
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if len(cluster.get("worker", [])) + len(cluster.get("chief", [])) > 1:
        logger.info("strategy=MultiWorkerMirroredStrategy workers=%s", cluster.get("worker"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        logger.info("strategy=MirroredStrategy gpus=%d", len(gpus))
        return tf.distribute.MirroredStrategy()
    logger.info("strategy=default device=%s", "GPU" if gpus else "CPU")
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the real outputs (the chief, or worker 0 without one).

    Under MultiWorkerMirroredStrategy every worker must take part in saving (it may run
    collectives), but only the chief writes to the shared output path; the others write to a
    temporary directory (the tf.distribute multi-worker saving guidance).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type = getattr(resolver, "task_type", None)
    if task_type is None:
        return True
    return task_type == "chief" or (task_type == "worker" and resolver.task_id == 0)


def use_mixed_precision(wanted: bool | None) -> bool:
    """Set the Keras mixed_float16 policy when asked, or (None) exactly when a GPU is present."""
    on = bool(tf.config.list_physical_devices("GPU")) if wanted is None else wanted
    tf.keras.mixed_precision.set_global_policy("mixed_float16" if on else "float32")
    return on
