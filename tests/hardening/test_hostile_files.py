"""Ingest on hostile files and values: one bad value never costs a night or a table.

The bundled tiny shop (3,000 events) is the base of every case: one file or value is spoiled
and ingest must read it as the same data, name the fault in one line, quarantine just the row,
or drop just the value; never crash with an OverflowError or a UnicodeEncodeError, never lose
thousands of rows as ``missing_required`` without a word. ``CASES`` counts what is tried.
"""

from __future__ import annotations

import io
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

import schemas
from components.ingest import job, layout
from components.ingest.config import IngestConfig
from components.ingest.errors import InputFormatError, MissingColumnError
from schemas import tables as cols
from tests.tiny_shop import NOW, REPO, TINY

pytestmark = pytest.mark.slow

CONFIG = dict(now=NOW, train_end="2026-10-25T00:00:00Z", eval_end="2026-11-09T00:00:00Z")
CORRUPT_SEEDS = 40  # corrupted Parquet files tried, each 2,000 bytes at a random offset
CORRUPT_BYTES = 2_000


def config() -> IngestConfig:
    from components.ingest.config import parse_timestamp

    return IngestConfig(
        now=parse_timestamp(CONFIG["now"]),
        train_end=parse_timestamp(CONFIG["train_end"]),
        eval_end=parse_timestamp(CONFIG["eval_end"]),
        progress=False,
    )


def shop(root: pathlib.Path) -> pathlib.Path:
    """A copy of the tiny shop (Parquet) under ``root``."""
    shutil.copytree(TINY, root, ignore=shutil.ignore_patterns("_*"))
    return root


def part(root: pathlib.Path, table: str) -> pathlib.Path:
    return root / table / "part-00000.parquet"


def to_csv(root: pathlib.Path, table: str, *, split: int = 1) -> list[pathlib.Path]:
    """Rewrite a table of ``root`` as ``split`` CSV parts (lists as JSON, bytes as base64)."""
    data = pq.read_table(part(root, table))
    part(root, table).unlink()
    columns = {}
    for name in data.column_names:
        column = data[name]
        if pa.types.is_list(column.type):
            column = pa.array([None if v is None else json.dumps(v) for v in column.to_pylist()])
        elif pa.types.is_binary(column.type):
            import base64

            column = pa.array(
                [None if v is None else base64.b64encode(v).decode() for v in column.to_pylist()]
            )
        columns[name] = column
    data = pa.table(columns)
    paths = []
    size = math.ceil(data.num_rows / split)
    for i in range(split):
        buf = io.BytesIO()
        pa_csv.write_csv(data.slice(i * size, size), buf)
        path = root / table / f"part-{i:05d}.csv"
        path.write_bytes(buf.getvalue())
        paths.append(path)
    return paths


def tables_of(out: pathlib.Path) -> dict[str, pa.Table]:
    return {
        t.name: pa.concat_tables(
            [layout.read_table(out, t.name, s) for s in layout.splits_of(t.name)]
        )
        for t in schemas.TABLES
    }


