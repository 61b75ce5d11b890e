"""Shared fixtures: the tiny shop ingested, transformed and trained once per session, the
raw-file writer, the loopback GCS emulator (and one that enforces GCS's generation
preconditions), and keeping benchmarks out of ordinary runs.

Session outputs (``tiny_data``, ``tiny_examples``, ``tiny_model``) are shared by every module
that reads them: a test that needs to change one copies it first.

Benchmarks: ``tests/bench`` is collected only when asked for, i.e. when a command-line path
points into it (``pytest tests/bench``, as ``make bench`` does) or the marker expression names
``bench`` (``pytest -m bench tests``). ``pytest tests`` never runs them.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import datetime as dt
import gzip
import io
import json
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import tiny_shop

BENCH_DIR = pathlib.Path(__file__).parent / "bench"
EMULATOR_START_S = 30.0


def pytest_ignore_collect(collection_path: pathlib.Path, config: pytest.Config) -> bool | None:
    """Skip tests/bench unless a command-line path points into it or ``-m`` names bench."""
    path = pathlib.Path(collection_path).resolve()
    if path != BENCH_DIR.resolve() and BENCH_DIR.resolve() not in path.parents:
        return None
    if "bench" in (config.option.markexpr or ""):
        return None
    for arg in config.args:
        target = pathlib.Path(arg.split("::", 1)[0]).resolve()
        if target == BENCH_DIR.resolve() or BENCH_DIR.resolve() in target.parents:
            return None
    return True


# --- the tiny shop, once per session -----------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The tiny shop ingested at ``tiny_shop.NOW`` (ingest's CLI); read it, never change it."""
    return tiny_shop.ingest(tmp_path_factory.mktemp("tiny") / "data")


@pytest.fixture(scope="session")
def tiny_examples(tiny_data: pathlib.Path) -> dict[str, pathlib.Path]:
    """``tiny_data`` transformed (transform's CLI, defaults): ``{"data", "examples", "graph"}``."""
    return tiny_shop.transform(tiny_data, tiny_data.parent)


@pytest.fixture(scope="session")
def tiny_model(tiny_examples: dict[str, pathlib.Path]) -> pathlib.Path:
    """A model trained on ``tiny_examples`` with every modality on (``TINY_MODEL_FLAGS``)."""
    return tiny_shop.train(
        tiny_examples, tiny_examples["data"].parent / "model", *tiny_shop.TINY_MODEL_FLAGS
    )


# --- raw files ---------------------------------------------------------------------------------

Row = dict | str | bytes
"""A raw row: a dict of Python values, or a literal line (str/bytes) to write as is."""


def _text(value: object) -> object:
    """A Python value as it appears in JSONL (timestamps ISO, bytes base64)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def write_raw_file(
    path: pathlib.Path, rows: Sequence[Row], fmt: str, *, header: Sequence[str] | None = None
) -> pathlib.Path:
    """Write rows in one raw format (``.gz`` in the name compresses jsonl/csv).

    Parquet rows must be dicts; types are inferred, and columns of mixed types are written as
    strings. CSV: ``header`` defaults to the keys of the dict rows, in first-seen order.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        try:
            table = pa.Table.from_pylist(list(rows))
        except (pa.ArrowException, OverflowError):
            names = _keys(rows)
            table = pa.table(
                {
                    n: pa.array(
                        [None if r.get(n) is None else str(_text(r.get(n))) for r in rows],
                        pa.string(),
                    )
                    for n in names
                }
            )
        pq.write_table(table, path)
        return path
    buf = io.BytesIO()
    if fmt == "jsonl":
        for row in rows:
            if isinstance(row, dict):
                line = json.dumps({k: _text(v) for k, v in row.items()}).encode()
            else:
                line = row.encode() if isinstance(row, str) else row
            buf.write(line + b"\n")
    elif fmt == "csv":
        names = list(header) if header is not None else _keys(rows)
        text = io.StringIO()
        text.write(",".join(names) + "\n")
        writer = csv.writer(text, lineterminator="\n")
        for row in rows:
            if isinstance(row, dict):
                writer.writerow([_csv_field(row.get(n)) for n in names])
            else:
                buf.write(text.getvalue().encode())
                text.seek(0)
                text.truncate()
                buf.write((row.encode() if isinstance(row, str) else row) + b"\n")
        buf.write(text.getvalue().encode())
    else:
        raise ValueError(f"unknown format {fmt!r}")
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _keys(rows: Sequence[Row]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        if isinstance(row, dict):
            names.update(dict.fromkeys(row))
    return list(names)


def _csv_field(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value)
    return str(_text(value))


@pytest.fixture(scope="session")
def write_raw() -> Callable[..., pathlib.Path]:
    """``write_raw(path, rows, fmt, header=None)``: write a raw file (see ``write_raw_file``)."""
    return write_raw_file


# --- GCS emulator ------------------------------------------------------------------------------


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_emulator(command: list[str], log: pathlib.Path, url: str) -> Iterator[str]:
    """Run an emulator ``command``, poll until its JSON API answers, yield ``url``, stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + EMULATOR_START_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited with {proc.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"emulator not answering at {url}: {log.read_text()}"
                    ) from err
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gcp-storage-emulator on loopback for the session; yields its ``http://host:port``.

    Started as a subprocess of the venv's console script (in memory), polled until its JSON API
    answers, terminated afterwards. Tests point the real google-cloud-storage client at it with
    ``STORAGE_EMULATOR_HOST`` (see ``gcs_bucket``).
    """
    port = _free_port()
    exe = pathlib.Path(sys.executable).parent / "gcp-storage-emulator"
    command = [str(exe), "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"]
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    yield from _serve_emulator(command, log, f"http://127.0.0.1:{port}")


@pytest.fixture(scope="session")
def gcs_strict_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same emulator enforcing GCS's ``ifGenerationMatch`` (``tests/gcs_strict_emulator``)."""
    port = _free_port()
    script = pathlib.Path(__file__).parent / "gcs_strict_emulator.py"
    command = [sys.executable, str(script), "127.0.0.1", str(port)]
    log = tmp_path_factory.mktemp("gcs-strict") / "emulator.log"
    yield from _serve_emulator(command, log, f"http://127.0.0.1:{port}")


def _fresh_bucket(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", url)
    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    name = f"test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(name)
    return name


@pytest.fixture
def gcs_strict_bucket(gcs_strict_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket in the precondition-enforcing emulator; ``STORAGE_EMULATOR_HOST`` set."""
    return _fresh_bucket(gcs_strict_emulator, monkeypatch)


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket in the emulator; ``STORAGE_EMULATOR_HOST`` is set for the test."""
    return _fresh_bucket(gcs_emulator, monkeypatch)


@pytest.fixture(params=["local", "gs"])
def registry_root(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str:
    """An empty model root, once on local disk and once on gs:// (the emulator)."""
    if request.param == "local":
        return str(tmp_path / "root")
    return f"gs://{request.getfixturevalue('gcs_bucket')}/models"
