"""Infra validation: the exported model loads and serves raw requests in a fresh process.

The child is a new Python interpreter that imports only TensorFlow (and the standard library):
if the SavedModel needed project code, a custom op, or files outside its directory (e.g. the
transform output), loading or serving fails there and the model is not blessed. The requests
travel as JSON (bytes base64-encoded), cast to the dtypes the signature declares.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

import pyarrow as pa

from components.train.signatures import OUTPUT_ITEM_IDS, OUTPUT_SCORES, SERVING_SIGNATURE

TIMEOUT_S = 300.0
BYTES_KEY = "__b64__"

CHILD = r"""
import base64, json, math, os, sys
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf

serving_dir, requests_path, signature, ids_key, scores_key, bytes_key = sys.argv[1:7]
with open(requests_path) as f:
    columns = json.load(f)
def decode(v):
    if isinstance(v, dict) and bytes_key in v:
        return base64.b64decode(v[bytes_key])
    if isinstance(v, list):
        return [decode(x) for x in v]
    return v
model = tf.saved_model.load(serving_dir)
fn = model.signatures[signature]
_, specs = fn.structured_input_signature
feed = {n: tf.constant(decode(columns[n]), dtype=s.dtype) for n, s in specs.items()}
out = fn(**feed)
ids = [[i.decode() for i in row] for row in out[ids_key].numpy().tolist()]
scores = out[scores_key].numpy().tolist()
project = sorted(m for m in sys.modules if m.split(".")[0] in ("components", "schemas"))
print(json.dumps({"ids": ids, "scores": scores, "project_modules": project}))
"""


@dataclasses.dataclass(frozen=True)
class InfraResult:
    """Outcome of the validation: ``ok`` and one line saying what was checked or what failed."""

    ok: bool
    detail: str
    seconds: float

    def as_dict(self) -> dict:
        """JSON-ready form."""
        return dataclasses.asdict(self)


def _jsonable(values: list) -> list:
    return [
        {BYTES_KEY: base64.b64encode(v).decode()}
        if isinstance(v, bytes)
        else _jsonable(v)
        if isinstance(v, list)
        else v
        for v in values
    ]


def check_served(
    ids: list[list[str]], scores: list[list[float]], *, rows: int, catalog: set[str]
) -> str | None:
    """What is wrong with a served batch, or None.

    Wanted: one list per request, equal non-zero length, ids from the catalog, finite scores,
    best first.
    """
    if len(ids) != rows or len(scores) != rows:
        return f"served {len(ids)} lists for {rows} requests"
    widths = {len(r) for r in ids} | {len(r) for r in scores}
    if len(widths) != 1 or 0 in widths:
        return f"lists of unequal or zero length: {sorted(widths)}"
    unknown = sorted({i for row in ids for i in row} - catalog)
    if unknown:
        return f"{len(unknown)} served ids are not in the catalog, e.g. {unknown[:3]}"
    for row in scores:
        if any(s != s or s in (float("inf"), float("-inf")) for s in row):
            return "non-finite scores"
        if any(a < b for a, b in itertools.pairwise(row)):
            return "scores are not best first"
    return None


def validate_in_fresh_process(
    serving_dir: str, requests: pa.Table, *, catalog: set[str], timeout_s: float = TIMEOUT_S
) -> InfraResult:
    """Load ``serving_dir`` in a new interpreter and serve ``requests`` (raw features).

    Args:
        serving_dir: The exported SavedModel.
        requests: Raw request rows, a column per signature input (extra columns are ignored).
        catalog: Item ids the model may return.
        timeout_s: Wall-clock limit for load + serve.

    Returns:
        ``ok`` False with the reason on any failure (never raises for a bad model).
    """
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="infra-") as work:
        path = os.path.join(work, "requests.json")
        with open(path, "w") as f:
            json.dump({c: _jsonable(requests[c].to_pylist()) for c in requests.column_names}, f)
        args = [
            os.path.abspath(serving_dir),
            path,
            SERVING_SIGNATURE,
            OUTPUT_ITEM_IDS,
            OUTPUT_SCORES,
            BYTES_KEY,
        ]
        try:
            # -I: isolated (no PYTHONPATH, no cwd on sys.path); cwd: an empty directory.
            done = subprocess.run(
                [sys.executable, "-I", "-c", CHILD, *args],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=work,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return InfraResult(False, f"no answer within {timeout_s:.0f} s", timeout_s)
    seconds = round(time.monotonic() - started, 2)
    if done.returncode != 0:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return InfraResult(False, f"fresh process exited {done.returncode}: {tail}", seconds)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as e:
        return InfraResult(False, f"unreadable answer from the fresh process ({e})", seconds)
    if answer["project_modules"]:
        return InfraResult(
            False, f"serving needed project code: {answer['project_modules'][:3]}", seconds
        )
    problem = check_served(answer["ids"], answer["scores"], rows=requests.num_rows, catalog=catalog)
    if problem:
        return InfraResult(False, problem, seconds)
    width = len(answer["ids"][0]) if answer["ids"] else 0
    return InfraResult(
        True,
        f"loaded in a fresh process (tensorflow only) and served {requests.num_rows} raw "
        f"requests, top-{width} each, in {seconds} s",
        seconds,
    )
