"""Coercion: raw columns of any Arrow type -> the contract's types, row by row (pure).

Check 1 (``malformed``: invalid UTF-8) and check 3 (``bad_type``) of ``reasons.Reason``: a value
that cannot be read as its column's type becomes null and a ``Finding``; the row's other checks
(``rules``) then see the canonical batch.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.ingest.reasons import Finding, Reason, show_value
from schemas import Table

# Epoch seconds that fit in a microsecond timestamp (int64). Past what a datetime holds (years
# 1..9999) a value is still a timestamp, and ``rules`` calls it out_of_range (issue 17: it is a
# corrupt or unit-confused time, not a value of another type).
EPOCH_S_MIN, EPOCH_S_MAX = -(2**63 // 1_000_000) + 1, (2**63 - 1) // 1_000_000 - 1

_FLOAT_RE = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)$"
_INT_RE = r"^[+-]?\d+$"
_ISO_TZ_RE = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"
_ISO_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"


@dataclasses.dataclass(frozen=True)
class Coerced:
    """A raw batch converted to the canonical types.

    Attributes:
        table: Canonical columns (nullable); a value that failed conversion is null.
        findings: ``bad_type`` and ``malformed`` findings of the conversion.
        failed: Per column, a ``[n]`` bool mask of values that failed conversion.
    """

    table: pa.Table
    findings: list[Finding]
    failed: dict[str, np.ndarray]


def nullable_schema(table: Table) -> pa.Schema:
    """The canonical schema with every field nullable (for batches not yet validated)."""
    schema = table.arrow_schema()
    return pa.schema([f.with_nullable(True) for f in schema], metadata=schema.metadata)


def coerce_batch(raw: pa.Table | Sequence[pa.Table], table: Table) -> Coerced:
    """Convert raw columns of any Arrow type to the declared types, row by row.

    Args:
        raw: Parsed rows, or consecutive parts of them (each may type a column differently);
            missing columns count as all-null, extra columns are ignored.
        table: The declared table.

    Returns:
        The canonical batch (parts concatenated in order) and the conversion findings.
    """
    tables = [raw] if isinstance(raw, pa.Table) else list(raw) or [pa.table({})]
    parts = [_coerce_part(p, table) for p in tables]
    if len(parts) == 1:
        return parts[0]
    findings, offset = [], 0
    for part in parts:
        findings += [dataclasses.replace(f, rows=f.rows + offset) for f in part.findings]
        offset += part.table.num_rows
    return Coerced(
        pa.concat_tables([p.table for p in parts]).combine_chunks(),
        findings,
        {c.name: np.concatenate([p.failed[c.name] for p in parts]) for c in table.columns},
    )


def _coerce_part(raw: pa.Table, table: Table) -> Coerced:
    """``coerce_batch`` of one part (one Arrow type per column)."""
    n = raw.num_rows
    arrays, findings, failed = [], [], {}
    for col in table.columns:
        if col.name in raw.column_names:
            arr = raw.column(col.name).combine_chunks()
        else:
            arr = pa.nulls(n, col.type)
        values, bad, broken = _coerce_column(arr, col.type)
        arrays.append(values)
        failed[col.name] = bad | broken
        for reason, mask in ((Reason.BAD_TYPE, bad), (Reason.MALFORMED, broken)):
            if mask.any():
                rows = np.flatnonzero(mask)
                shown = arr.take(pa.array(rows)).to_pylist()
                what = "invalid UTF-8" if reason is Reason.MALFORMED else f"not a {col.type}"
                findings.append(
                    Finding(
                        reason,
                        col.name,
                        rows,
                        tuple(f"value {show_value(v)} is {what}" for v in shown),
                    )
                )
    return Coerced(pa.Table.from_arrays(arrays, schema=nullable_schema(table)), findings, failed)


def _coerce_column(arr: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Convert ``arr`` to ``target``; returns values, bad-type mask and invalid-UTF-8 mask."""
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    src = arr.type
    if pa.types.is_null(src):
        return pa.nulls(n, target), none, none
    if pa.types.is_dictionary(src):
        return _coerce_column(arr.dictionary_decode(), target)
    if pa.types.is_large_string(src):
        return _coerce_column(arr.cast(pa.string()), target)
    if pa.types.is_large_binary(src):
        return _coerce_column(arr.cast(pa.binary()), target)
    if pa.types.is_string(target):
        if pa.types.is_string(src):
            return arr, none, none
        if pa.types.is_binary(src):
            values, broken = _cast_tolerant(arr, target)
            return values, none, broken
        if _is_number(src):
            return arr.cast(target), none, none
    elif pa.types.is_floating(target):
        if _is_number(src):
            return arr.cast(target, safe=False), none, none
        if pa.types.is_string(src):
            return _floats_from_text(arr, target)
    elif pa.types.is_timestamp(target):
        return _coerce_timestamp(arr, target)
    elif pa.types.is_binary(target):
        if pa.types.is_binary(src):
            return arr, none, none
        if pa.types.is_string(src):
            return _binary_from_base64(arr)
    elif pa.types.is_list(target):
        if pa.types.is_list(src) or pa.types.is_large_list(src):
            values, bad = _cast_tolerant(arr, target, safe=False)
            return values, bad, none
        if pa.types.is_string(src):
            return _lists_from_json(arr, target)
    return pa.nulls(n, target), not_null(arr), none


