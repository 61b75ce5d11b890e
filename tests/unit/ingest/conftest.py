"""Fixtures: small hand-made raw tables (column names from schemas.tables)."""

from __future__ import annotations

import pytest

from schemas import tables as cols

from .ingest_rows import ts


@pytest.fixture
def users() -> list[dict]:
    return [
        {cols.USER_ID: "u1", cols.SIGNUP_TS: ts(1), cols.COUNTRY: "DE", cols.AGE_BUCKET: "25-34"},
        {cols.USER_ID: "u2", cols.SIGNUP_TS: ts(1), cols.COUNTRY: "FR", cols.AGE_BUCKET: "18-24"},
        {cols.USER_ID: "u3", cols.SIGNUP_TS: None, cols.COUNTRY: None, cols.AGE_BUCKET: None},
    ]


@pytest.fixture
def items() -> list[dict]:
    return [
        {cols.ITEM_ID: "i1", cols.TITLE: "Red shoe", cols.CATEGORY: "shoes", cols.PRICE: 10.5},
        {cols.ITEM_ID: "i2", cols.TITLE: "Blue hat", cols.CATEGORY: "hats", cols.PRICE: 3.0},
    ]


@pytest.fixture
def events() -> list[dict]:
    """Ten valid events, one per day from Jan 1 to Jan 10."""
    return [
        {
            cols.USER_ID: f"u{1 + d % 3}",
            cols.ITEM_ID: f"i{1 + d % 2}",
            cols.EVENT_TYPE: "view",
            cols.TS: ts(1 + d, 12),
            cols.DWELL_S: float(d),
        }
        for d in range(10)
    ]
