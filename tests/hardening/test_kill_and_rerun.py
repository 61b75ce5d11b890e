"""SIGKILL inside each stage, then rerun it into the same output: same result, no partial output
ever taken for a finished one.

A killed step on a cluster is retried with the same output paths, so that is what this does. The
reference is one uninterrupted chain on the bundled tiny sample (ingest -> transform -> train ->
evaluate, each stage a process run from its command line). Then, for each kill point, the stage
is started again into a copy of its output directory and SIGKILLed as soon as the kill point's
file appears (the process must still be running then). Kill points: ingest while it stages
events; transform while Beam writes feature rows and while transformed examples are written
(after TFT analyzed), each over a finished earlier output; train while the SavedModel is written,
and just after it took back an earlier run's manifest; evaluate likewise. Then:

- the next stage, given the killed output, refuses it with a clear error (exit 2 and a message
  naming the output as incomplete; evaluate instead writes a negative verdict with that reason,
  as for any unusable candidate), never trains or evaluates on part of it;
- the killed stage, rerun into the same directory, finishes and gives the reference's result:
  ingest byte-identical, transform the same examples record by record and the same manifest,
  train the same weights (same seed), evaluate the same metrics and blessing.

Push is killed at each of its writes in tests/unit/push/test_faults.py, training mid-epoch in
tests/e2e/test_train_tiny.py (it resumes), and a rerun of a finished stage in
tests/hardening/test_determinism.py.
"""

from __future__ import annotations

import glob
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from tests.hardening.test_determinism import TIMING_KEYS, canonical, differing, tfrecords
from tests.tiny_shop import NOW, REPO, TINY

TRAIN_FLAGS = ("--epochs", "1", "--batch-size", "64", "--modalities", "none", "--seed", "7")
POLL_S = 0.005
STAGE_TIMEOUT_S = 900


def command(stage: str, paths: dict[str, pathlib.Path]) -> list[str]:
    """The stage's command line over ``paths`` (data, examples, graph, model, eval, root)."""
    args = {
        "ingest": ["--input", str(TINY), "--out", str(paths["data"]), "--now", NOW, "--quiet"],
        "transform": ["--data", str(paths["data"]), "--examples", str(paths["examples"]),
                      "--transform-graph", str(paths["graph"])],
        "train": ["--examples", str(paths["examples"]), "--transform-graph", str(paths["graph"]),
                  "--model", str(paths["model"]), *TRAIN_FLAGS],
        "evaluate": ["--data", str(paths["data"]), "--examples", str(paths["examples"]),
                     "--model", str(paths["model"]), "--model-root", str(paths["root"]),
                     "--out", str(paths["eval"])],
    }[stage]  # fmt: skip
    return [sys.executable, "-m", f"components.{stage}", *args]


