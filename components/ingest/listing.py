"""Where raw files are, and their bytes: local directories and gs:// (listing, downloads).

Raw layout under a root (local directory or ``gs://bucket/prefix``), per contract table:
``<root>/<table>/part-*.<ext>`` or ``<root>/<table>.<ext>``; ext is parquet, jsonl or csv, the
text ones optionally ``.gz``. Names starting with ``_`` or ``.`` are ignored. gs:// objects are
downloaded one at a time to a temporary file (Parquet needs random access), read, then deleted.

gs:// outages: listing and downloads retry transient faults (connection refused or reset,
timeouts, 408, 429, 5xx; ``google.cloud.storage.retry.DEFAULT_RETRY``) with jittered back-off
for at most ``$SHOPREC_GCS_RETRY_DEADLINE_S`` seconds (default 120, as push; the client may give
up earlier when its next sleep would pass the deadline). What is left then raises
``InputUnavailableError`` naming the object; the run stops before writing its manifest, so no
output vouches for a partial read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import tempfile
import time
from collections.abc import Iterator

import schemas
from components import gcs_retry
from components.ingest.errors import (
    IngestConfigError,
    InputFormatError,
    InputNotFoundError,
    InputUnavailableError,
)
from components.ingest.formats import CSV, JSONL, PARQUET

GS = "gs://"
EXTENSIONS = {".parquet": PARQUET, ".pq": PARQUET, ".jsonl": JSONL, ".ndjson": JSONL, ".csv": CSV}
RETRY_DEADLINE_ENV = gcs_retry.RETRY_DEADLINE_ENV


@dataclasses.dataclass(frozen=True)
class InputFile:
    """One raw file of one table.

    Attributes:
        uri: Local path or ``gs://bucket/object``.
        format: parquet, jsonl or csv.
        gzipped: The bytes are gzip-compressed.
    """

    uri: str
    format: str
    gzipped: bool = False

    @property
    def shown(self) -> str:
        """``uri`` as text every writer takes (``printable``)."""
        return printable(self.uri)


def printable(name: str) -> str:
    r"""A file name as valid UTF-8, so a quarantine record, the manifest or a log can hold it.

    Bytes that are not UTF-8 (Python decodes them to surrogate escapes) become ``\xNN``.
    """
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


UNMATCHED_SHOWN = 100  # unmatched file names listed in the manifest (all are counted)


def find_inputs(root: str, *, format: str = "auto") -> dict[str, list[InputFile]]:
    """The raw files of every contract table found under ``root`` (``scan_inputs``)."""
    return scan_inputs(root, format=format)[0]


def scan_inputs(root: str, *, format: str = "auto") -> tuple[dict[str, list[InputFile]], list[str]]:
    """The raw files of every contract table found under ``root``, and the files left over.

    Args:
        root: Local directory or ``gs://bucket/prefix``.
        format: ``auto`` (from extensions) or a format forced on every file.

    Returns:
        Table name -> its files in name order (absent tables are missing from the dict), and
        the names (relative, printable) of the files under ``root`` that no table reads:
        ``events/data-0.csv``, ``clicks.csv``, ``events/2024/part-0.csv``; names starting with
        ``_`` or ``.`` are hidden and not among them.

    Raises:
        InputNotFoundError: the root does not exist or holds nothing.
        InputFormatError: a table is given both as a folder and a file, or an extension is unknown.
    """
    names = _list_names(root)
    found: dict[str, list[InputFile]] = {}
    used: set[str] = set()
    for table in schemas.TABLES:
        single = [n for n in names if "/" not in n and _stem(n) == table.name]
        parts = sorted(
            n
            for n in names
            if n.startswith(f"{table.name}/")
            and n.count("/") == 1
            and n.split("/", 1)[1].startswith("part-")
        )
        if single and parts:
            raise InputFormatError(
                f"{_join(root, table.name)}: table given both as a folder and as {single}"
            )
        if len(single) > 1:
            raise InputFormatError(f"{_join(root, table.name)}: table given twice: {single}")
        chosen = single or parts
        if chosen:
            found[table.name] = [_input_file(_join(root, n), format) for n in chosen]
        used.update(chosen)
    return found, [printable(n) for n in names if n not in used]


def _list_names(root: str) -> list[str]:
    """Relative names (``events.csv``, ``events/part-0.csv``) under root, ignoring ``_``/``.``."""
    if root.startswith(GS):
        names = _list_gcs(root)
    else:
        base = pathlib.Path(root)
        if not base.is_dir():
            raise InputNotFoundError(f"{root}: input directory does not exist")
        names = [p.relative_to(base).as_posix() for p in sorted(base.rglob("*")) if p.is_file()]
    return [n for n in names if not any(part[:1] in "_." for part in n.split("/"))]


def _list_gcs(root: str) -> list[str]:
    from google.api_core import exceptions as gexc

    bucket, prefix = _split_gs(root)
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    deadline = retry_deadline()
    retry, timeout = gcs_retry.retry_and_timeout(deadline)
    started = time.monotonic()
    try:
        blobs = list(_gcs_client().list_blobs(bucket, prefix=prefix, retry=retry, timeout=timeout))
    except gexc.NotFound as err:
        raise InputNotFoundError(f"{root}: bucket {bucket!r} does not exist") from err
    except gcs_retry.faults() as err:
        raise InputUnavailableError(
            _unavailable(root, "listing objects", err, time.monotonic() - started, deadline)
        ) from err
    names = [b.name[len(prefix) :] for b in blobs if not b.name.endswith("/")]
    if not names:
        raise InputNotFoundError(f"{root}: no objects under this prefix")
    return sorted(names)


def _input_file(uri: str, format: str) -> InputFile:
    name = uri.rsplit("/", 1)[-1]
    gzipped = name.endswith(".gz")
    if gzipped:
        name = name[: -len(".gz")]
    ext = os.path.splitext(name)[1].lower()
    if format != "auto":
        return InputFile(uri, format, gzipped)
    if ext not in EXTENSIONS:
        raise InputFormatError(
            f"{uri}: unknown extension {ext!r}; expected one of {sorted(EXTENSIONS)} (or --format)"
        )
    if gzipped and EXTENSIONS[ext] == PARQUET:
        raise InputFormatError(f"{uri}: gzipped Parquet is not supported (Parquet compresses)")
    return InputFile(uri, EXTENSIONS[ext], gzipped)


def _stem(name: str) -> str:
    name = name[: -len(".gz")] if name.endswith(".gz") else name
    return os.path.splitext(name)[0]


def _join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


def _split_gs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len(GS) :].partition("/")
    return bucket, prefix


def _gcs_client():
    """A client from the environment (``STORAGE_EMULATOR_HOST`` selects the emulator)."""
    from google.cloud import storage as gcs

    return gcs.Client()


def retry_deadline() -> float:
    """Seconds a gs:// read keeps retrying (``components.gcs_retry``).

    Raises:
        IngestConfigError: ``$SHOPREC_GCS_RETRY_DEADLINE_S`` is set but not a positive number.
    """
    return gcs_retry.retry_deadline(IngestConfigError)


def _unavailable(uri: str, action: str, err: BaseException, spent: float, deadline: float) -> str:
    return (
        f"{uri}: storage unavailable or failed while {action} (gave up after {spent:.1f} s of "
        f"retries; deadline {deadline:g} s, ${RETRY_DEADLINE_ENV}): {type(err).__name__}: "
        f"{err}; this run wrote no manifest"
    )


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[pathlib.Path]:
    """A local path holding the file's bytes (a temporary download for gs://)."""
    if not uri.startswith(GS):
        path = pathlib.Path(uri)
        if not path.is_file():
            raise InputNotFoundError(f"{uri}: file does not exist")
        yield path
        return
    from google.api_core import exceptions as gexc

    bucket, name = _split_gs(uri)
    deadline = retry_deadline()
    retry, timeout = gcs_retry.retry_and_timeout(deadline)
    with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
        path = pathlib.Path(tmp) / name.rsplit("/", 1)[-1]
        started = time.monotonic()
        try:
            blob = _gcs_client().bucket(bucket).blob(name)
            blob.download_to_filename(str(path), retry=retry, timeout=timeout)
        except gexc.NotFound as err:
            raise InputNotFoundError(f"{uri}: object does not exist") from err
        except gcs_retry.faults() as err:
            raise InputUnavailableError(
                _unavailable(uri, "downloading", err, time.monotonic() - started, deadline)
            ) from err
        yield path


def relative(uri: str, root: str) -> str:
    """``uri`` relative to the input root, printable (for the manifest)."""
    base = root.rstrip("/") + "/"
    return printable(uri[len(base) :] if uri.startswith(base) else uri)
