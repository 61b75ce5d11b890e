"""Why a row is quarantined: the reason codes in check order, and a finding's shape.

Every ingest module that speaks of bad rows (coercion, rules, dedup, quarantine, quality, the
job) uses these; ``valid + quarantined == read`` is kept by giving each bad row one ``Finding``
reason per failed check. The checks themselves: ``coercion`` (1, 3) and ``rules`` (2, 4-10),
``dedup`` (11); their order is ``Reason``'s (a row's ``reason`` is the first that fails).
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

DETAIL_VALUE_CHARS = 80  # longest value shown in a finding's detail (longer ones end in "...")


class Reason(enum.StrEnum):
    """Why a row was quarantined; members are in check order (see the module docstring)."""

    MALFORMED = "malformed"
    MISSING_REQUIRED = "missing_required"
    BAD_TYPE = "bad_type"
    BAD_VALUE = "bad_value"
    OUT_OF_RANGE = "out_of_range"
    TOO_LONG = "too_long"
    CORRUPT_IMAGE = "corrupt_image"
    FUTURE_TIMESTAMP = "future_timestamp"
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_ITEM = "unknown_item"
    DUPLICATE = "duplicate"

    @property
    def rank(self) -> int:
        """Position in the check order (0 = checked first)."""
        return list(Reason).index(self)


@dataclasses.dataclass(frozen=True)
class Finding:
    """Rows of one batch failing one check on one column.

    Attributes:
        reason: The failed check.
        column: The column at fault (None for whole-row faults).
        rows: Indices into the batch, ``[k]`` int64.
        details: One message per index, ``[k]``.
    """

    reason: Reason
    column: str | None
    rows: np.ndarray
    details: tuple[str, ...]


def show_value(value: object) -> str:
    """A raw value as a finding's detail shows it (``repr``, cut to ``DETAIL_VALUE_CHARS``)."""
    if isinstance(value, bytes):
        value = value[:DETAIL_VALUE_CHARS]
    text = repr(value)
    return text if len(text) <= DETAIL_VALUE_CHARS else text[: DETAIL_VALUE_CHARS - 3] + "..."
