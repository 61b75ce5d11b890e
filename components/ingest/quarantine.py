"""Quarantine records: one per bad input row, with every reason and the raw row.

Pure: findings in, an Arrow table out. The first reason of a row follows ``Reason`` order (see
``rules``); ties on the same reason go to the earlier column of the table.
"""

from __future__ import annotations

import base64
import collections
import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from components.ingest.reasons import Finding, Reason

TRUNCATED = "...[truncated]"

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("reasons", pa.list_(pa.string()), nullable=False),
        pa.field("column", pa.string()),
        pa.field("detail", pa.string()),
        pa.field("raw", pa.string()),
    ],
    metadata={b"doc": b"row: 1-based line for jsonl/csv, 0-based row index for parquet"},
)


# A bad optional value emptied in a row that stayed valid (``validate``): where it was and why.
# No value and no detail: the row itself is in the canonical table (the value is not).
DROPPED_SCHEMA = pa.schema(
    [
        pa.field("table", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("row", pa.int64(), nullable=False),
        pa.field("column", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ],
    metadata={b"doc": b"row: 1-based line for jsonl/csv, 0-based row index for parquet"},
)


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of all checks on one batch of ``n`` rows.

    Attributes:
        valid: ``[n]`` bool, rows that failed nothing.
        bad: Indices of failed rows, ascending, ``[k]``.
        reason: First reason per bad row, ``[k]``.
        reasons: All reasons per bad row, in check order.
        column: Column of the first finding per bad row.
        detail: Message of the first finding per bad row.
    """

    valid: np.ndarray
    bad: np.ndarray
    reason: list[Reason]
    reasons: list[list[Reason]]
    column: list[str | None]
    detail: list[str]

    def counts(self) -> collections.Counter[str]:
        """Bad rows by first reason."""
        return collections.Counter(r.value for r in self.reason)


def judge(findings: Sequence[Finding], n: int) -> Verdict:
    """Merge the findings of a batch into one verdict per row.

    Args:
        findings: Findings of any checks, in any order (column order is kept within a reason).
        n: Rows in the batch.
    """
    first: dict[int, tuple[Reason, str | None, str]] = {}
    every: dict[int, list[Reason]] = {}
    for finding in sorted(findings, key=lambda f: f.reason.rank):
        for row, detail in zip(finding.rows.tolist(), finding.details, strict=True):
            if row not in first:
                first[row] = (finding.reason, finding.column, detail)
                every[row] = [finding.reason]
            elif every[row][-1] is not finding.reason:
                every[row].append(finding.reason)
    bad = np.array(sorted(first), dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    valid[bad] = False
    rows = bad.tolist()
    return Verdict(
        valid=valid,
        bad=bad,
        reason=[first[r][0] for r in rows],
        reasons=[every[r] for r in rows],
        column=[first[r][1] for r in rows],
        detail=[first[r][2] for r in rows],
    )


def quarantine_records(
    verdict: Verdict,
    *,
    table_name: str,
    source: str,
    row_numbers: Sequence[int],
    raw: Sequence[str],
    max_chars: int,
) -> pa.Table:
    """Quarantine rows for the bad rows of a verdict.

    Args:
        verdict: From ``judge``.
        table_name: Contract table the rows were read for.
        source: The file they came from.
        row_numbers: Row number in the file of each bad row, ``[k]``.
        raw: Raw row of each bad row as JSON text, ``[k]``.
        max_chars: Longest raw text kept.
    """
    return records_table(
        table_name=table_name,
        source=source,
        row_numbers=row_numbers,
        reasons=verdict.reasons,
        columns=verdict.column,
        details=verdict.detail,
        raw=raw,
        max_chars=max_chars,
    )


def records_table(
    *,
    table_name: str,
    source: str,
    row_numbers: Sequence[int],
    reasons: Sequence[Sequence[Reason]],
    columns: Sequence[str | None],
    details: Sequence[str],
    raw: Sequence[str],
    max_chars: int,
) -> pa.Table:
    """Build quarantine rows from aligned per-row facts (first reason = ``reasons[i][0]``)."""
    k = len(row_numbers)
    return pa.table(
        {
            "table": pa.array([table_name] * k, pa.string()),
            "source": pa.array([source] * k, pa.string()),
            "row": pa.array(row_numbers, pa.int64()),
            "reason": pa.array([r[0].value for r in reasons], pa.string()),
            "reasons": pa.array([[x.value for x in r] for r in reasons], pa.list_(pa.string())),
            "column": pa.array(columns, pa.string()),
            "detail": pa.array(details, pa.string()),
            "raw": pa.array([truncate(t, max_chars) for t in raw], pa.string()),
        },
        schema=QUARANTINE_SCHEMA,
    )


def dropped_records(
    dropped: Sequence[Finding], *, table_name: str, source: str, row_numbers: np.ndarray
) -> pa.Table:
    """One row per emptied value (``DROPPED_SCHEMA``); ``row_numbers``: the batch's rows."""
    # In row order, whatever the batching (the output must not depend on ``batch_rows``).
    cells = sorted((int(r), f.column, f.reason.value) for f in dropped for r in row_numbers[f.rows])
    return pa.table(
        {
            "table": pa.array([table_name] * len(cells), pa.string()),
            "source": pa.array([source] * len(cells), pa.string()),
            "row": pa.array([c[0] for c in cells], pa.int64()),
            "column": pa.array([c[1] for c in cells], pa.string()),
            "reason": pa.array([c[2] for c in cells], pa.string()),
        },
        schema=DROPPED_SCHEMA,
    )


def truncate(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, marked when cut."""
    if len(text) <= max_chars:
        return text
    return text[: max_chars - len(TRUNCATED)] + TRUNCATED


def row_json(row: dict) -> str:
    """A parsed row as JSON text (bytes as base64, timestamps as ISO-8601)."""
    return json.dumps(row, default=_json_default, ensure_ascii=False)


def _json_default(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return repr(value)
