"""The ranking head's quality on the eval window: AUC, log loss and the base rate (pure).

The head predicts whether a (user, item) pair converts (purchase, cart or a good rating; see
``components.transform.examples.labels``). Each eval-window example is a user's first
interaction with an item, with query features as of that moment; its label says whether the
pair converted within the window. The probabilities come from the exported model's ranking
signature (``components.exported_model``), never from the training model.

Eval examples carry placeholders for an item's static content (the trainer gathers it from the
catalog); ``with_catalog_content`` fills it from the raw catalog rows, as serving would see the
item.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.metrics import log_loss, roc_auc_score

from schemas import features as fs
from schemas.tables import ITEM_ID

# Probabilities are clipped away from 0 and 1 before the log loss (one confident miss would
# otherwise make it infinite).
EPSILON = 1e-7
STATIC_CANDIDATE_FEATURES = tuple(
    n for n in fs.CANDIDATE_FEATURES if n not in fs.DYNAMIC_CANDIDATE_FEATURES
)


class RankingHeadError(ValueError):
    """The ranking head cannot be measured on these examples (none, or mismatched outputs)."""


@dataclasses.dataclass(frozen=True)
class HeadMetrics:
    """The ranking head on one set of labelled examples.

    Attributes:
        examples: Labelled examples scored.
        positives: Examples whose pair converted.
        base_rate: ``positives / examples`` (the log loss of always predicting it is the bar).
        auc: ROC AUC; None when every label is the same (undefined, see ``note``).
        log_loss: Mean binary cross-entropy of the probabilities.
        base_rate_log_loss: Log loss of predicting ``base_rate`` for everybody.
        note: Why a figure is missing, else None.
    """

    examples: int
    positives: int
    base_rate: float
    auc: float | None
    log_loss: float
    base_rate_log_loss: float
    note: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return dataclasses.asdict(self)


def head_metrics(labels: np.ndarray, probabilities: np.ndarray) -> HeadMetrics:
    """AUC, log loss and base rate of ``probabilities`` ``[n]`` against 0/1 ``labels`` ``[n]``.

    Raises:
        RankingHeadError: no examples, lengths differ, labels not 0/1, or non-finite
            probabilities (the message says which).
    """
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if labels.size == 0:
        raise RankingHeadError("no labelled eval examples: the ranking head was not measured")
    if labels.shape != probabilities.shape:
        raise RankingHeadError(
            f"{probabilities.size} probabilities for {labels.size} labelled examples"
        )
    if not np.isin(labels, (0.0, 1.0)).all():
        raise RankingHeadError(f"labels must be 0 or 1, got {sorted(set(labels.tolist()))[:5]}")
    if not np.isfinite(probabilities).all():
        raise RankingHeadError(
            f"{int((~np.isfinite(probabilities)).sum())} non-finite probabilities"
        )
    positives = int(labels.sum())
    rate = positives / labels.size
    clipped = np.clip(probabilities, EPSILON, 1 - EPSILON)
    constant = np.full(labels.size, np.clip(rate, EPSILON, 1 - EPSILON))
    both = 0 < positives < labels.size
    return HeadMetrics(
        examples=int(labels.size),
        positives=positives,
        base_rate=rate,
        auc=float(roc_auc_score(labels, probabilities)) if both else None,
        log_loss=float(log_loss(labels, clipped, labels=[0.0, 1.0])),
        base_rate_log_loss=float(log_loss(labels, constant, labels=[0.0, 1.0])),
        note=None if both else f"AUC undefined: every label is {int(labels[0])}",
    )


def example_labels(examples: pa.Table) -> np.ndarray:
    """``[rows]`` float64 labels of feature rows (one-value large-list column ``label``)."""
    column = examples[fs.LABEL].combine_chunks()
    if pa.types.is_large_list(column.type) or pa.types.is_list(column.type):
        column = column.flatten()
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def with_catalog_content(examples: pa.Table, catalog: pa.Table) -> tuple[pa.Table, int]:
    """``examples`` with each row's static candidate features taken from its catalog row.

    Args:
        examples: Feature rows (``schemas.features.example_arrow_schema()``), static candidate
            features as placeholders.
        catalog: Raw catalog rows in the same schema, one per item.

    Returns:
        The filled rows (same order and schema) and how many rows' items were not in the
        catalog (they keep their placeholders, as an unknown item would at serving).
    """
    item_of = examples[ITEM_ID].combine_chunks().flatten()
    known = catalog[ITEM_ID].combine_chunks().flatten()
    found = pc.index_in(item_of, value_set=known)
    missing = found.null_count
    # Row i takes catalog row found[i], or (not found) its own row, appended after the catalog.
    own = pa.array(np.arange(examples.num_rows, dtype=np.int64) + catalog.num_rows)
    take = pc.coalesce(found.cast(pa.int64()), own)
    for name in STATIC_CANDIDATE_FEATURES:
        merged = pa.concat_arrays([catalog[name].combine_chunks(), examples[name].combine_chunks()])
        position = examples.schema.get_field_index(name)
        examples = examples.set_column(position, name, merged.take(take))
    return examples, missing


def metric_entries(head: dict | None) -> dict[str, float]:
    """A model's ``HeadMetrics.as_dict()`` as kfp Metrics entries (none when not measured).

    Names: ``ranking_auc`` (when defined), ``ranking_log_loss``, ``ranking_base_rate``,
    ``ranking_examples``.
    """
    if not head:
        return {}
    out = {
        "ranking_log_loss": head["log_loss"],
        "ranking_base_rate": head["base_rate"],
        "ranking_examples": float(head["examples"]),
    }
    if head["auc"] is not None:
        out["ranking_auc"] = head["auc"]
    return out
