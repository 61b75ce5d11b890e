"""Progress on the terminal for long work: rows done, rate, time left.

Writes one line to stderr at most every ``interval_s`` seconds (and a final summary), so a person
running ``generate`` or ``ingest`` on millions of rows is never left staring at a silent prompt.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

logger = logging.getLogger(__name__)


class Progress:
    """Counts rows of one long task and reports rate and time left.

    Args:
        task: What is being done ("ingest events").
        total: Rows expected, if known (enables the time-left estimate).
        interval_s: Least time between two progress lines.
        stream: Where lines go (stderr by default); None silences them.
    """

    def __init__(
        self,
        task: str,
        *,
        total: int | None = None,
        interval_s: float = 2.0,
        stream: TextIO | None = sys.stderr,
    ) -> None:
        self.task = task
        self.total = total
        self.done = 0
        self._interval_s = interval_s
        self._stream = stream
        self._start = time.monotonic()
        self._last = self._start

    def advance(self, rows: int) -> None:
        """Record ``rows`` more rows done; print a line if the interval has passed."""
        self.done += rows
        now = time.monotonic()
        if now - self._last >= self._interval_s:
            self._last = now
            self._emit(self.line(now - self._start))

    def line(self, elapsed_s: float) -> str:
        """The progress line for ``elapsed_s`` seconds of work so far."""
        rate = self.done / elapsed_s if elapsed_s > 0 else 0.0
        text = f"{self.task}: {self.done:,} rows"
        if self.total:
            text += f" of {self.total:,} ({100.0 * self.done / self.total:.0f}%)"
        text += f", {rate:,.0f} rows/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", ~{(self.total - self.done) / rate:.0f} s left"
        return text

    def finish(self) -> float:
        """Print the summary line (or log it when silenced); returns the elapsed seconds."""
        elapsed = time.monotonic() - self._start
        summary = f"{self.line(elapsed)} in {elapsed:.1f} s (done)"
        if self._stream is None:
            logger.info(summary)
        else:
            self._emit(summary)
        return elapsed

    def _emit(self, text: str) -> None:
        if self._stream is not None:
            self._stream.write(text + "\n")
            self._stream.flush()