def _coerce_timestamp(
    arr: pa.Array, target: pa.DataType
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    n = len(arr)
    none = np.zeros(n, dtype=bool)
    src = arr.type
    if pa.types.is_timestamp(src):
        if src.tz is None:
            naive, bad = _cast_tolerant(arr, pa.timestamp("us"), safe=False)
            return naive.view(target), bad, none
        values, bad = _cast_tolerant(arr, target, safe=False)
        return values, bad, none
    if pa.types.is_date(src):
        naive, bad = _cast_tolerant(arr, pa.timestamp("us"))
        return naive.view(target), bad, none
    if pa.types.is_integer(src) or pa.types.is_floating(src):
        return (*_timestamps_from_epoch(arr.cast(pa.float64(), safe=False), target), none)
    if pa.types.is_string(src):
        return (*_timestamps_from_text(arr, target), none)
    return pa.nulls(n, target), not_null(arr), none


def _timestamps_from_epoch(seconds: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Epoch seconds (float64) -> timestamps; non-finite or out-of-range values are bad."""
    values = seconds.to_numpy(zero_copy_only=False)
    present = not_null(seconds)
    with np.errstate(invalid="ignore"):
        ok = present & np.isfinite(values) & (values >= EPOCH_S_MIN) & (values <= EPOCH_S_MAX)
    micros = np.zeros(len(values), dtype=np.int64)
    micros[ok] = np.round(values[ok] * 1_000_000).astype(np.int64)
    return pa.array(micros, type=pa.int64(), mask=~ok).view(target), present & ~ok


def _timestamps_from_text(text: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """ISO-8601 (offset or UTC when none) or integer epoch-second strings -> timestamps."""
    text = _blank_to_null(text)
    present = not_null(text)
    is_int = _matches(text, _INT_RE)
    is_tz = _matches(text, _ISO_TZ_RE)
    is_naive = _matches(text, _ISO_NAIVE_RE)
    parts, bad = [], present & ~(is_int | is_tz | is_naive)
    if is_int.any():
        ints, failed = _cast_tolerant(_keep(text, is_int), pa.float64())
        epoch, out = _timestamps_from_epoch(ints, target)
        parts.append(epoch)
        bad |= failed | out
    if is_tz.any():
        aware, failed = _cast_tolerant(_keep(text, is_tz), target)
        parts.append(aware)
        bad |= failed
    if is_naive.any():
        naive, failed = _cast_tolerant(_keep(text, is_naive), pa.timestamp("us"))
        parts.append(naive.view(target))
        bad |= failed
    if not parts:
        return pa.nulls(len(text), target), bad
    return (pc.coalesce(*parts) if len(parts) > 1 else parts[0]), bad


def _floats_from_text(
    text: pa.Array, target: pa.DataType
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    text = _blank_to_null(text)
    ok = _matches(text, _FLOAT_RE, ignore_case=True)
    values, failed = _cast_tolerant(_keep(text, ok), target)
    return values, (not_null(text) & ~ok) | failed, np.zeros(len(text), dtype=bool)


def _binary_from_base64(text: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    out: list[bytes | None] = []
    bad = np.zeros(len(text), dtype=bool)
    for i, value in enumerate(text.to_pylist()):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(base64.b64decode(value.strip(), validate=True))
        except (binascii.Error, ValueError):
            out.append(None)
            bad[i] = True
    return pa.array(out, type=pa.binary()), bad, np.zeros(len(text), dtype=bool)


def _lists_from_json(
    text: pa.Array, target: pa.DataType
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """JSON-list strings (an embedding in CSV) -> lists of numbers."""
    out: list[list[float] | None] = []
    bad = np.zeros(len(text), dtype=bool)
    for i, value in enumerate(text.to_pylist()):
        parsed = None
        if value is not None and value.strip():
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                parsed = None
            numeric = isinstance(parsed, list) and all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in parsed
            )
            if not numeric:
                parsed, bad[i] = None, True
        out.append(parsed)
    values, failed = _cast_tolerant(pa.array(out, type=pa.list_(pa.float64())), target, safe=False)
    return values, bad | failed, np.zeros(len(text), dtype=bool)


def _cast_tolerant(
    arr: pa.Array, target: pa.DataType, *, safe: bool = True
) -> tuple[pa.Array, np.ndarray]:
    """Cast, nulling the values that fail; the fast path is one vectorized cast.

    On failure the array is bisected to find the failing values, so the cost is
    ``O(bad * log n)`` casts, not one per row.
    """
    bad = np.zeros(len(arr), dtype=bool)
    try:
        return arr.cast(target, safe=safe), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        _bisect_failures(arr, target, safe, 0, len(arr), bad)
    kept = pc.if_else(pa.array(bad), pa.scalar(None, arr.type), arr)
    return kept.cast(target, safe=safe), bad


def _bisect_failures(
    arr: pa.Array, target: pa.DataType, safe: bool, lo: int, hi: int, bad: np.ndarray
) -> None:
    try:
        arr.slice(lo, hi - lo).cast(target, safe=safe)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
        if hi - lo == 1:
            bad[lo] = True
            return
        mid = (lo + hi) // 2
        _bisect_failures(arr, target, safe, lo, mid, bad)
        _bisect_failures(arr, target, safe, mid, hi, bad)


# --- small array helpers (``rules`` uses ``bools`` and ``not_null`` too) ----------------------


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def bools(arr: pa.Array) -> np.ndarray:
    """A boolean array as numpy, nulls as False."""
    return arr.fill_null(False).to_numpy(zero_copy_only=False)


def not_null(arr: pa.Array) -> np.ndarray:
    """``[n]`` bool: the value is not null."""
    return bools(pc.is_valid(arr))


def _blank_to_null(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _matches(text: pa.Array, pattern: str, *, ignore_case: bool = False) -> np.ndarray:
    return bools(pc.match_substring_regex(text, pattern, ignore_case=ignore_case))


def _keep(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), arr, pa.scalar(None, arr.type))