def run_stage(stage: str, paths: dict[str, pathlib.Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(stage, paths),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=STAGE_TIMEOUT_S,
        check=False,
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def kill_when(stage: str, paths: dict[str, pathlib.Path], point: str | Callable[[], bool]) -> float:
    """Start ``stage``; SIGKILL it (and its children) at ``point``: a glob matching a path, or a
    condition becoming true.

    Returns the seconds it ran. Fails if the stage finished before the kill point.
    """
    reached = point if callable(point) else (lambda: bool(glob.glob(point)))
    started = time.monotonic()
    proc = subprocess.Popen(
        command(stage, paths),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        while not reached():
            if proc.poll() is not None:
                tail = proc.stderr.read().decode(errors="replace")[-3000:]
                pytest.fail(f"{stage} ended ({proc.returncode}) before the kill point:\n{tail}")
            if time.monotonic() - started > STAGE_TIMEOUT_S:
                pytest.fail(f"{stage}: kill point {point} never reached")
            time.sleep(POLL_S)
        assert proc.poll() is None, f"{stage} finished at the kill point; nothing was killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return time.monotonic() - started


def written_since(pattern: pathlib.Path, since: float) -> bool:
    """Whether a path matching ``pattern`` was modified after ``since`` (a new run's file)."""
    for path in glob.glob(str(pattern)):
        try:
            if os.stat(path).st_mtime > since:
                return True
        except FileNotFoundError:  # removed between glob and stat
            continue
    return False


def refused(done: subprocess.CompletedProcess, *words: str) -> str:
    """The last stderr line of a stage that refused its input; checks exit 2 and the words."""
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    for word in words:
        assert word in last, last
    return last


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, pathlib.Path]:
    """One uninterrupted chain; every stage's output under its own name."""
    work = tmp_path_factory.mktemp("reference")
    paths = {name: work / name for name in ("data", "examples", "graph", "model", "eval", "root")}
    for stage in ("ingest", "transform", "train", "evaluate"):
        ok(run_stage(stage, paths))
    return paths


def copy_upstream(reference, work: pathlib.Path, *names: str) -> dict[str, pathlib.Path]:
    """Paths under ``work``: ``names`` copied from the reference, the rest fresh."""
    paths = {name: work / name for name in reference}
    for name in names:
        shutil.copytree(reference[name], paths[name])
    paths["root"].mkdir(exist_ok=True)
    return paths


def examples_content(examples: pathlib.Path) -> dict[str, list[bytes]]:
    return {
        str(pathlib.Path(p).relative_to(examples)): canonical(tfrecords(pathlib.Path(p)))
        for p in sorted(glob.glob(str(examples / "*" / "*.tfrecord.gz")))
    }


def without_timing(manifest: dict) -> dict:
    return {k: v for k, v in manifest.items() if k not in TIMING_KEYS}


def untimed(text: str) -> str:
    """JSON text with its wall times blanked (the infra check's serving time)."""
    text = re.sub(r"in [0-9.]+ s\b", "in <t> s", text)
    return re.sub(r'"seconds": [0-9.]+', '"seconds": 0', text)


def read_json(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.slow
def test_ingest_killed_mid_write_is_refused_downstream_and_rerun_is_identical(
    reference, tmp_path
) -> None:
    paths = copy_upstream(reference, tmp_path)
    kill_when("ingest", paths, str(paths["data"] / "_staging" / "*"))
    assert not (paths["data"] / "manifest.json").exists()
    refused(run_stage("transform", paths), str(paths["data"]), "incomplete")
    ok(run_stage("ingest", paths))
    assert differing(reference["data"], paths["data"]) == {}


@pytest.mark.slow
@pytest.mark.parametrize(
    "kill_point",
    [
        "raw/train/*",  # feature rows being written (Beam)
        "train/*",  # TFT has analyzed; transformed examples being written
    ],
)
def test_transform_killed_is_refused_downstream_and_rerun_gives_the_same_examples(
    reference, tmp_path, kill_point
) -> None:
    paths = copy_upstream(reference, tmp_path, "data")
    # A finished run's output is there first (a rerun of a step that had succeeded, or a retry
    # into reused paths): the kill must not leave its old manifest vouching for new partial files.
    shutil.copytree(reference["examples"], paths["examples"])
    shutil.copytree(reference["graph"], paths["graph"])
    since = time.time()
    kill_when("transform", paths, lambda: written_since(paths["examples"] / kill_point, since))
    assert not (paths["examples"] / "manifest.json").exists()
    refused(run_stage("train", paths), str(paths["examples"]), "incomplete")
    ok(run_stage("transform", paths))
    assert without_timing(read_json(paths["examples"] / "manifest.json")) == without_timing(
        read_json(reference["examples"] / "manifest.json")
    )
    assert examples_content(paths["examples"]) == examples_content(reference["examples"])
    stale = [p for p in paths["examples"].rglob("*") if "temp" in p.name.lower()]
    assert stale == []


@pytest.mark.slow
@pytest.mark.parametrize("over_a_finished_run", [False, True], ids=["exporting", "restarted"])
def test_train_killed_is_judged_unusable_and_rerun_gives_the_same_weights(
    reference, tmp_path, over_a_finished_run
) -> None:
    paths = copy_upstream(reference, tmp_path, "data", "examples", "graph")
    manifest = paths["model"] / "manifest.json"
    if over_a_finished_run:  # a retry into reused paths: killed once it took the old one back
        shutil.copytree(reference["model"], paths["model"])
        kill_when("train", paths, lambda: not manifest.exists())
    else:  # trained, killed while the SavedModel is being written
        kill_when("train", paths, str(paths["model"] / "serving" / "*"))
    assert not manifest.exists()
    # Evaluate judges an unfinished model unusable: a negative verdict with the reason, no push.
    ok(run_stage("evaluate", paths))
    blessing = read_json(paths["eval"] / "blessing.json")
    assert not blessing["blessed"]
    assert any("incomplete train output" in r for r in blessing["reasons"]), blessing["reasons"]
    ok(run_stage("train", paths))
    rerun, first = read_json(manifest), read_json(reference["model"] / "manifest.json")
    assert rerun["weights_sha256"] == first["weights_sha256"]


@pytest.mark.slow
def test_evaluate_killed_leaves_no_blessing_and_rerun_gives_the_same_verdict(
    reference, tmp_path
) -> None:
    paths = copy_upstream(reference, tmp_path, "data", "examples", "graph", "model", "eval")
    # An earlier verdict is there; the rerun takes it back first and is killed while ranking.
    kill_when("evaluate", paths, lambda: not (paths["eval"] / "blessing.json").exists())
    assert not (paths["eval"] / "blessing.json").exists()
    ok(run_stage("evaluate", paths))
    for name in ("metrics.json", "blessing.json"):  # the same, but for paths and timings
        a = (reference["eval"] / name).read_text().replace(str(reference["eval"].parent), "<run>")
        b = (paths["eval"] / name).read_text().replace(str(tmp_path), "<run>")
        assert json.loads(untimed(a)) == json.loads(untimed(b)), name
