"""Training examples from ingested tables (pure pyarrow).

An example is one interaction of a user with an item in a window: the query side (who), the
candidate side (what, with its text) and a label for the ranking head.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from schemas.features import ITEM_TEXT, LABEL, example_arrow_schema
from schemas.tables import DESCRIPTION, EVENT_TYPE, ITEM_ID, TITLE, USER_ID, VALUE

RATING_EVENT = "rating"
IMPLICIT_LABEL = 1.0


def item_text(items: pa.Table) -> pa.Table:
    """``item_id`` and ``item_text`` (title and description joined by a space; nulls as empty).

    Args:
        items: Needs ``item_id``, ``title``, ``description``.
    """
    title = pc.fill_null(items[TITLE], "")
    description = pc.fill_null(items[DESCRIPTION], "")
    text = pc.utf8_trim_whitespace(pc.binary_join_element_wise(title, description, " "))
    return pa.table({ITEM_ID: items[ITEM_ID], ITEM_TEXT: text})


def build_examples(events: pa.Table, items: pa.Table) -> pa.Table:
    """One example per event, joined with the item's text.

    Args:
        events: Canonical events of one window; needs ``user_id``, ``item_id``, ``event_type``,
            ``value``.
        items: Canonical items; needs ``item_id``, ``title``, ``description``.

    Returns:
        A table with ``schemas.features.example_arrow_schema()`` (one value per list cell), rows
        in the order of ``events``. The label is the rating for rating events, else 1.0.
    """
    texts = item_text(items)
    order = pa.array(np.arange(events.num_rows, dtype=np.int64))
    left = pa.table(
        {
            "_row": order,
            USER_ID: events[USER_ID],
            ITEM_ID: events[ITEM_ID],
            LABEL: pc.if_else(
                pc.equal(events[EVENT_TYPE], RATING_EVENT),
                pc.fill_null(events[VALUE], IMPLICIT_LABEL),
                IMPLICIT_LABEL,
            ),
        }
    )
    joined = left.join(texts, keys=ITEM_ID, join_type="left outer").sort_by("_row")
    columns = {
        USER_ID: joined[USER_ID],
        ITEM_ID: joined[ITEM_ID],
        ITEM_TEXT: pc.fill_null(joined[ITEM_TEXT], ""),
        LABEL: joined[LABEL],
    }
    return as_single_value_lists(columns, example_arrow_schema())


def build_requests(history: pa.Table) -> pa.Table:
    """Serving requests as of a cut-off: one row per user with events before it.

    Args:
        history: Canonical events before the cut-off; needs ``user_id``.

    Returns:
        A table whose columns are ``schemas.features.QUERY_FEATURES`` (the serving signature's
        inputs), one row per user, sorted by user id.
    """
    ids = pc.unique(history[USER_ID].combine_chunks())
    return pa.table({USER_ID: pc.take(ids, pc.array_sort_indices(ids)).cast(pa.string())})


def as_single_value_lists(columns: dict[str, pa.ChunkedArray], schema: pa.Schema) -> pa.Table:
    """Wrap each flat column into one-element lists of the type ``schema`` asks for."""
    arrays = []
    for field in schema:
        flat = columns[field.name].combine_chunks().cast(field.type.value_type)
        offsets = pa.array(np.arange(len(flat) + 1, dtype=np.int64))
        arrays.append(pa.LargeListArray.from_arrays(offsets, flat))
    return pa.Table.from_arrays(arrays, schema=schema)
