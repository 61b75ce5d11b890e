"""Properties of ingest on arbitrary raw rows (good, bad and malformed) in each format."""

from __future__ import annotations

import datetime as dt
import pathlib
import tempfile

import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st
from strategies import INGEST_SETTINGS, NOW, raw_files, split_times

import schemas
from components.ingest import job, layout
from components.ingest.config import IngestConfig
from components.ingest.reasons import Reason
from components.ingest.split import split_by_time
from schemas import tables as cols

REASONS = {r.value for r in Reason}
TRAIN_END = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
EVAL_END = dt.datetime(2024, 7, 1, tzinfo=dt.UTC)


def shops(fmt: str) -> st.SearchStrategy:
    return st.fixed_dictionaries({t.name: raw_files(t, fmt) for t in schemas.TABLES})


def check_run(shop: dict, fmt: str, write_raw) -> None:
    ext = "jsonl.gz" if fmt == "jsonl" else fmt
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "raw"
        for table in schemas.TABLES:
            header = table.names if fmt == "csv" else None
            write_raw(root / f"{table.name}.{ext}", shop[table.name], fmt, header=header)
        out = pathlib.Path(tmp) / "out"
        config = IngestConfig(
            now=NOW, train_end=TRAIN_END, eval_end=EVAL_END, progress=False, batch_rows=4
        )
        manifest = job.run(str(root), str(out), config)
        for table in schemas.TABLES:
            counts = manifest["tables"][table.name]
            assert counts["read"] == len(shop[table.name])
            assert counts["valid"] + counts["quarantined"] == counts["read"]
            assert sum(counts["by_reason"].values()) == counts["quarantined"]
            assert sum(counts["splits"].values()) == counts["valid"]
            quarantine = pq.read_table(layout.quarantine_path(out, table.name)).to_pylist()
            assert len(quarantine) == counts["quarantined"]
            for record in quarantine:
                assert record["reason"] in REASONS
                assert record["reasons"][0] == record["reason"]
                assert set(record["reasons"]) <= REASONS
            for split in layout.splits_of(table.name):
                rows = layout.read_table(out, table.name, split)
                assert rows.schema.equals(table.arrow_schema(), check_metadata=True)
                if split == layout.TRAIN:
                    assert all(t < TRAIN_END for t in rows.column(cols.TS).to_pylist())
                elif split == layout.EVAL:
                    assert all(TRAIN_END <= t < EVAL_END for t in rows.column(cols.TS).to_pylist())
                elif split == layout.TEST:
                    assert all(t >= EVAL_END for t in rows.column(cols.TS).to_pylist())


@INGEST_SETTINGS
@given(shop=shops("jsonl"))
def test_jsonl_any_rows_no_crash_exact_accounting(shop: dict, write_raw) -> None:
    check_run(shop, "jsonl", write_raw)


@INGEST_SETTINGS
@given(shop=shops("csv"))
def test_csv_any_rows_no_crash_exact_accounting(shop: dict, write_raw) -> None:
    check_run(shop, "csv", write_raw)


@INGEST_SETTINGS
@given(shop=shops("parquet"))
def test_parquet_any_rows_no_crash_exact_accounting(shop: dict, write_raw) -> None:
    check_run(shop, "parquet", write_raw)


@INGEST_SETTINGS
@given(times=split_times(), cut=st.tuples(split_times(), split_times()))
def test_split_conserves_rows_and_never_leaks(times: list, cut: tuple) -> None:
    import pyarrow as pa

    candidates = sorted([*cut[0][:1], *cut[1][:1]]) or [TRAIN_END, EVAL_END]
    train_end, eval_end = candidates[0], candidates[-1]
    batch = pa.table({cols.TS: pa.array(times, schemas.TIMESTAMP)})
    parts = split_by_time(batch, time_column=cols.TS, train_end=train_end, eval_end=eval_end)
    assert sum(p.num_rows for p in parts.values()) == len(times)
    assert sorted(t for p in parts.values() for t in p.column(cols.TS).to_pylist()) == sorted(times)
    assert all(t < train_end for t in parts[layout.TRAIN].column(cols.TS).to_pylist())
    assert all(train_end <= t < eval_end for t in parts[layout.EVAL].column(cols.TS).to_pylist())
    assert all(t >= eval_end for t in parts[layout.TEST].column(cols.TS).to_pylist())
