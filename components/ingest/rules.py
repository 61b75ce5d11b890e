"""Row rules derived from the contract: check coerced batches (pure: pyarrow in, numpy out).

A rule never raises for a bad row; it returns a ``reasons.Finding`` (which rows, why, where).
``reasons.Reason`` lists the checks in the order they are applied: a row's ``reason`` is the
first one that fails, ``reasons`` all of them. 1 and 3 are ``coercion``'s, 11 ``dedup``'s.

1. ``malformed``         the line is not JSON / has the wrong CSV field count / invalid UTF-8
2. ``missing_required``  a required column is null or empty (whitespace only counts as empty)
3. ``bad_type``          a value cannot be read as the column's type
4. ``bad_value``         a value is not one of the column's allowed values
5. ``out_of_range``      a number is outside the column's bounds, NaN or infinite; a timestamp
                         before the Unix epoch (``EARLIEST_TS``) or past what a datetime holds
                         (``LATEST_TS``, year 9999: a corrupt or unit-confused value)
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

import datetime as dt
import io
from collections.abc import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

import schemas
from components.ingest.coercion import Coerced, bools, not_null
from components.ingest.reasons import Finding, Reason, show_value
from schemas import Column, Role, Table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# No shop, review or social link predates 1970; an earlier time is a unit or sign error (e.g. a
# negative epoch). The contract declares no lower bound on times, so ingest holds it here.
EARLIEST_TS = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# The last instant a Python datetime holds: a timestamp past it (2**62 us is year 148,108) is no
# time at all, and rendering it would raise OverflowError.
LATEST_TS = dt.datetime.max.replace(tzinfo=dt.UTC)
# A 9000x9000 PNG of one colour is 80 KB and decodes to 243 MB of RGB (972 MB as float32 in the
# transform graph). Pillow only refuses above ~179 M pixels; 16.7 M (4096^2) is far above any
# product photo and the model uses 32x32. Checked from the header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 4096 * 4096


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
            checks.append(_past_datetime_check(arr))
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


# --- checks ------------------------------------------------------------------------------------


def _allowed_check(arr: pa.Array, col: Column):
    allowed = pa.array(col.allowed, type=pa.string())
    mask = not_null(arr) & ~bools(pc.is_in(arr, value_set=allowed))
    return (
        Reason.BAD_VALUE,
        mask,
        lambda rows: [
            f"value {show_value(v)} not in {list(col.allowed)}" for v in _values(arr, rows)
        ],
    )


def _bounds_check(arr: pa.Array, col: Column):
    lo, hi = col.bounds
    values = arr.to_numpy(zero_copy_only=False)
    with np.errstate(invalid="ignore"):
        mask = not_null(arr) & ~((values >= lo) & (values <= hi))
    return (
        Reason.OUT_OF_RANGE,
        mask,
        lambda rows: [f"value {float(values[r])!r} outside [{lo:g}, {hi:g}]" for r in rows],
    )


def _finite_list_check(arr: pa.Array):
    mask = np.zeros(len(arr), dtype=bool)
    flat = pc.list_flatten(arr)
    if len(flat):
        not_finite = ~bools(pc.is_finite(flat))
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
    mask = bools(pc.less(arr, pa.scalar(EARLIEST_TS, type=schemas.TIMESTAMP)))
    return (
        Reason.OUT_OF_RANGE,
        mask,
        lambda rows: [
            f"{v} is before {EARLIEST_TS.isoformat()}" for v in timestamps_shown(arr, rows)
        ],
    )


def _past_datetime_check(arr: pa.Array):
    mask = bools(pc.greater(arr.cast(pa.int64()), pa.scalar(_micros(LATEST_TS), pa.int64())))
    return (
        Reason.OUT_OF_RANGE,
        mask,
        lambda rows: [
            f"{v} is past {LATEST_TS.isoformat()} (no time a datetime can hold)"
            for v in timestamps_shown(arr, rows)
        ],
    )


def _future_check(arr: pa.Array, now: dt.datetime):
    mask = bools(pc.greater(arr, pa.scalar(now, type=schemas.TIMESTAMP)))
    # Past what a datetime holds is no time at all: out_of_range only (_past_datetime_check).
    mask &= ~bools(pc.greater(arr.cast(pa.int64()), pa.scalar(_micros(LATEST_TS), pa.int64())))
    return (
        Reason.FUTURE_TIMESTAMP,
        mask,
        lambda rows: [f"{v} is after now {now.isoformat()}" for v in timestamps_shown(arr, rows)],
    )


def timestamps_shown(arr: pa.Array, rows: np.ndarray) -> list[str]:
    """ISO text of timestamps at ``rows``; one no datetime holds as its microseconds."""
    picked = arr.take(pa.array(rows, type=pa.int64()))
    try:
        return [v.isoformat() for v in picked.to_pylist()]
    except OverflowError:
        micros = picked.cast(pa.int64()).to_pylist()
        return [_shown_micros(n) for n in micros]


def _shown_micros(n: int) -> str:
    try:
        return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=n)).isoformat()
    except OverflowError:
        return f"{n:,} us from 1970-01-01 (year {1970 + n / 31_556_952e6:,.0f})"


def _micros(value: dt.datetime) -> int:
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _reference_check(arr: pa.Array, col: Column, ids: pa.Array | None):
    if ids is None:
        ids = pa.array([], type=pa.string())
    mask = not_null(arr) & ~bools(pc.is_in(arr, value_set=ids))
    return (
        reference_reason(col),
        mask,
        lambda rows: [
            f"{show_value(v)} not among valid {col.references}" for v in _values(arr, rows)
        ],
    )


# --- small array helpers -----------------------------------------------------------------------


def _empty(arr: pa.Array) -> np.ndarray:
    """Null, or an empty string / binary / list (whitespace-only strings count as empty)."""
    mask = ~not_null(arr)
    if pa.types.is_string(arr.type):
        mask |= bools(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0))
    elif pa.types.is_binary(arr.type):
        mask |= bools(pc.equal(pc.binary_length(arr), 0))
    return mask


def _values(arr: pa.Array, rows: np.ndarray) -> list:
    return arr.take(pa.array(rows, type=pa.int64())).to_pylist()