def counts(manifest: dict) -> dict:
    return {n: (t["read"], t["valid"], t["quarantined"]) for n, t in manifest["tables"].items()}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The tiny shop as CSV (events in two parts), ingested untouched."""
    root = shop(tmp_path_factory.mktemp("ref") / "raw")
    to_csv(root, cols.EVENTS.name, split=2)
    out = root.parent / "out"
    return {"manifest": job.run(str(root), str(out), config()), "out": out}


def test_a_csv_with_a_utf8_bom_reads_as_the_same_csv(tmp_path, reference) -> None:
    root = shop(tmp_path / "raw")
    _, second = to_csv(root, cols.EVENTS.name, split=2)
    second.write_bytes(b"\xef\xbb\xbf" + second.read_bytes())  # one part from a spreadsheet

    manifest = job.run(str(root), str(tmp_path / "out"), config())

    assert counts(manifest) == counts(reference["manifest"])
    assert (
        manifest["tables"]["events"]["by_reason"]
        == reference["manifest"]["tables"]["events"]["by_reason"]
    )
    assert tables_of(tmp_path / "out")["events"].equals(tables_of(reference["out"])["events"])


def test_a_jsonl_with_a_utf8_bom_loses_no_line(tmp_path) -> None:
    clean = job.run(str(shop(tmp_path / "clean")), str(tmp_path / "clean-out"), config())
    root = shop(tmp_path / "raw")
    users = pq.read_table(part(root, cols.USERS.name)).to_pylist()
    part(root, cols.USERS.name).unlink()
    lines = [json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v)
                         for k, v in u.items()}) for u in users]  # fmt: skip
    (root / "users" / "part-00000.jsonl").write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    manifest = job.run(str(root), str(tmp_path / "out"), config())
    # The tiny shop's users hold 2 empty ids and 2 duplicates on purpose; the BOM costs none.
    assert counts(manifest)["users"] == counts(clean)["users"] == (len(users), len(users) - 4, 4)
    assert manifest["tables"]["users"]["by_reason"] == clean["tables"]["users"]["by_reason"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("how", ["renamed", "dropped"])
def test_a_missing_required_column_is_one_error_naming_it(tmp_path, fmt, how, capsys) -> None:
    root = shop(tmp_path / "raw")
    data = pq.read_table(part(root, cols.EVENTS.name))
    if how == "renamed":
        data = data.rename_columns(
            ["itemid" if n == cols.ITEM_ID else n for n in data.column_names]
        )
    else:
        data = data.drop_columns([cols.ITEM_ID])
    pq.write_table(data, part(root, cols.EVENTS.name))
    if fmt == "csv":
        to_csv(root, cols.EVENTS.name)
    with pytest.raises(MissingColumnError) as info:
        job.run(str(root), str(tmp_path / "out"), config())
    message = str(info.value)
    assert "required column(s) ['item_id'] of table 'events' missing" in message
    assert f"events/part-00000.{fmt}" in message
    assert ("'itemid'" in message) == (how == "renamed")
    assert not (tmp_path / "out" / layout.MANIFEST).exists()
    # The command line: one line, exit 2, no traceback and no 3,000 quarantine records.
    done = subprocess.run(
        [sys.executable, "-m", "components.ingest", "--input", str(root), "--out",
         str(tmp_path / "cli"), "--now", NOW, "--quiet"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"ingest failed: {message}"
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) < 10
    quarantined = layout.quarantine_path(tmp_path / "cli", "events")
    assert not quarantined.exists() or pq.read_metadata(quarantined).num_rows == 0


def test_a_timestamp_no_datetime_holds_is_quarantined_as_out_of_range(tmp_path) -> None:
    root = shop(tmp_path / "raw")
    events = pq.read_table(part(root, cols.EVENTS.name))
    micros = events[cols.TS].cast(pa.int64()).to_pylist()
    micros[7], micros[8] = 2**62, -(2**62)
    i = events.schema.get_field_index(cols.TS)
    events = events.set_column(i, events.schema.field(i), pa.array(micros).cast(schemas.TIMESTAMP))
    pq.write_table(events, part(root, cols.EVENTS.name))

    manifest = job.run(str(root), str(tmp_path / "out"), config())

    bad = pq.read_table(layout.quarantine_path(tmp_path / "out", "events")).to_pylist()
    rows = {r["row"]: r for r in bad}
    assert rows[7]["reason"] == rows[8]["reason"] == "out_of_range"
    assert "year 148,1" in rows[7]["detail"] and str(2**62) in rows[7]["raw"]
    t = manifest["tables"]["events"]
    assert t["valid"] + t["quarantined"] == t["read"] == 3000


def test_corrupted_parquet_bytes_are_a_file_error_or_quarantined_rows(tmp_path) -> None:
    base = shop(tmp_path / "clean")
    clean = part(base, cols.EVENTS.name).read_bytes()
    outcomes: dict[str, int] = {"file error naming the file": 0, "read with quarantine": 0}
    for seed in range(CORRUPT_SEEDS):
        rng = np.random.default_rng(seed)
        data = bytearray(clean)
        at = int(rng.integers(4, len(data) - CORRUPT_BYTES - 8))  # keep the PAR1 magic bytes
        data[at : at + CORRUPT_BYTES] = rng.integers(0, 256, CORRUPT_BYTES, np.uint8).tobytes()
        root = tmp_path / f"s{seed}"
        shutil.copytree(base, root)
        part(root, cols.EVENTS.name).write_bytes(bytes(data))
        try:
            manifest = job.run(str(root), str(tmp_path / f"o{seed}"), config())
        except InputFormatError as e:
            assert str(part(root, cols.EVENTS.name)) in str(e), e
            outcomes["file error naming the file"] += 1
        else:
            for name, t in manifest["tables"].items():
                assert t["valid"] + t["quarantined"] == t["read"], (seed, name)
            outcomes["read with quarantine"] += 1
        shutil.rmtree(root)
        shutil.rmtree(tmp_path / f"o{seed}", ignore_errors=True)
    assert sum(outcomes.values()) == CORRUPT_SEEDS and all(outcomes.values()), outcomes


def test_a_file_name_that_is_not_utf8_is_read_and_named(tmp_path) -> None:
    root = shop(tmp_path / "raw")
    events = pq.read_table(part(root, cols.EVENTS.name))
    part(root, cols.EVENTS.name).unlink()
    name = os.fsdecode(b"part-00000-\xff\xfe.parquet")  # Latin-1 bytes from an old export
    spoiled = events.set_column(0, events.schema.field(0), pa.array(["nobody"] * events.num_rows))
    with open(os.fsencode(root / "events" / name), "wb") as f:  # pyarrow refuses such a str
        pq.write_table(pa.concat_tables([events, spoiled.slice(0, 5)]), f)

    manifest = job.run(str(root), str(tmp_path / "out"), config())

    assert manifest["tables"]["events"]["files"] == ["events/part-00000-\\xff\\xfe.parquet"]
    bad = pq.read_table(layout.quarantine_path(tmp_path / "out", "events")).to_pylist()
    assert {r["source"] for r in bad} == {str(root / "events" / "part-00000-\\xff\\xfe.parquet")}
    assert len(bad) == manifest["tables"]["events"]["quarantined"]
    assert sum('"nobody"' in r["raw"] and r["reason"] == "unknown_user" for r in bad) == 5


def test_a_bad_optional_value_is_dropped_and_what_refers_to_the_row_stays(tmp_path) -> None:
    clean = job.run(str(shop(tmp_path / "clean")), str(tmp_path / "clean-out"), config())
    root = shop(tmp_path / "raw")
    items = pq.read_table(part(root, cols.ITEMS.name)).to_pylist()
    popular = {}
    for e in pq.read_table(part(root, cols.EVENTS.name)).to_pylist():
        popular[e[cols.ITEM_ID]] = popular.get(e[cols.ITEM_ID], 0) + 1
    by_use = sorted((i for i in items if i[cols.IMAGE_BYTES]), key=lambda i: -popular.get(
        i[cols.ITEM_ID], 0))  # fmt: skip
    truncated, nan, priced = by_use[0], by_use[1], by_use[2]
    truncated[cols.IMAGE_BYTES] = truncated[cols.IMAGE_BYTES][:-60]  # a cut-off upload
    nan[cols.IMAGE_EMBEDDING] = [0.25, float("nan")]
    priced[cols.PRICE] = -4.0
    schema = pq.read_schema(part(root, cols.ITEMS.name))
    pq.write_table(pa.Table.from_pylist(items, schema=schema), part(root, cols.ITEMS.name))

    manifest = job.run(str(root), str(tmp_path / "out"), config())

    assert counts(manifest) == counts(clean)  # no item, event, review or relation lost
    # The tiny shop holds 2 negative prices on purpose (dropped on the clean run too).
    assert clean["tables"]["items"]["dropped_values"] == {cols.PRICE: {"out_of_range": 2}}
    assert manifest["tables"]["items"]["dropped_values"] == {
        cols.IMAGE_BYTES: {"corrupt_image": 1},
        cols.IMAGE_EMBEDDING: {"out_of_range": 1},
        cols.PRICE: {"out_of_range": 3},
    }
    kept = {r[cols.ITEM_ID]: r for r in tables_of(tmp_path / "out")["items"].to_pylist()}
    assert kept[truncated[cols.ITEM_ID]][cols.IMAGE_BYTES] is None
    assert kept[nan[cols.ITEM_ID]][cols.IMAGE_EMBEDDING] is None
    assert kept[priced[cols.ITEM_ID]][cols.PRICE] is None
    records = pq.read_table(layout.dropped_values_path(tmp_path / "out", "items")).to_pylist()
    assert {(r["column"], r["reason"]) for r in records} == {
        (cols.IMAGE_BYTES, "corrupt_image"),
        (cols.IMAGE_EMBEDDING, "out_of_range"),
        (cols.PRICE, "out_of_range"),
    }


def test_unmatched_files_and_unknown_columns_are_listed_in_the_manifest(tmp_path) -> None:
    root = shop(tmp_path / "raw")
    events = pq.read_table(part(root, cols.EVENTS.name))
    pq.write_table(events.append_column("campaign", pa.array(["x"] * events.num_rows)),
                   part(root, cols.EVENTS.name))  # fmt: skip
    (root / "events" / "data-0.csv").write_text("user_id\n")
    (root / "events" / "2024").mkdir()
    (root / "events" / "2024" / "part-00001.parquet").write_bytes(b"")
    (root / "clicks.csv").write_text("a\n")
    (root / "events" / "_SUCCESS").write_text("")  # hidden by convention: not listed

    manifest = job.run(str(root), str(tmp_path / "out"), config())

    assert manifest["unmatched_files"] == ["clicks.csv", "events/2024/part-00001.parquet",
                                           "events/data-0.csv"]  # fmt: skip
    assert manifest["unmatched_file_count"] == 3
    assert manifest["tables"]["events"]["extra_columns"] == ["campaign"]
    assert manifest["tables"]["users"]["extra_columns"] == []


# Every case this module tries: 2 BOM files, 4 missing columns, 2 out-of-range timestamps,
# the corrupted Parquet files, 1 non-UTF-8 name, 3 bad optional values, 4 unmatched files and 1
# unknown column.
CASES = 2 + 4 + 2 + CORRUPT_SEEDS + 1 + 3 + 4 + 1
