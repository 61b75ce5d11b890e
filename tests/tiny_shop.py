"""The bundled tiny shop (``tests/fixtures/shop-tiny``): where it is, its "now", its stages.

Defined once for every test module; the session fixtures that ingest, transform and train it
once for the whole run are in ``tests/conftest.py`` (``tiny_data``, ``tiny_examples``,
``tiny_model``).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "fixtures" / "shop-tiny"
# Ingest's "now" for the tiny shop: every timestamp in it is before this.
NOW = "2026-11-24T00:00:00Z"
TRAIN_EPOCHS = 3  # the shared trained model's (tests/conftest.py::tiny_model)
# The train flags of the shared model: the ranking head is off by default, on here so the tests
# that read the export's ``ranking`` signature have one.
TINY_MODEL_FLAGS = ("--epochs", str(TRAIN_EPOCHS), "--ranking-weight", "0.5")


def stage(*args: str) -> None:
    """Run ``python -m <args>`` (a stage's CLI) from the repo root; raises if it fails."""
    subprocess.run([sys.executable, "-m", *args], check=True, capture_output=True, cwd=REPO)


def ingest(out: pathlib.Path, *flags: str) -> pathlib.Path:
    """Ingest the tiny shop into ``out`` (its CLI, quiet)."""
    return stage_ingest(TINY, out, *flags)


def stage_ingest(raw: pathlib.Path, out: pathlib.Path, *flags: str) -> pathlib.Path:
    """Ingest raw files (the tiny shop's, or a changed copy) into ``out`` at ``NOW``."""
    stage("components.ingest", "--input", str(raw), "--out", str(out), "--now", NOW, "--quiet",
          *flags)  # fmt: skip
    return out


def transform(data: pathlib.Path, work: pathlib.Path) -> dict[str, pathlib.Path]:
    """Transform an ingest output: ``{"data", "examples", "graph"}`` (graph and examples new)."""
    examples, graph = work / "examples", work / "tg"
    stage("components.transform", "--data", str(data), "--examples", str(examples),
          "--transform-graph", str(graph))  # fmt: skip
    return {"data": data, "examples": examples, "graph": graph}


def train(transformed: dict[str, pathlib.Path], model: pathlib.Path, *flags: str) -> pathlib.Path:
    """Train on a transform output into ``model`` (the train CLI with ``flags``)."""
    examples, graph = str(transformed["examples"]), str(transformed["graph"])
    stage("components.train", "--examples", examples, "--transform-graph", graph,
          "--model", str(model), *flags)  # fmt: skip
    return model
