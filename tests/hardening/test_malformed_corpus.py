"""Ingest on a generated corpus of >= 10,000 malformed rows: six tables, three formats.

Zero crashes; every row accounted for (``valid + quarantined == read`` per table and format, and
``read`` is the number of rows written); every quarantined row carries a reason, and that reason
is the one the planted defect calls for (see ``corpus.py``); every good row comes out valid; a
row whose one defect is an optional value comes out valid with exactly that value dropped.
"""

from __future__ import annotations

import collections
import gzip
import json
import pathlib
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import schemas
from components.ingest import job, layout, listing
from components.ingest.config import IngestConfig
from components.ingest.errors import InputFormatError
from tests.tiny_shop import REPO

from . import corpus

pytestmark = pytest.mark.slow

REQUIRED_CLASSES = {
    "wrong_type", "truncated_line", "invalid_utf8", "huge_string", "nan_inf", "negative_ts",
    "future_ts", "unknown_id", "corrupt_image", "oversized_image", "duplicate_key",
    "overflow_ts",
}  # fmt: skip
TRAIN_END = corpus.NOW.replace(year=2024, month=3)
EVAL_END = corpus.NOW.replace(year=2024, month=4)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, dict]:
    tmp = tmp_path_factory.mktemp("corpus")
    return tmp, corpus.build(tmp)


