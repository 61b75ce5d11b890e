"""Property tests of the shop generator (strategies kept here: sources owns only this file)."""

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.sources import generate
from schemas import tables

shops = st.fixed_dictionaries(
    {
        "users": st.integers(1, 60),
        "items": st.integers(1, 40),
        "events": st.integers(0, 3_000),
        "seed": st.integers(0, 2**31 - 1),
        "fmt": st.sampled_from(["parquet", "jsonl", "csv"]),
        "bad_fraction": st.sampled_from([0.0, 0.02, 0.2]),
        "chunk_rows": st.integers(500, 5_000),
    }
)
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _event_rows(root: Path, fmt: str) -> int:
    parts = sorted((root / tables.EVENTS.name).glob(f"part-*.{fmt}"))
    if fmt == "parquet":
        return sum(pq.read_metadata(p).num_rows for p in parts)
    header = fmt == "csv"
    # CSV text cells never contain a newline here (generated text is single-line words)
    return sum(len(p.read_text().splitlines()) - header for p in parts)


@SETTINGS
@given(shops)
def test_exact_event_count_including_bad_rows(args):
    with tempfile.TemporaryDirectory() as tmp:
        summary = generate.generate_shop(tmp, **args)
        assert summary["rows"][tables.EVENTS.name] == args["events"]
        assert _event_rows(Path(tmp), args["fmt"]) == args["events"]
        planted = sum(summary["bad_rows"][tables.EVENTS.name].values())
        assert planted <= args["events"]
        if args["bad_fraction"] == 0.0:
            assert all(not kinds for kinds in summary["bad_rows"].values())


@SETTINGS
@given(shops)
def test_same_arguments_same_bytes(args):
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        generate.generate_shop(a, **args)
        generate.generate_shop(b, **args)
        files_a = {p.relative_to(a): p.read_bytes() for p in Path(a).rglob("*") if p.is_file()}
        files_b = {p.relative_to(b): p.read_bytes() for p in Path(b).rglob("*") if p.is_file()}
        assert files_a == files_b
