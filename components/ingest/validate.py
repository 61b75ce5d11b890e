"""One batch through every rule: coerce, check, deduplicate, judge (pure, pyarrow in/out).

A bad value in an optional column (not required, not the table's time column) costs that
value, not the row: it is emptied (null) and kept as a finding (``Checked.dropped``), and the
row, and every row that refers to it, stays valid. A truncated product image used to quarantine
the item and, as ``unknown_item``, every event, review and relation of it; a NaN in an image
embedding two items and 219 events. Required columns, the time column that places a row in the
split, keys and foreign keys are row faults as before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.ingest import coercion, dedup, rules
from components.ingest.quarantine import Verdict, judge
from components.ingest.reasons import Finding, Reason
from schemas import Table

# Checks of one value: on an optional column they empty the cell instead of rejecting the row.
VALUE_REASONS = frozenset(
    {
        Reason.MALFORMED,  # invalid UTF-8 in one cell (a line that does not parse has no column)
        Reason.BAD_TYPE,
        Reason.BAD_VALUE,
        Reason.OUT_OF_RANGE,
        Reason.TOO_LONG,
        Reason.CORRUPT_IMAGE,
        Reason.FUTURE_TIMESTAMP,
    }
)


@dataclasses.dataclass(frozen=True)
class Checked:
    """A validated batch.

    Attributes:
        valid: The rows that passed, with exactly ``table.arrow_schema()``.
        verdict: Per-row outcome (``verdict.valid`` selects ``valid`` out of the batch).
        findings: Every finding, duplicates included.
        dropped: Findings of optional values emptied in rows that stayed valid.
    """

    valid: pa.Table
    verdict: Verdict
    findings: list[Finding]
    dropped: list[Finding] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A batch through every stateless rule (1-10), with the key hashes of its passing rows.

    Attributes:
        table: The coerced canonical batch (nullable schema), dropped values emptied.
        findings: Row findings of rules 1-10.
        candidates: Indices of rows passing 1-10, ``[k]``.
        hashes: Key hashes of those rows, ``[k]`` uint64.
        dropped: Value findings on optional columns (their cells emptied in ``table``).
    """

    table: pa.Table
    findings: list[Finding]
    candidates: np.ndarray
    hashes: np.ndarray
    dropped: list[Finding] = dataclasses.field(default_factory=list)


def prepare_batch(
    raw: pa.Table | Sequence[pa.Table],
    table: Table,
    *,
    now: dt.datetime,
    known: Mapping[str, pa.Array],
) -> Prepared:
    """Rules 1-10 on one raw batch; stateless, so batches can be prepared in parallel.

    Args:
        raw: Parsed rows or consecutive parts of them (any column types; missing = null).
        table: The declared table.
        now: Later timestamps are ``future_timestamp``.
        known: Valid ids per reference (``"users.user_id"``) for the foreign-key checks.
    """
    coerced = coercion.coerce_batch(raw, table)
    everything = coerced.findings + rules.check_batch(coerced, table, now=now, known=known)
    optional = optional_columns(table)
    dropped = [f for f in everything if f.column in optional and f.reason in VALUE_REASONS]
    findings = [f for f in everything if not (f.column in optional and f.reason in VALUE_REASONS)]
    batch = empty_values(coerced.table, dropped)
    passing = np.ones(batch.num_rows, dtype=bool)
    for finding in findings:
        passing[finding.rows] = False
    candidates = np.flatnonzero(passing)
    hashes = dedup.row_hashes(batch, _key(table))[candidates]
    return Prepared(batch, findings, candidates, hashes, dropped)


def optional_columns(table: Table) -> set[str]:
    """Columns whose bad value is emptied, not the row refused (module docstring)."""
    keyed = set(table.key or ())
    return {
        c.name
        for c in table.columns
        if not c.required
        and c.name != table.time_column
        and c.name not in keyed
        and c.references is None
    }


def empty_values(batch: pa.Table, dropped: Sequence[Finding]) -> pa.Table:
    """``batch`` with the cells of ``dropped`` findings set to null."""
    masks: dict[str, np.ndarray] = {}
    for finding in dropped:
        mask = masks.setdefault(finding.column, np.zeros(batch.num_rows, dtype=bool))
        mask[finding.rows] = True
    for name, mask in masks.items():
        i = batch.schema.get_field_index(name)
        column = batch.column(i).combine_chunks()
        emptied = pc.if_else(pa.array(mask), pa.scalar(None, column.type), column)
        batch = batch.set_column(i, batch.schema.field(i), emptied)
    return batch


def finish_batch(prepared: Prepared, table: Table, *, seen: dedup.SeenKeys) -> Checked:
    """Rule 11 (duplicates, against ``seen``, which it updates) and the verdict.

    Batches must be finished in input order: the first occurrence of a key is the valid one.
    """
    findings = list(prepared.findings)
    fresh = seen.first_seen(prepared.hashes)
    if not fresh.all():
        dup = prepared.candidates[~fresh]
        key = _key(table)
        if table.key:
            shown = prepared.table.select(key).take(pa.array(dup)).to_pylist()
            details = tuple(f"key {_key_text(row)} seen before" for row in shown)
        else:
            details = ("identical row seen before",) * len(dup)
        findings.append(Finding(Reason.DUPLICATE, key[0] if table.key else None, dup, details))
    verdict = judge(findings, prepared.table.num_rows)
    kept = prepared.table.filter(pa.array(verdict.valid))
    valid = pa.Table.from_arrays(kept.columns, schema=table.arrow_schema())
    dropped = []
    for finding in prepared.dropped:  # only rows that stayed valid keep a dropped value
        keep = verdict.valid[finding.rows]
        if keep.any():
            details = tuple(d for d, k in zip(finding.details, keep, strict=True) if k)
            dropped.append(dataclasses.replace(finding, rows=finding.rows[keep], details=details))
    return Checked(valid, verdict, findings, dropped)


def validate_batch(
    raw: pa.Table | Sequence[pa.Table],
    table: Table,
    *,
    now: dt.datetime,
    known: Mapping[str, pa.Array],
    seen: dedup.SeenKeys,
) -> Checked:
    """Run all rules of ``table`` over one raw batch (``prepare_batch`` then ``finish_batch``).

    Args:
        raw: Parsed rows or consecutive parts of them (any column types; missing = null).
        table: The declared table.
        now: Later timestamps are ``future_timestamp``.
        known: Valid ids per reference (``"users.user_id"``) for the foreign-key checks.
        seen: Keys of the valid rows of earlier batches; updated with this batch's.

    Returns:
        Valid rows, verdict and findings; ``valid.num_rows + len(verdict.bad)`` is the row count.
    """
    prepared = prepare_batch(raw, table, now=now, known=known)
    return finish_batch(prepared, table, seen=seen)


def _key(table: Table) -> list[str]:
    return list(table.key or table.names)


def _key_text(row: dict) -> str:
    return ", ".join(
        f"{k}={v.isoformat() if isinstance(v, dt.datetime) else v!r}" for k, v in row.items()
    )
