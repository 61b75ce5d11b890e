"""One batch through every rule: coerce, check, deduplicate, judge (pure, pyarrow in/out)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from components.ingest import coercion, dedup, rules
from components.ingest.quarantine import Verdict, judge
from components.ingest.reasons import Finding, Reason
from schemas import Table


@dataclasses.dataclass(frozen=True)
class Checked:
    """A validated batch.

    Attributes:
        valid: The rows that passed, with exactly ``table.arrow_schema()``.
        verdict: Per-row outcome (``verdict.valid`` selects ``valid`` out of the batch).
        findings: Every finding, duplicates included.
    """

    valid: pa.Table
    verdict: Verdict
    findings: list[Finding]


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A batch through every stateless rule (1-10), with the key hashes of its passing rows.

    Attributes:
        table: The coerced canonical batch (nullable schema).
        findings: Findings of rules 1-10.
        candidates: Indices of rows passing 1-10, ``[k]``.
        hashes: Key hashes of those rows, ``[k]`` uint64.
    """

    table: pa.Table
    findings: list[Finding]
    candidates: np.ndarray
    hashes: np.ndarray


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
    findings = coerced.findings + rules.check_batch(coerced, table, now=now, known=known)
    passing = np.ones(coerced.table.num_rows, dtype=bool)
    for finding in findings:
        passing[finding.rows] = False
    candidates = np.flatnonzero(passing)
    hashes = dedup.row_hashes(coerced.table, _key(table))[candidates]
    return Prepared(coerced.table, findings, candidates, hashes)


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
    return Checked(valid, verdict, findings)


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
