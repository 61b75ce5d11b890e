"""job.run end to end on small raw directories, and the CLI's errors."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import schemas
from components.ingest import job, layout
from components.ingest.errors import IngestConfigError, InputFormatError, InputNotFoundError
from schemas import tables as cols
from tests.tiny_shop import REPO

from .ingest_rows import EXT, FORMATS, config, ts, write_shop


@pytest.mark.parametrize("fmt", FORMATS)
def test_run_writes_layout_manifest_and_accounts_for_every_row(
    tmp_path, write_raw, users, items, events, fmt
) -> None:
    bad_event = {**events[0], cols.USER_ID: "ghost"}
    raw = write_shop(write_raw, tmp_path / "raw", fmt, users, items, [*events, bad_event])
    out = tmp_path / "out"
    manifest = job.run(str(raw), str(out), config(train_end=ts(6), eval_end=ts(9)))
    assert manifest["schema_version"] == schemas.SCHEMA_VERSION
    ev = manifest["tables"][cols.EVENTS.name]
    assert (ev["read"], ev["valid"], ev["quarantined"]) == (12, 10, 2)
    assert ev["by_reason"] == {"unknown_user": 1, "duplicate": 1}
    assert ev["splits"] == {"train": 5, "eval": 3, "test": 2}
    for name, t in manifest["tables"].items():
        assert t["valid"] + t["quarantined"] == t["read"], name
    assert not manifest["tables"][cols.REVIEWS.name]["present"]
    assert json.loads((out / layout.MANIFEST).read_text()) == manifest
    for table in schemas.TABLES:
        for split in layout.splits_of(table.name):
            got = layout.read_table(out, table.name, split)
            assert got.schema.equals(table.arrow_schema(), check_metadata=True)
    train = layout.read_table(out, cols.EVENTS.name, layout.TRAIN)
    assert max(train.column(cols.TS).to_pylist()) < ts(6)
    q = pq.read_table(layout.quarantine_path(out, cols.EVENTS.name)).to_pylist()
    assert sorted(r["reason"] for r in q) == ["duplicate", "unknown_user"]
    dup = next(r for r in q if r["reason"] == "duplicate")
    assert dup["source"].endswith(f"part-00001.{EXT[fmt]}")
    # Part 2 holds events 6..10, then the duplicate: parquet row index 5, jsonl line 6, csv line 7.
    assert dup["row"] == {"parquet": 5, "jsonl": 6, "csv": 7}[fmt]
    assert (out / layout.QUALITY_MD).read_text().startswith("# Data quality")


def test_formats_give_identical_canonical_tables(tmp_path, write_raw, users, items, events) -> None:
    results = {}
    for fmt in FORMATS:
        raw = write_shop(write_raw, tmp_path / fmt, fmt, users, items, events)
        out = tmp_path / f"out-{fmt}"
        job.run(str(raw), str(out), config())
        results[fmt] = {
            (t.name, s): layout.read_table(out, t.name, s)
            for t in schemas.TABLES
            for s in layout.splits_of(t.name)
        }
    assert results["jsonl"] == results["parquet"]
    assert results["csv"] == results["parquet"]


def test_default_cutoffs_are_event_quantiles(tmp_path, write_raw, users, items, events) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "jsonl", users, items, events)
    manifest = job.run(str(raw), str(tmp_path / "out"), config())
    # Event days 1..10 at noon; lower 0.8 / 0.9 quantiles are day 8 and day 9.
    assert manifest["train_end"] == ts(8, 12).isoformat()
    assert manifest["eval_end"] == ts(9, 12).isoformat()
    assert manifest["cutoffs_source"] == "quantiles"
    assert manifest["tables"][cols.EVENTS.name]["splits"] == {"train": 7, "eval": 1, "test": 2}
    # Train events on days 1..7: the lower 0.875 quantile is day 6 (validation: days 6, 7).
    assert manifest["validation_start"] == ts(6, 12).isoformat()


def test_validation_start_after_train_end_is_refused(tmp_path) -> None:
    with pytest.raises(IngestConfigError, match=r"validation_start .* is after train_end"):
        config(train_end=ts(6), validation_start=ts(7))


def test_missing_required_table_names_the_path(tmp_path, write_raw, users) -> None:
    write_raw(tmp_path / f"{cols.USERS.name}.jsonl", users, "jsonl")
    with pytest.raises(InputNotFoundError, match=r"\['items', 'events'\]"):
        job.run(str(tmp_path), str(tmp_path / "out"), config())


def test_file_not_what_it_claims(tmp_path, write_raw, users, items, events) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "csv", users, items, events)
    (raw / f"{cols.ITEMS.name}.csv").rename(raw / f"{cols.ITEMS.name}.parquet")
    with pytest.raises(InputFormatError, match=r"items\.parquet: not a readable Parquet"):
        job.run(str(raw), str(tmp_path / "out"), config())


def test_parquet_named_jsonl_is_refused(tmp_path, write_raw, users, items, events) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "jsonl", users, items, events)
    (raw / f"{cols.USERS.name}.jsonl.gz").unlink()
    write_raw(raw / f"{cols.USERS.name}.jsonl", users, "parquet")
    with pytest.raises(InputFormatError, match=r"users\.jsonl: claims JSONL but is a Parquet file"):
        job.run(str(raw), str(tmp_path / "out"), config())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "components.ingest", "--quiet", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_missing_path_is_one_line_and_exit_2(tmp_path) -> None:
    done = run_cli("--input", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"ingest failed: {tmp_path / 'nope'}: input directory does not exist"
    ]


def test_cli_bad_file_is_one_line_and_exit_2(tmp_path, write_raw, users, items, events) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "csv", users, items, events)
    (raw / f"{cols.USERS.name}.csv").write_bytes(b"PAR1\x00\x00garbage")
    done = run_cli("--input", str(raw), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "users.csv: claims CSV but is a Parquet file" in lines[0]


def test_cli_runs_and_prints_summary(tmp_path, write_raw, users, items, events) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "parquet", users, items, events)
    done = run_cli(
        "--input",
        str(raw),
        "--out",
        str(tmp_path / "out"),
        "--now",
        "2025-01-01T00:00:00Z",
        "--train-end",
        "2024-01-06",
        "--eval-end",
        "2024-01-09T00:00:00+00:00",
    )
    assert done.returncode == 0, done.stderr
    assert "events" in done.stdout
    manifest = json.loads((tmp_path / "out" / layout.MANIFEST).read_text())
    assert manifest["train_end"] == dt.datetime(2024, 1, 6, tzinfo=dt.UTC).isoformat()


def test_forced_format_reads_any_extension(tmp_path, write_raw, users, items, events) -> None:
    raw = tmp_path / "raw"
    for name, rows in (
        (cols.USERS.name, users),
        (cols.ITEMS.name, items),
        (cols.EVENTS.name, events),
    ):
        write_raw(raw / f"{name}.txt", rows, "jsonl")
    manifest = job.run(str(raw), str(tmp_path / "out"), config(format="jsonl"))
    assert manifest["tables"][cols.EVENTS.name]["valid"] == len(events)


def test_gz_name_without_gzip_bytes_is_refused(tmp_path, write_raw, users, items, events) -> None:
    raw = write_shop(write_raw, tmp_path / "raw", "csv", users, items, events)
    (raw / f"{cols.USERS.name}.csv").rename(raw / f"{cols.USERS.name}.csv.gz")
    with pytest.raises(InputFormatError, match=r"users\.csv\.gz: named \.gz but is not gzip"):
        job.run(str(raw), str(tmp_path / "out"), config())
