"""The data contract: six raw tables, each declared once, from which everything else derives."""

from schemas.contract import TIMESTAMP, Column, Modality, Role, Table
from schemas.tables import (
    EVENTS,
    ITEM_RELATIONS,
    ITEMS,
    REVIEWS,
    SCHEMA_VERSION,
    TABLES,
    USER_RELATIONS,
    USERS,
    table,
)

__all__ = [
    "EVENTS",
    "ITEMS",
    "ITEM_RELATIONS",
    "REVIEWS",
    "SCHEMA_VERSION",
    "TABLES",
    "TIMESTAMP",
    "USERS",
    "USER_RELATIONS",
    "Column",
    "Modality",
    "Role",
    "Table",
    "table",
]
