import numpy as np
import pyarrow as pa
import pytest

from components.sources import bad_rows
from components.sources.bad_rows import BadKind
from schemas import tables

TS = tables.EVENTS.column(tables.TS).type


def _events(n: int = 3) -> pa.Table:
    return pa.Table.from_pydict(
        {
            tables.USER_ID: [f"u{i}" for i in range(n)],
            tables.ITEM_ID: [f"i{i}" for i in range(n)],
            tables.EVENT_TYPE: ["view"] * n,
            tables.TS: pa.array([1_704_067_200_000_000 + i for i in range(n)]).cast(TS),
            tables.VALUE: [None] * n,
            tables.DWELL_S: [10.0] * n,
            tables.SESSION_ID: ["s"] * n,
            tables.QUERY: [None] * n,
        },
        schema=tables.EVENTS.arrow_schema(),
    )


def _spoil(kind: BadKind, fmt: str = "jsonl") -> bad_rows.Planted:
    rng = np.random.default_rng(0)
    return bad_rows.spoil(_events(), tables.EVENTS, [1], [kind], rng, fmt=fmt)


def test_duplicate_copies_the_row_above():
    out = _spoil(BadKind.DUPLICATE).table.to_pylist()
    assert out[1] == out[0]
    assert out[2][tables.USER_ID] == "u2"


def test_unknown_ids_name_nobody():
    user = _spoil(BadKind.UNKNOWN_USER).table.column(tables.USER_ID).to_pylist()
    item = _spoil(BadKind.UNKNOWN_ITEM).table.column(tables.ITEM_ID).to_pylist()
    assert user[0] == "u0" and user[1].startswith("ux") and user[2] == "u2"
    assert item[1].startswith("ix")


def test_missing_required_is_null_in_text_and_empty_in_parquet():
    assert _spoil(BadKind.MISSING_REQUIRED).table.column(tables.USER_ID)[1].as_py() is None
    assert _spoil(BadKind.MISSING_REQUIRED, "parquet").table.column(tables.USER_ID)[1].as_py() == ""


def test_wrong_type_is_an_override_not_a_value():
    planted = _spoil(BadKind.WRONG_TYPE)
    assert planted.overrides == [(1, tables.DWELL_S, "abc")]
    assert planted.table.equals(_events())


def test_future_ts_is_after_2030():
    ts = _spoil(BadKind.FUTURE_TS).table.column(tables.TS).to_pylist()
    assert ts[1].year >= 2031 and ts[0].year == 2024


def test_out_of_range_breaks_rating_or_dwell():
    row = _spoil(BadKind.OUT_OF_RANGE).table.to_pylist()[1]
    rating_off_scale = row[tables.EVENT_TYPE] == "rating" and row[tables.VALUE] in (0.0, 7.0)
    negative_dwell = row[tables.DWELL_S] < 0
    assert rating_off_scale != negative_dwell


def test_not_allowed_event_type():
    row = _spoil(BadKind.NOT_ALLOWED).table.to_pylist()[1]
    assert row[tables.EVENT_TYPE] not in tables.EVENT_TYPES


def test_counts_are_per_kind():
    rng = np.random.default_rng(0)
    kinds = [BadKind.FUTURE_TS, BadKind.FUTURE_TS]
    planted = bad_rows.spoil(_events(), tables.EVENTS, [0, 2], kinds, rng, fmt="csv")
    assert planted.counts == {"future_ts": 2}


def test_parquet_never_gets_wrong_type_and_duplicates_need_a_good_row_above():
    rng = np.random.default_rng(3)
    rows = np.arange(200)
    kinds = bad_rows.assign_kinds(
        tables.EVENTS.name, "parquet", rng, rows, bad_before=np.ones(200, dtype=bool)
    )
    assert BadKind.WRONG_TYPE not in kinds
    assert BadKind.DUPLICATE not in kinds
    assert BadKind.OUT_OF_RANGE in kinds


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_plant_in_place_keeps_row_count(fmt):
    planted = bad_rows.plant_in_place(
        _events(500), tables.EVENTS, np.random.default_rng(1), fraction=0.1, fmt=fmt
    )
    assert planted.table.num_rows == 500
    assert 25 <= sum(planted.counts.values()) <= 80


def test_plant_extra_keeps_every_good_row_first():
    users = pa.Table.from_pydict({tables.USER_ID: [f"u{i}" for i in range(100)]}, schema=None)
    users = pa.Table.from_pydict(
        {
            tables.USER_ID: users.column(0),
            tables.SIGNUP_TS: pa.nulls(100, TS),
            tables.COUNTRY: pa.nulls(100, pa.string()),
            tables.AGE_BUCKET: pa.array(["18-24"] * 100),
        },
        schema=tables.USERS.arrow_schema(),
    )
    planted = bad_rows.plant_extra(
        users, tables.USERS, np.random.default_rng(2), fraction=0.1, fmt="jsonl", id_prefix="u"
    )
    assert planted.table.num_rows == 110
    assert planted.table.slice(0, 100).equals(users)
    assert sum(planted.counts.values()) == 10
    extra_ids = planted.table.column(tables.USER_ID).to_pylist()[100:]
    fresh = [i for i in extra_ids if i is not None and i.startswith("ub")]
    copies = [i for i in extra_ids if i is not None and not i.startswith("ub")]
    assert len(copies) == planted.counts.get("duplicate", 0)
    assert len(fresh) + len(copies) + planted.counts.get("missing_required", 0) == 10
