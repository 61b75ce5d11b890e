"""The building blocks of the data contract: columns, tables and the roles they play.

Every raw table is declared once (see ``schemas/tables.py``); the Arrow schema, the validation
rules, the TFT feature spec and the tower inputs are derived from that declaration.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Sequence

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")


class Role(enum.Enum):
    """What a column means to the pipeline (picks tower inputs and validation rules)."""

    USER_ID = "user_id"
    ITEM_ID = "item_id"
    TIMESTAMP = "timestamp"
    CATEGORICAL = "categorical"
    NUMERIC = "numeric"
    TEXT = "text"
    IMAGE_BYTES = "image_bytes"
    IMAGE_URI = "image_uri"
    IMAGE_EMBEDDING = "image_embedding"
    SESSION = "session"
    LABEL = "label"


class Modality(enum.Enum):
    """Which of the four modalities (or ids/profile) a column feeds."""

    ID = "id"
    PROFILE = "profile"
    TEXT = "text"
    IMAGE = "image"
    BEHAVIOR = "behavior"
    RELATION = "relation"


# Content modalities a model can be trained without; ids are always on (the ID-only model is
# the same code with every one of these off).
SWITCHABLE = (Modality.PROFILE, Modality.TEXT, Modality.IMAGE, Modality.BEHAVIOR, Modality.RELATION)


class Side(enum.Enum):
    """Which tower (or head) a raw feature feeds (``schemas.features``)."""

    QUERY = "query"
    CANDIDATE = "candidate"
    LABEL = "label"


@dataclasses.dataclass(frozen=True)
class Column:
    """One declared column of a raw table.

    Attributes:
        name: Column name as it appears in raw files and canonical Parquet.
        type: Arrow type of the canonical column.
        required: A null or empty value makes the row invalid (``missing_required``).
        allowed: Closed set of allowed values (strings), or None.
        bounds: Inclusive ``(low, high)`` for numbers, or None.
        max_len: Longest allowed string (characters) or binary (bytes), or None.
        references: ``"table.column"`` this column must exist in (a foreign key), or None.
        role: What the column means to the pipeline.
        modality: Which modality the column feeds.
        doc: One line for people.
    """

    name: str
    type: pa.DataType
    required: bool = False
    allowed: tuple[str, ...] | None = None
    bounds: tuple[float, float] | None = None
    max_len: int | None = None
    references: str | None = None
    role: Role | None = None
    modality: Modality | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.bounds is not None and self.bounds[0] > self.bounds[1]:
            raise ValueError(f"column {self.name!r}: bounds {self.bounds} are reversed")
        if self.references is not None and "." not in self.references:
            raise ValueError(
                f"column {self.name!r}: references {self.references!r} is not 'table.column'"
            )

    @property
    def is_list(self) -> bool:
        """True for list-typed columns (e.g. a precomputed image embedding)."""
        return pa.types.is_list(self.type) or pa.types.is_large_list(self.type)

    def field(self) -> pa.Field:
        """The Arrow field of this column (nullable unless required)."""
        return pa.field(self.name, self.type, nullable=not self.required)


@dataclasses.dataclass(frozen=True)
class Table:
    """A declared raw table.

    Attributes:
        name: Table name; also the raw file / folder name (``events.parquet``, ``events/``).
        version: Bumped on any change to this table's columns or rules.
        columns: The declared columns, in canonical order.
        key: Columns that identify a row; a second row with the same key is a ``duplicate``.
            None means the whole row is the key (exact duplicates only).
        time_column: The column that places a row in time (the split uses it), or None.
    """

    name: str
    version: int
    columns: Sequence[Column]
    key: tuple[str, ...] | None = None
    time_column: str | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name!r}: duplicate column names in {names}")
        for wanted in (*(self.key or ()), *([self.time_column] if self.time_column else [])):
            if wanted not in names:
                raise ValueError(f"table {self.name!r}: {wanted!r} is not one of its columns")

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    @property
    def names(self) -> list[str]:
        """Column names in canonical order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``.

        Raises:
            KeyError: naming the table and the columns it has.
        """
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name!r} has no column {name!r}; it has {self.names}")

    def by_role(self, role: Role) -> list[Column]:
        """Columns playing ``role``, in canonical order."""
        return [c for c in self.columns if c.role is role]

    def arrow_schema(self) -> pa.Schema:
        """The canonical Arrow schema, with the contract version in its metadata."""
        from schemas.tables import SCHEMA_VERSION

        return pa.schema(
            [c.field() for c in self.columns],
            metadata={
                b"schema_version": SCHEMA_VERSION.encode(),
                b"table": self.name.encode(),
                b"table_version": str(self.version).encode(),
            },
        )

    def foreign_keys(self) -> list[tuple[str, str, str]]:
        """``(column, referenced_table, referenced_column)`` for each foreign key."""
        out = []
        for c in self.columns:
            if c.references:
                table, column = c.references.split(".", 1)
                out.append((c.name, table, column))
        return out
