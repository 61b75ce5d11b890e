"""JSONL / CSV chunk parsing: the fast path, the per-line fallback, row numbers."""

from __future__ import annotations

import json

import pyarrow as pa

import schemas
from components.ingest.formats import SUB_BLOCK_LINES, RawBatch, csv_header, parse_csv, parse_jsonl
from schemas import tables as cols


def whole(batch: RawBatch) -> pa.Table:
    return pa.concat_tables(batch.parts, promote_options="permissive")


def test_jsonl_bad_line_does_not_lose_its_chunk() -> None:
    lines = [
        json.dumps({cols.USER_ID: "u1"}).encode(),
        json.dumps({cols.USER_ID: "u2"}).encode()[:-1],
        b"[1, 2]",
        b'{"' + cols.USER_ID.encode() + b'": "\xff"}',
        json.dumps({cols.USER_ID: "u3", cols.COUNTRY: 7}).encode(),
    ]
    batch = parse_jsonl(lines, [1, 2, 4, 5, 6], schemas.USERS)
    assert whole(batch).column(cols.USER_ID).to_pylist() == ["u1", "u3"]
    assert batch.rows.tolist() == [1, 6]
    assert [m.row for m in batch.malformed] == [2, 4, 5]
    assert batch.malformed[1].detail == "not a JSON object: list"
    assert batch.malformed[2].detail.startswith("invalid UTF-8")
    assert batch.read == 5


def test_jsonl_fast_path_keeps_lines_as_raw_rows() -> None:
    lines = [json.dumps({cols.USER_ID: f"u{i}"}).encode() + b"\n" for i in range(3)]
    batch = parse_jsonl(lines, [1, 2, 3], schemas.USERS)
    assert not batch.malformed
    assert batch.raw_rows(batch.rows[[2]] - 1) == [json.dumps({cols.USER_ID: "u2"})]


def test_csv_wrong_field_count_and_quoted_newline() -> None:
    header = csv_header(f"{cols.USER_ID},{cols.COUNTRY}\n".encode(), source="x.csv")
    records = [b"u1,DE\n", b"u2\n", b'"u3","multi\nline"\n', b"u4,IT,extra\n"]
    batch = parse_csv(header, records, [2, 3, 4, 6])
    assert whole(batch).column(cols.USER_ID).to_pylist() == ["u1", "u3"]
    assert whole(batch).column(cols.COUNTRY).to_pylist() == ["DE", "multi\nline"]
    assert batch.rows.tolist() == [2, 4]
    assert [(m.row, m.detail) for m in batch.malformed] == [
        (3, "expected 2 fields, got 1"),
        (6, "expected 2 fields, got 3"),
    ]


def test_csv_empty_field_is_null() -> None:
    batch = parse_csv([cols.USER_ID, cols.COUNTRY], [b"u1,\n"], [2])
    assert whole(batch).column(cols.COUNTRY).to_pylist() == [None]


def test_jsonl_type_conflict_costs_only_its_sub_block() -> None:
    n = 3 * SUB_BLOCK_LINES
    rows = [{cols.USER_ID: f"u{i}", cols.DWELL_S: float(i)} for i in range(n)]
    rows[SUB_BLOCK_LINES + 5][cols.DWELL_S] = "long"
    lines = [json.dumps(r).encode() for r in rows]
    batch = parse_jsonl(lines, list(range(1, n + 1)), schemas.EVENTS)
    assert not batch.malformed
    assert batch.rows.tolist() == list(range(1, n + 1))
    # The slow sub-block reads the column as text, so the merged batch holds it as text.
    assert len(batch.parts) == 1
    assert batch.parts[0].column(cols.DWELL_S).type == pa.string()
    assert batch.parts[0].column(cols.DWELL_S).to_pylist()[:2] == ["0", "1"]
