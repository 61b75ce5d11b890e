"""Failures of a whole ingest run (row faults are quarantined, never raised)."""

from __future__ import annotations


class IngestError(Exception):
    """Base class: the CLI turns these into a one-line message and a non-zero exit code."""


class IngestConfigError(IngestError, ValueError):
    """An ingest option is invalid (format, cut-offs, batch size ...)."""


class InputNotFoundError(IngestError, FileNotFoundError):
    """The input root, or a required table under it, does not exist."""


class InputFormatError(IngestError):
    """A file is not the format its name claims, or cannot be read at all."""


class InputUnavailableError(IngestError):
    """gs:// input stayed unreachable or kept failing until the retry deadline."""


class MissingColumnError(InputFormatError):
    """A file lacks a required column of its table (renamed or dropped).

    A file fault, named once, not a ``missing_required`` record for each of its rows.
    """