@pytest.fixture(scope="module")
def ingested(built) -> dict[str, pathlib.Path]:
    """Each format's corpus through ingest; the CSV one through the CLI (exit code 0)."""
    tmp, _ = built
    outs = {}
    for fmt in corpus.FORMATS:
        out = tmp / f"out-{fmt}"
        if fmt == "csv":
            result = subprocess.run(
                [sys.executable, "-m", "components.ingest", "--input", str(tmp / fmt),
                 "--out", str(out), "--now", corpus.NOW.isoformat(), "--train-end",
                 TRAIN_END.isoformat(), "--eval-end", EVAL_END.isoformat(), "--batch-rows",
                 "500", "--quiet"],
                cwd=REPO, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
        else:
            config = IngestConfig(
                now=corpus.NOW, train_end=TRAIN_END, eval_end=EVAL_END, batch_rows=500,
                progress=False,
            )  # fmt: skip
            job.run(str(tmp / fmt), str(out), config)
        outs[fmt] = out
    return outs


def test_corpus_is_big_and_covers_every_defect_class(built) -> None:
    _, written = built
    bad = collections.Counter()
    classes = set()
    for fmt, tables in written.items():
        assert set(tables) == {t.name for t in schemas.TABLES}
        for name, w in tables.items():
            planted = [c for c in w.cases if c.defect is not None]
            bad[(fmt, name)] = len(planted)
            classes |= {c.defect for c in planted}
            assert planted, (fmt, name)
    assert sum(bad.values()) >= 10_000, bad
    assert classes >= REQUIRED_CLASSES, REQUIRED_CLASSES - classes


@pytest.mark.parametrize("fmt", corpus.FORMATS)
def test_every_row_accounted_for_with_the_planted_reason(built, ingested, fmt) -> None:
    tmp, written = built
    out = ingested[fmt]
    manifest = json.loads((out / layout.MANIFEST).read_text())
    wrong: collections.Counter = collections.Counter()
    example: dict = {}
    for table in schemas.TABLES:
        w = written[fmt][table.name]
        counts = manifest["tables"][table.name]
        if counts["read"] != len(w.cases):
            wrong[(table.name, "rows read", str(len(w.cases)), str(counts["read"]))] += 1
        assert counts["valid"] + counts["quarantined"] == counts["read"], (table.name, counts)
        assert sum(counts["splits"].values()) == counts["valid"], (table.name, counts)
        records = pq.read_table(layout.quarantine_path(out, table.name)).to_pylist()
        assert len(records) == counts["quarantined"], table.name
        seen = set()
        for record in records:
            where = (listing.relative(record["source"], str(tmp / fmt)), record["row"])
            assert where not in seen, where
            seen.add(where)
            case = w.at.get(where)
            assert record["reason"] and record["reasons"][0] == record["reason"], record
            assert record["detail"] and record["raw"], record
            expected = None if case is None else case.expected
            if expected is None or record["reason"] != expected.value:
                defect = "good row" if case is None else case.defect
                key = (table.name, defect, str(expected), record["reason"])
                wrong[key] += 1
                example.setdefault(key, (where, record["detail"]))
        missed = [c for k, c in w.at.items() if c.expected is not None and k not in seen]
        for case in missed:
            key = (table.name, case.defect, case.expected.value, "valid")
            wrong[key] += 1
            example.setdefault(key, {c: str(v)[:80] for c, v in case.row.items()})
        dropped = pq.read_table(layout.dropped_values_path(out, table.name)).to_pylist()
        assert counts["dropped_values"] == _counted(dropped), table.name
        found = set()
        for record in dropped:
            where = (listing.relative(record["source"], str(tmp / fmt)), record["row"])
            case = w.at.get(where)
            got = (record["column"], record["reason"])
            want = None if case is None or case.dropped is None else case.dropped
            if want is None or got != (want[0], want[1].value):
                key = (table.name, "dropped", str(want), str(got))
                wrong[key] += 1
                example.setdefault(key, where)
            found.add(where)
        for where, case in w.at.items():
            if case.dropped is not None and (where not in found or where in seen):
                key = (table.name, case.defect, f"dropped {case.dropped}", "not dropped")
                wrong[key] += 1
                example.setdefault(key, where)
    assert not wrong, "\n".join(
        f"{k}: {n}, e.g. {example.get(k)}" for k, n in sorted(wrong.items(), key=str)
    )


@pytest.mark.parametrize("fmt", corpus.FORMATS)
def test_good_rows_come_out_valid_and_whole(built, ingested, fmt) -> None:
    """Not only counted: the valid rows are exactly the good rows (by key), none lost."""
    _, written = built
    for table in (schemas.USERS, schemas.ITEMS, schemas.USER_RELATIONS):
        good = [c.row for c in written[fmt][table.name].cases if c.expected is None]
        key = list(table.key)
        rows = layout.read_table(ingested[fmt], table.name).select(key).to_pylist()
        assert sorted(map(str, rows)) == sorted(str({k: r[k] for k in key}) for r in good)


def _counted(records: list[dict]) -> dict:
    out: dict = {}
    for r in records:
        out.setdefault(r["column"], collections.Counter())[r["reason"]] += 1
    return {c: dict(sorted(n.items())) for c, n in sorted(out.items())}


def test_optional_defects_are_many_and_cost_only_their_value(built) -> None:
    _, written = built
    dropped = collections.Counter(
        (fmt, c.dropped[1].value)
        for fmt, tables in written.items()
        for w in tables.values()
        for c in w.cases
        if c.dropped is not None
    )
    assert sum(dropped.values()) >= 1_000, dropped
    for fmt in corpus.FORMATS:
        kinds = {reason for f, reason in dropped if f == fmt}
        assert {"bad_type", "out_of_range", "too_long", "bad_value"} <= kinds, (fmt, kinds)
        assert "corrupt_image" in kinds or fmt != "parquet", (fmt, kinds)


def _tiny_shop(root: pathlib.Path, write_raw) -> None:
    write_raw(root / "users.jsonl", [{"user_id": "u1"}], "jsonl")
    write_raw(root / "items.jsonl", [{"item_id": "i1"}], "jsonl")


def test_truncated_parquet_file_is_a_clear_error(tmp_path, write_raw) -> None:
    """A file cut short is a file fault: InputFormatError naming the file, not a traceback."""
    _tiny_shop(tmp_path, write_raw)
    full = write_raw(tmp_path / "x.parquet", [{"user_id": "u1", "item_id": "i1"}] * 50, "parquet")
    (tmp_path / "events.parquet").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    with pytest.raises(InputFormatError, match=r"events\.parquet"):
        job.run(str(tmp_path), str(tmp_path / "out"), IngestConfig(now=corpus.NOW, progress=False))


def test_truncated_gzip_stream_is_a_clear_error(tmp_path, write_raw) -> None:
    _tiny_shop(tmp_path, write_raw)
    lines = b"".join(
        b'{"user_id":"u1","item_id":"i1","event_type":"view","ts":1}\n' for _ in range(5000)
    )
    blob = gzip.compress(lines)
    (tmp_path / "events.jsonl.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(InputFormatError, match=r"events\.jsonl\.gz"):
        job.run(str(tmp_path), str(tmp_path / "out"), IngestConfig(now=corpus.NOW, progress=False))
