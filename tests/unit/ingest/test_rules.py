"""Each reason code on hand-made rows, through the pure validate_batch.

A bad value of a required column, a key, a foreign key or the time column refuses its row; a
bad value of an optional column is emptied and kept as a finding (``Checked.dropped``) while
the row stays valid.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib

import numpy as np
import pyarrow as pa
import pytest

import schemas
from components.ingest import rules
from components.ingest.dedup import SeenKeys
from components.ingest.reasons import Reason
from components.ingest.validate import validate_batch
from schemas import tables as cols

from .ingest_rows import NOW, jpeg_bytes, png_bytes, ts

KNOWN = {
    f"{cols.USERS.name}.{cols.USER_ID}": pa.array(["u1", "u2"]),
    f"{cols.ITEMS.name}.{cols.ITEM_ID}": pa.array(["i1"]),
}


def event(**overrides: object) -> dict:
    row = {
        cols.USER_ID: "u1",
        cols.ITEM_ID: "i1",
        cols.EVENT_TYPE: "view",
        cols.TS: "2024-01-02T03:04:05Z",
    }
    row.update(overrides)
    return row


def dropped(checked) -> list[tuple[Reason, str, list[int]]]:
    """``(reason, column, batch rows)`` of every emptied optional value."""
    return [(f.reason, f.column, f.rows.tolist()) for f in checked.dropped]


def check(table: schemas.Table, rows: list[dict], *, seen: SeenKeys | None = None):
    names = table.names
    raw = pa.table(
        {n: pa.array([r.get(n) for r in rows]) for n in names if any(n in r for r in rows)}
    )
    return validate_batch(
        raw, table, now=NOW, known=KNOWN, seen=SeenKeys() if seen is None else seen
    )


@pytest.mark.parametrize(
    ("overrides", "reason", "column"),
    [
        ({cols.USER_ID: None}, Reason.MISSING_REQUIRED, cols.USER_ID),
        ({cols.USER_ID: "   "}, Reason.MISSING_REQUIRED, cols.USER_ID),
        ({cols.TS: "yesterday"}, Reason.BAD_TYPE, cols.TS),
        ({cols.TS: "2024-13-40T00:00:00Z"}, Reason.BAD_TYPE, cols.TS),
        ({cols.EVENT_TYPE: "like"}, Reason.BAD_VALUE, cols.EVENT_TYPE),
        ({cols.TS: "2031-01-01T00:00:00Z"}, Reason.FUTURE_TIMESTAMP, cols.TS),
        ({cols.USER_ID: "u9"}, Reason.UNKNOWN_USER, cols.USER_ID),
        ({cols.ITEM_ID: "i9"}, Reason.UNKNOWN_ITEM, cols.ITEM_ID),
    ],
)
def test_each_reason_on_one_bad_event(overrides: dict, reason: Reason, column: str) -> None:
    rows = [event(), event(**overrides), event(**{cols.TS: "2024-01-03T00:00:00Z"})]
    checked = check(
        schemas.EVENTS, [{k: str(v) if v is not None else None for k, v in r.items()} for r in rows]
    )
    assert checked.valid.num_rows == 2
    assert checked.verdict.bad.tolist() == [1]
    assert checked.verdict.reason == [reason]
    assert checked.verdict.column == [column]


@pytest.mark.parametrize(
    ("overrides", "reason", "column"),
    [
        ({cols.DWELL_S: "12s"}, Reason.BAD_TYPE, cols.DWELL_S),
        ({cols.VALUE: "7.0"}, Reason.OUT_OF_RANGE, cols.VALUE),
        ({cols.VALUE: "nan"}, Reason.OUT_OF_RANGE, cols.VALUE),
        ({cols.DWELL_S: "inf"}, Reason.OUT_OF_RANGE, cols.DWELL_S),
        ({cols.SESSION_ID: "s" * (cols.MAX_ID_LEN + 1)}, Reason.TOO_LONG, cols.SESSION_ID),
    ],
)
def test_a_bad_optional_value_is_dropped_and_the_event_stays(
    overrides: dict, reason: Reason, column: str
) -> None:
    later = {cols.TS: "2024-01-02T09:00:00Z"}  # not a copy of the first once emptied
    rows = [event(), event(**overrides, **later), event(**{cols.TS: "2024-01-03T00:00:00Z"})]
    checked = check(
        schemas.EVENTS, [{k: str(v) if v is not None else None for k, v in r.items()} for r in rows]
    )
    assert checked.valid.num_rows == 3 and checked.verdict.bad.tolist() == []
    assert checked.valid.column(column).to_pylist()[1] is None
    assert dropped(checked) == [(reason, column, [1])]


def test_out_of_range_detail_names_value_and_bounds() -> None:
    checked = check(schemas.EVENTS, [event(**{cols.VALUE: 7.0})])
    assert checked.dropped[0].details == ("value 7.0 outside [1, 5]",)


def test_first_reason_follows_check_order_and_all_are_kept() -> None:
    row = event(**{cols.EVENT_TYPE: "like", cols.USER_ID: "u9", cols.TS: "2031-01-01T00:00:00Z"})
    checked = check(schemas.EVENTS, [row])
    assert checked.verdict.reason == [Reason.BAD_VALUE]
    assert checked.verdict.reasons == [
        [Reason.BAD_VALUE, Reason.FUTURE_TIMESTAMP, Reason.UNKNOWN_USER]
    ]


def test_bad_type_is_not_also_missing_required() -> None:
    checked = check(schemas.EVENTS, [event(**{cols.TS: "soon"})])
    assert checked.verdict.reasons == [[Reason.BAD_TYPE]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-05T10:11:12Z", dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=dt.UTC)),
        ("2024-01-05T12:11:12+02:00", dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=dt.UTC)),
        ("2024-01-05 10:11:12", dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=dt.UTC)),
        ("1704449472", dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=dt.UTC)),
        (1704449472, dt.datetime(2024, 1, 5, 10, 11, 12, tzinfo=dt.UTC)),
    ],
)
def test_timestamp_encodings(text: object, expected: dt.datetime) -> None:
    checked = check(schemas.EVENTS, [event(**{cols.TS: text})])
    assert checked.valid.column(cols.TS).to_pylist() == [expected]


def test_huge_integers_are_bad_not_a_crash() -> None:
    # Found by the property tests: int64 -> float64 beyond 2**53 must not raise.
    huge_ts = check(schemas.EVENTS, [event(**{cols.TS: 2**53 + 1})])
    huge_value = check(schemas.EVENTS, [event(**{cols.VALUE: 2**60 + 1})])
    assert huge_ts.verdict.reason == [Reason.BAD_TYPE]
    assert dropped(huge_value) == [(Reason.OUT_OF_RANGE, cols.VALUE, [0])]


def test_numbers_from_strings_and_wrong_parquet_types() -> None:
    checked = check(
        schemas.ITEMS,
        [{cols.ITEM_ID: "i1", cols.PRICE: " 12.5 "}, {cols.ITEM_ID: "i2", cols.PRICE: "x"}],
    )
    assert checked.valid.column(cols.PRICE).to_pylist() == [12.5, None]
    assert dropped(checked) == [(Reason.BAD_TYPE, cols.PRICE, [1])]


def test_valid_rows_have_the_canonical_schema() -> None:
    checked = check(schemas.EVENTS, [event()])
    assert checked.valid.schema.equals(schemas.EVENTS.arrow_schema(), check_metadata=True)


def test_images_png_jpeg_pass_and_truncated_garbage_fail() -> None:
    png, jpg = png_bytes(32), jpeg_bytes(32)
    rows = [
        {cols.ITEM_ID: "a", cols.IMAGE_BYTES: png},
        {cols.ITEM_ID: "b", cols.IMAGE_BYTES: jpg},
        {cols.ITEM_ID: "c", cols.IMAGE_BYTES: png[: len(png) // 2]},
        {cols.ITEM_ID: "d", cols.IMAGE_BYTES: jpg[: len(jpg) - 40]},
        {cols.ITEM_ID: "e", cols.IMAGE_BYTES: b"\x89PNG\r\n\x1a\n" + b"\x00" * 40},
        {cols.ITEM_ID: "f", cols.IMAGE_BYTES: b"GIF89a"},
    ]
    checked = check(schemas.ITEMS, rows)
    assert checked.valid.column(cols.ITEM_ID).to_pylist() == list("abcdef")  # every item stays
    assert checked.valid.column(cols.IMAGE_BYTES).to_pylist() == [png, jpg, None, None, None, None]
    assert dropped(checked) == [(Reason.CORRUPT_IMAGE, cols.IMAGE_BYTES, [2, 3, 4, 5])]


def test_base64_image_from_text_formats() -> None:
    import base64

    rows = [
        {cols.ITEM_ID: "a", cols.IMAGE_BYTES: base64.b64encode(png_bytes()).decode()},
        {cols.ITEM_ID: "b", cols.IMAGE_BYTES: "not base64!"},
    ]
    checked = check(schemas.ITEMS, rows)
    assert checked.valid.column(cols.IMAGE_BYTES).to_pylist() == [png_bytes(), None]
    assert dropped(checked) == [(Reason.BAD_TYPE, cols.IMAGE_BYTES, [1])]


def test_embedding_as_json_text_and_non_finite() -> None:
    rows = [
        {cols.ITEM_ID: "a", cols.IMAGE_EMBEDDING: "[0.5, 1]"},
        {cols.ITEM_ID: "b", cols.IMAGE_EMBEDDING: "[0.5, NaN]"},
        {cols.ITEM_ID: "c", cols.IMAGE_EMBEDDING: '["x"]'},
    ]
    checked = check(schemas.ITEMS, rows)
    assert checked.valid.column(cols.IMAGE_EMBEDDING).to_pylist() == [[0.5, 1.0], None, None]
    assert sorted(dropped(checked)) == [
        (Reason.BAD_TYPE, cols.IMAGE_EMBEDDING, [2]),
        (Reason.OUT_OF_RANGE, cols.IMAGE_EMBEDDING, [1]),
    ]


def test_invalid_utf8_in_binary_id_is_malformed() -> None:
    raw = pa.table({cols.USER_ID: pa.array([b"ok", b"\xff\xfe"], pa.binary())})
    checked = validate_batch(raw, schemas.USERS, now=NOW, known=KNOWN, seen=SeenKeys())
    assert checked.valid.column(cols.USER_ID).to_pylist() == ["ok"]
    assert checked.verdict.reason == [Reason.MALFORMED]


def test_duplicates_by_key_first_valid_occurrence_kept_across_batches() -> None:
    seen = SeenKeys()
    first = check(
        schemas.USERS,
        [{cols.USER_ID: "u1", cols.AGE_BUCKET: "bad"}, {cols.USER_ID: "u1"}],
        seen=seen,
    )
    assert first.valid.num_rows == 1  # the first one, its bad age bucket emptied
    assert first.verdict.reason == [Reason.DUPLICATE]
    assert dropped(first) == [(Reason.BAD_VALUE, cols.AGE_BUCKET, [0])]
    second = check(
        schemas.USERS, [{cols.USER_ID: "u2"}, {cols.USER_ID: "u1", cols.COUNTRY: "IT"}], seen=seen
    )
    assert second.valid.column(cols.USER_ID).to_pylist() == ["u2"]
    assert second.verdict.reason == [Reason.DUPLICATE]
    assert second.verdict.detail == ["key user_id='u1' seen before"]


def test_whole_row_duplicates_when_key_is_none() -> None:
    rows = [event(), event(), event(**{cols.DWELL_S: 1.0}), event()]
    checked = check(schemas.EVENTS, rows)
    assert checked.verdict.bad.tolist() == [1, 3]
    assert checked.verdict.reason == [Reason.DUPLICATE, Reason.DUPLICATE]


def test_accounting_holds_for_a_mixed_batch() -> None:
    rows = [event(), event(**{cols.USER_ID: None}), event(**{cols.VALUE: 9}), event()]
    checked = check(schemas.EVENTS, rows)
    assert checked.valid.num_rows + len(checked.verdict.bad) == len(rows)
    # The third is the first once its value is emptied: a duplicate of it.
    assert np.array_equal(checked.verdict.valid, [True, False, False, False])
    assert checked.verdict.reason == [Reason.MISSING_REQUIRED, Reason.DUPLICATE, Reason.DUPLICATE]


def test_a_bad_optional_value_in_a_refused_row_is_not_counted_as_dropped() -> None:
    checked = check(schemas.EVENTS, [event(**{cols.USER_ID: None, cols.VALUE: 9})])
    assert checked.verdict.reason == [Reason.MISSING_REQUIRED] and checked.dropped == []


def test_a_timestamp_no_datetime_holds_is_out_of_range_not_a_crash() -> None:
    raw = pa.table(
        {
            cols.USER_ID: ["u1", "u1"],
            cols.ITEM_ID: ["i1", "i1"],
            cols.EVENT_TYPE: ["view", "view"],
            cols.TS: pa.array([2**62, -(2**62)], pa.int64()).cast(schemas.TIMESTAMP),
        }
    )
    checked = validate_batch(raw, schemas.EVENTS, now=NOW, known=KNOWN, seen=SeenKeys())
    assert checked.verdict.reason == [Reason.OUT_OF_RANGE] * 2
    assert "past 9999-12-31T23:59:59.999999+00:00" in checked.verdict.detail[0]
    assert "is before 1970-01-01" in checked.verdict.detail[1]
    assert "year 148,10" in checked.verdict.detail[0]  # 2**62 us, shown, not an OverflowError


def test_reason_order_is_the_documented_one() -> None:
    assert [r.value for r in Reason] == [
        "malformed",
        "missing_required",
        "bad_type",
        "bad_value",
        "out_of_range",
        "too_long",
        "corrupt_image",
        "future_timestamp",
        "unknown_user",
        "unknown_item",
        "duplicate",
    ]


def png_with_garbage_pixels() -> bytes:
    """A PNG whose IDAT holds non-zlib bytes under a correct CRC: verify() passes, load() fails."""
    data = png_bytes(16)
    out, pos = [data[:8]], 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            body = b"\x78\x9c" + b"\xff" * 30
        crc = struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        out.append(struct.pack(">I", len(body)) + kind + body + crc)
        pos += 12 + length
    return b"".join(out)


def test_image_that_only_a_full_decode_rejects() -> None:
    assert not rules.is_decodable_image(png_with_garbage_pixels())


def test_is_decodable_image_refuses_empty() -> None:
    assert not rules.is_decodable_image(b"")
    assert rules.is_decodable_image(png_bytes())


def test_ts_helper_is_utc() -> None:
    assert ts(1).tzinfo is dt.UTC
