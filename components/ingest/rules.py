"""Row rules derived from the contract: coerce raw columns to canonical types, then check them.

Pure: pyarrow in, pyarrow/numpy out. A rule never raises for a bad row; it returns a ``Finding``
(which rows, why, where). ``Reason`` lists the checks in the order they are applied: a row's
``reason`` is the first one that fails, ``reasons`` all of them.

1. ``malformed``         the line is not JSON / has the wrong CSV field count / invalid UTF-8
2. ``missing_required``  a required column is null or empty (whitespace only counts as empty)
3. ``bad_type``          a value cannot be read as the column's type
4. ``bad_value``         a value is not one of the column's allowed values
5. ``out_of_range``      a number is outside the column's bounds, NaN or infinite; a timestamp
                         before the Unix epoch (``EARLIEST_TS``)
6. ``too_long``          a string (characters) or binary (bytes) is longer than ``max_len``; an
                         image of more than ``MAX_IMAGE_PIXELS`` pixels
7. ``corrupt_image``     image bytes are not a PNG/JPEG that Pillow fully decodes
8. ``future_timestamp``  a timestamp is after ``now``
9. ``unknown_user``      a user foreign key is not among the valid users
10. ``unknown_item``     an item foreign key is not among the valid items
11. ``duplicate``        the table key (whole row when the key is None) was seen before; only
                         rows passing 1-10 are compared, so the first valid occurrence is kept
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import io
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

import schemas
from schemas import Column, Role, Table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# Epoch seconds that fit in a microsecond timestamp and in datetime (years 1..9999).
EPOCH_S_MIN, EPOCH_S_MAX = -62_135_596_800, 253_402_300_799
DETAIL_VALUE_CHARS = 80
# No shop, review or social link predates 1970; an earlier time is a unit or sign error (e.g. a
# negative epoch). The contract declares no lower bound on times, so ingest holds it here.
EARLIEST_TS = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# A 9000x9000 PNG of one colour is 80 KB and decodes to 243 MB of RGB (972 MB as float32 in the
# transform graph). Pillow only refuses above ~179 M pixels; 16.7 M (4096^2) is far above any
# product photo and the model uses 32x32. Checked from the header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 4096 * 4096

_FLOAT_RE = r"^[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|nan|inf|infinity)$"
_INT_RE = r"^[+-]?\d+$"
_ISO_TZ_RE = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$"
_ISO_NAIVE_RE = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?$"


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
                        tuple(f"value {_show(v)} is {what}" for v in shown),
                    )
                )
    return Coerced(pa.Table.from_arrays(arrays, schema=nullable_schema(table)), findings, failed)


def check_batch(
    coerced: Coerced,
    table: Table,
    *,
    now: dt.datetime,
    known: Mapping[str, pa.Array],
) -> list[Finding]:
    """Apply checks 2 and 4-10 to a coerced batch (bad types are already findings).

    Args:
        coerced: Output of ``coerce_batch``.
        table: The declared table.
        now: Timestamps after this are ``future_timestamp``.
        known: Valid ids by reference (``"users.user_id"``); a missing entry means none are known.

    Returns:
        Findings in no particular order.
    """
    batch = coerced.table
    findings: list[Finding] = []
    for col in table.columns:
        arr = batch.column(col.name).combine_chunks()
        checks: list[tuple[Reason, np.ndarray, Callable[[np.ndarray], list[str]]]] = []
        if col.required:
            checks.append(
                (
                    Reason.MISSING_REQUIRED,
                    _empty(arr) & ~coerced.failed[col.name],
                    lambda rows: ["required value is missing"] * len(rows),
                )
            )
        if col.allowed is not None:
            checks.append(_allowed_check(arr, col))
        if col.bounds is not None:
            checks.append(_bounds_check(arr, col))
        if col.is_list:
            checks.append(_finite_list_check(arr))
        if col.max_len is not None:
            checks.append(_length_check(arr, col))
        if col.role is Role.IMAGE_BYTES:
            checks += _image_checks(arr, col)
        if col.type == schemas.TIMESTAMP:
            checks.append(_before_epoch_check(arr))
            checks.append(_future_check(arr, now))
        if col.references is not None:
            checks.append(_reference_check(arr, col, known.get(col.references)))
        for reason, mask, describe in checks:
            if mask.any():
                rows = np.flatnonzero(mask)
                findings.append(Finding(reason, col.name, rows, tuple(describe(rows))))
    return findings


def reference_reason(column: Column) -> Reason:
    """``unknown_user`` or ``unknown_item``: the reason for a dangling foreign key."""
    target = (column.references or "").split(".", 1)[0]
    return Reason.UNKNOWN_USER if target == schemas.USERS.name else Reason.UNKNOWN_ITEM


def is_decodable_image(data: bytes) -> bool:
    """True when ``data`` is a PNG or JPEG (magic bytes) that Pillow verifies and fully decodes.

    ``verify`` checks structure and CRCs; ``load`` decodes every pixel, which is what catches
    truncated files (see STACK-NOTES: a magic-byte check alone lets them through). An image of
    more than ``MAX_IMAGE_PIXELS`` pixels is refused from its header, undecoded.
    """
    return image_fault(data) is None


def image_fault(data: bytes) -> tuple[Reason, str] | None:
    """Why ``data`` is not an acceptable image (``corrupt_image`` or ``too_long``), or None."""
    if not (data.startswith(PNG_MAGIC) or data.startswith(JPEG_MAGIC)):
        return Reason.CORRUPT_IMAGE, "not a PNG/JPEG"
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in ("PNG", "JPEG"):
                return Reason.CORRUPT_IMAGE, "not a PNG/JPEG"
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                return (
                    Reason.TOO_LONG,
                    f"image is {width}x{height} = {width * height:,} pixels > max "
                    f"{MAX_IMAGE_PIXELS:,}",
                )
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    # Pillow raises many types (OSError, SyntaxError, ValueError, struct.error, ...) on hostile
    # bytes; every one of them means "not decodable", which is the answer we return.
    except Exception:
        return Reason.CORRUPT_IMAGE, "not a decodable PNG/JPEG"
    return None


# --- coercion ----------------------------------------------------------------------------------


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
    return pa.nulls(n, target), _not_null(arr), none


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
    return pa.nulls(n, target), _not_null(arr), none


def _timestamps_from_epoch(seconds: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Epoch seconds (float64) -> timestamps; non-finite or out-of-range values are bad."""
    values = seconds.to_numpy(zero_copy_only=False)
    present = _not_null(seconds)
    with np.errstate(invalid="ignore"):
        ok = present & np.isfinite(values) & (values >= EPOCH_S_MIN) & (values <= EPOCH_S_MAX)
    micros = np.zeros(len(values), dtype=np.int64)
    micros[ok] = np.round(values[ok] * 1_000_000).astype(np.int64)
    return pa.array(micros, type=pa.int64(), mask=~ok).view(target), present & ~ok


