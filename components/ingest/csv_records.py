"""CSV records from lines: where one record ends, and a stray quote's damage kept to its line.

Pure (bytes in, records out): the state machine ``readers`` runs over a file's lines.
"""

from __future__ import annotations

import collections
import csv
import io
import itertools
from collections.abc import Iterator

from components.ingest.formats import allow_csv_fields


def csv_records(
    lines: Iterator[tuple[int, bytes]], *, fields: int, max_lines: int, max_bytes: int
) -> Iterator[tuple[int, bytes, bool]]:
    """(1-based first line, bytes, closed) of each CSV record after the header; blanks skipped.

    A record ends at a line end outside quotes (RFC 4180), so one stray quote would otherwise
    make a single record of the rest of the file (every row after it lost in one quarantine
    record). A record spanning several lines is kept only if it parses strictly as one record of
    ``fields`` fields; if not, or it outgrows ``max_lines`` lines or ``max_bytes``, or the file
    ends inside it, its first line is returned on its own with ``closed`` False (a stray quote:
    malformed) and the lines after it are read again.
    """
    again: collections.deque[tuple[int, bytes] | None] = collections.deque()
    pending: list[tuple[int, bytes]] = []
    quotes = size = 0
    # None marks the end of the file. ``again`` is empty at the top of the for loop.
    for fresh in itertools.chain(lines, [None]):
        if fresh is not None and not pending:
            # The common case, inlined for speed: a line that is a whole record.
            count = fresh[1].count(b'"')
            if not count % 2:
                if fresh[1].strip():
                    yield fresh[0], fresh[1], True
                continue
            pending, quotes, size = [fresh], count, len(fresh[1])
            continue
        again.append(fresh)
        while again:
            item = again.popleft()
            if item is None:
                if not pending:
                    return
            elif not pending:
                count = item[1].count(b'"')
                if not count % 2:
                    if item[1].strip():
                        yield item[0], item[1], True
                    continue
                pending, quotes, size = [item], count, len(item[1])
                continue
            else:
                pending.append(item)
                quotes += item[1].count(b'"')
                size += len(item[1])
                if not quotes % 2 and _one_record(pending, fields):
                    yield pending[0][0], b"".join(text for _, text in pending), True
                    pending, quotes, size = [], 0, 0
                    continue
                if quotes % 2 and len(pending) <= max_lines and size <= max_bytes:
                    continue
            # A span that is not one good record (or the file ended inside it): give up on its
            # first line and read the others again (then the end of the file, if it was that).
            yield pending[0][0], pending[0][1], False
            again.extendleft(reversed(pending[1:]))
            if item is None:
                again.append(None)
            pending, quotes, size = [], 0, 0


def _one_record(pending: list[tuple[int, bytes]], fields: int) -> bool:
    """True if the lines parse strictly as one CSV record of ``fields`` fields.

    Carriage returns are dropped first: they never open or close a field, and Python's ``csv``
    refuses a bare one in an unquoted field (whether that is a good value is for the parser).
    """
    text = b"".join(line for _, line in pending).decode("utf-8", errors="replace")
    text = text.replace("\r", "")
    allow_csv_fields(len(text))
    try:
        parsed = list(csv.reader(io.StringIO(text), strict=True))
    except csv.Error:
        return False
    return len(parsed) == 1 and len(parsed[0]) == fields
