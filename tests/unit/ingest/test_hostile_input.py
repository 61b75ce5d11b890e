"""Inputs the malformed corpus (tests/hardening) found ingest mishandling, one unit test each."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import schemas
from components.ingest import coercion, job, layout, rules
from components.ingest.dedup import SeenKeys
from components.ingest.formats import parse_csv, parse_jsonl
from components.ingest.reasons import Reason
from components.ingest.validate import validate_batch
from schemas import tables as cols

from .ingest_rows import NOW, config
from .test_rules import check, event


def _users_csv(tmp_path, body: str):
    (tmp_path / "users.csv").write_text(f"{cols.USER_ID},{cols.COUNTRY}\n" + body)
    (tmp_path / "items.csv").write_text(f"{cols.ITEM_ID}\ni1\n")
    (tmp_path / "events.csv").write_text(
        f"{cols.USER_ID},{cols.ITEM_ID},{cols.EVENT_TYPE},{cols.TS}\n"
    )
    manifest = job.run(str(tmp_path), str(tmp_path / "out"), config())
    quarantine = pq.read_table(layout.quarantine_path(tmp_path / "out", cols.USERS.name))
    valid = layout.read_table(tmp_path / "out", cols.USERS.name).column(cols.USER_ID)
    return manifest["tables"][cols.USERS.name], quarantine.to_pylist(), valid.to_pylist()


def test_csv_stray_quote_costs_its_line_only(tmp_path) -> None:
    """It used to open a quoted field running to the end of the file: 1 record for 6 lines."""
    counts, quarantine, valid = _users_csv(
        tmp_path, 'u1,DE\nu2,"FR\nu3,DE\nu4,"multi\nline"\nu5,IT\nu6,DE\n'
    )
    assert (counts["read"], counts["valid"]) == (6, 5)
    assert valid == ["u1", "u3", "u4", "u5", "u6"]
    assert [(q["row"], q["reason"]) for q in quarantine] == [(3, "malformed")]
    assert quarantine[0]["detail"] == "quoted field does not close (stray quote)"


def test_csv_quoted_span_that_is_not_one_record_is_split(tmp_path) -> None:
    """Two stray quotes close each other's span: the lines between are still rows."""
    counts, quarantine, valid = _users_csv(tmp_path, 'u1,"DE\nu2,FR\nu3,IT"x,y\nu4,DE\n')
    assert valid == ["u2", "u4"]
    assert sorted(q["row"] for q in quarantine) == [2, 4]
    assert counts["read"] == 4


def test_csv_field_longer_than_pythons_csv_limit_is_read() -> None:
    """A 200k-character field sent to the line-by-line path (by a bad neighbour) still parses."""
    big = "x" * 200_000
    batch = parse_csv([cols.USER_ID, cols.COUNTRY], [f"u1,{big}\n".encode(), b"u2\n"], [2, 3])
    assert [m.row for m in batch.malformed] == [3]
    assert batch.parts[0].column(cols.COUNTRY).to_pylist() == [big]


def test_json_object_repeating_a_member_is_malformed() -> None:
    lines = [
        json.dumps({cols.USER_ID: "u1"}).encode(),
        b'{"user_id": "u2", "country": "DE", "user_id": "u9"}',
    ]
    batch = parse_jsonl(lines, [1, 2], schemas.USERS)
    assert [(m.row, m.detail) for m in batch.malformed] == [
        (2, f"JSON object repeats member {cols.USER_ID!r}")
    ]
    assert batch.parts[0].column(cols.USER_ID).to_pylist() == ["u1"]