def _timestamps_from_text(text: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """ISO-8601 (offset or UTC when none) or integer epoch-second strings -> timestamps."""
    text = _blank_to_null(text)
    present = _not_null(text)
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
    return values, (_not_null(text) & ~ok) | failed, np.zeros(len(text), dtype=bool)


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


# --- checks ------------------------------------------------------------------------------------


def _allowed_check(arr: pa.Array, col: Column):
    allowed = pa.array(col.allowed, type=pa.string())
    mask = _not_null(arr) & ~_bools(pc.is_in(arr, value_set=allowed))
    return (
        Reason.BAD_VALUE,
        mask,
        lambda rows: [f"value {_show(v)} not in {list(col.allowed)}" for v in _values(arr, rows)],
    )


def _bounds_check(arr: pa.Array, col: Column):
    lo, hi = col.bounds
    values = arr.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        mask = _not_null(arr) & ~((values >= lo) & (values <= hi))
    return (
        Reason.OUT_OF_RANGE,
        mask,
        lambda rows: [f"value {float(values[r])!r} outside [{lo:g}, {hi:g}]" for r in rows],
    )


def _finite_list_check(arr: pa.Array):
    mask = np.zeros(len(arr), dtype=bool)
    flat = pc.list_flatten(arr)
    if len(flat):
        not_finite = ~_bools(pc.is_finite(flat))
        parents = pc.list_parent_indices(arr).to_numpy()
        mask[parents[not_finite]] = True
    return (
        Reason.OUT_OF_RANGE,
        mask,
        lambda rows: ["list holds a NaN or infinite value"] * len(rows),
    )


def _length_check(arr: pa.Array, col: Column):
    if pa.types.is_string(arr.type):
        lengths, unit = pc.utf8_length(arr), "characters"
    else:
        lengths, unit = pc.binary_length(arr), "bytes"
    sizes = lengths.fill_null(0).to_numpy()
    return (
        Reason.TOO_LONG,
        sizes > col.max_len,
        lambda rows: [f"{sizes[r]} {unit} > max {col.max_len}" for r in rows],
    )


def _image_checks(arr: pa.Array, col: Column) -> list:
    """Two checks from one pass: too many pixels (``too_long``) and undecodable bytes."""
    faults: dict[Reason, np.ndarray] = {
        r: np.zeros(len(arr), dtype=bool) for r in (Reason.TOO_LONG, Reason.CORRUPT_IMAGE)
    }
    why: dict[int, str] = {}
    sizes = pc.binary_length(arr).fill_null(-1).to_numpy()
    candidates = np.flatnonzero((sizes >= 0) & (sizes <= (col.max_len or np.inf)))
    for i, data in zip(candidates, arr.take(pa.array(candidates)).to_pylist(), strict=True):
        fault = image_fault(data)
        if fault is not None:
            faults[fault[0]][i] = True
            why[int(i)] = fault[1]
    return [
        (
            reason,
            mask,
            lambda rows: [f"{sizes[r]} bytes: {why[int(r)]}" for r in rows],
        )
        for reason, mask in faults.items()
    ]


def _before_epoch_check(arr: pa.Array):
    mask = _bools(pc.less(arr, pa.scalar(EARLIEST_TS, type=schemas.TIMESTAMP)))
    return (
        Reason.OUT_OF_RANGE,
        mask,
        lambda rows: [
            f"{v.isoformat()} is before {EARLIEST_TS.isoformat()}" for v in _values(arr, rows)
        ],
    )


def _future_check(arr: pa.Array, now: dt.datetime):
    mask = _bools(pc.greater(arr, pa.scalar(now, type=schemas.TIMESTAMP)))
    return (
        Reason.FUTURE_TIMESTAMP,
        mask,
        lambda rows: [
            f"{v.isoformat()} is after now {now.isoformat()}" for v in _values(arr, rows)
        ],
    )


def _reference_check(arr: pa.Array, col: Column, ids: pa.Array | None):
    if ids is None:
        ids = pa.array([], type=pa.string())
    mask = _not_null(arr) & ~_bools(pc.is_in(arr, value_set=ids))
    return (
        reference_reason(col),
        mask,
        lambda rows: [f"{_show(v)} not among valid {col.references}" for v in _values(arr, rows)],
    )


# --- small array helpers -----------------------------------------------------------------------


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _bools(arr: pa.Array) -> np.ndarray:
    """A boolean array as numpy, nulls as False."""
    return arr.fill_null(False).to_numpy(zero_copy_only=False)


def _not_null(arr: pa.Array) -> np.ndarray:
    return _bools(pc.is_valid(arr))


def _empty(arr: pa.Array) -> np.ndarray:
    """Null, or an empty string / binary / list (whitespace-only strings count as empty)."""
    mask = ~_not_null(arr)
    if pa.types.is_string(arr.type):
        mask |= _bools(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0))
    elif pa.types.is_binary(arr.type):
        mask |= _bools(pc.equal(pc.binary_length(arr), 0))
    return mask


def _blank_to_null(text: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(text)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _matches(text: pa.Array, pattern: str, *, ignore_case: bool = False) -> np.ndarray:
    return _bools(pc.match_substring_regex(text, pattern, ignore_case=ignore_case))


def _keep(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(mask), arr, pa.scalar(None, arr.type))


def _values(arr: pa.Array, rows: np.ndarray) -> list:
    return arr.take(pa.array(rows, type=pa.int64())).to_pylist()


def _show(value: object) -> str:
    if isinstance(value, bytes):
        value = value[:DETAIL_VALUE_CHARS]
    text = repr(value)
    return text if len(text) <= DETAIL_VALUE_CHARS else text[: DETAIL_VALUE_CHARS - 3] + "..."