@pytest.mark.parametrize("before", [True, False])
def test_json_boolean_number_is_bad_type_whatever_its_neighbours(before: bool) -> None:
    """pyarrow reads [4.0, true] as doubles (true -> 1.0) but refuses [true, 4.0]."""
    rows = [event(**{cols.EVENT_TYPE: "rating", cols.VALUE: 4.0}), event(**{cols.VALUE: True})]
    lines = [json.dumps(r).encode() for r in (rows if before else rows[::-1])]
    lines.append(b"{broken")  # sends the chunk down the line-by-line path
    batch = parse_jsonl(lines, [1, 2, 3], schemas.EVENTS)
    coerced = coercion.coerce_batch(batch.parts, schemas.EVENTS)
    bad = [f for f in coerced.findings if f.reason is Reason.BAD_TYPE]
    assert [(f.column, f.rows.tolist()) for f in bad] == [(cols.VALUE, [1 if before else 0])]


@pytest.mark.parametrize("when", ["1969-12-31T23:59:59Z", "-86400", "0001-01-01T00:00:00Z"])
def test_timestamp_before_the_epoch_is_out_of_range(when: str) -> None:
    checked = check(schemas.EVENTS, [event(), event(**{cols.TS: when})])
    assert checked.verdict.bad.tolist() == [1]
    assert checked.verdict.reason == [Reason.OUT_OF_RANGE]
    assert checked.verdict.column == [cols.TS]
    assert "is before 1970-01-01T00:00:00+00:00" in checked.verdict.detail[0]


def test_epoch_itself_is_valid() -> None:
    checked = check(schemas.EVENTS, [event(**{cols.TS: "1970-01-01T00:00:00Z"})])
    assert checked.valid.num_rows == 1


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def test_image_with_too_many_pixels_is_too_long_from_its_header() -> None:
    """A 6000x3000 PNG of one colour is a few KB and would decode to 54 MB of RGB."""
    bomb, fine = _png(6_000, 3_000), _png(64, 64)
    assert len(bomb) < 100_000
    assert rules.image_fault(bomb) == (
        Reason.TOO_LONG,
        f"image is 6000x3000 = 18,000,000 pixels > max {rules.MAX_IMAGE_PIXELS:,}",
    )
    assert rules.image_fault(fine) is None
    rows = [
        {cols.ITEM_ID: "i1", cols.IMAGE_BYTES: fine},
        {cols.ITEM_ID: "i2", cols.IMAGE_BYTES: bomb},
        {cols.ITEM_ID: "i3", cols.IMAGE_BYTES: b"\x89PNG\r\n\x1a\nbroken"},
    ]
    raw = pa.table(
        {
            cols.ITEM_ID: [r[cols.ITEM_ID] for r in rows],
            cols.IMAGE_BYTES: pa.array([r[cols.IMAGE_BYTES] for r in rows], pa.binary()),
        }
    )
    checked = check_items(raw)
    # An optional image: emptied with its finding; the items stay (and what refers to them).
    assert checked.valid.num_rows == 3 and checked.verdict.reason == []
    assert sorted((f.reason, f.column, f.rows.tolist()) for f in checked.dropped) == [
        (Reason.CORRUPT_IMAGE, cols.IMAGE_BYTES, [2]),
        (Reason.TOO_LONG, cols.IMAGE_BYTES, [1]),
    ]


def check_items(raw: pa.Table):
    return validate_batch(raw, schemas.ITEMS, now=NOW, known={}, seen=SeenKeys())


def test_csv_quoted_newline_beside_a_bare_carriage_return_stays_one_row(tmp_path) -> None:
    """Found by the property test: a CR in the span made Python's csv refuse it, so it split."""
    header = f"{cols.USER_ID},{cols.COUNTRY},{cols.AGE_BUCKET}\n"
    (tmp_path / "users.csv").write_bytes((header + 'u1,"a\nb",x\ry\nu2,DE,\n').encode())
    (tmp_path / "items.csv").write_text(f"{cols.ITEM_ID}\ni1\n")
    (tmp_path / "events.csv").write_text(
        f"{cols.USER_ID},{cols.ITEM_ID},{cols.EVENT_TYPE},{cols.TS}\n"
    )
    manifest = job.run(str(tmp_path), str(tmp_path / "out"), config())
    assert manifest["tables"][cols.USERS.name]["read"] == 2
