"""A stage's output is finished when its manifest is there: the manifest is written last.

A step killed (preempted node, OOM, SIGKILL) leaves part of its output behind, and a retry on a
cluster reuses the same output paths. So every stage removes its own manifest before it writes
anything and writes it again last, and every stage checks its inputs' manifests before it reads
them: part of an output is never taken for all of it.
"""

from __future__ import annotations

import contextlib
import json
import os

GS = "gs://"


class IncompleteOutput(ValueError):
    """An upstream output has no manifest: its step did not finish."""


class MissingOutput(IncompleteOutput):
    """An upstream output directory does not exist at all (a mistyped path, a step not run)."""


def exists(path: str) -> bool:
    """Whether a local path or a ``gs://`` object exists."""
    if path.startswith(GS):
        from apache_beam.io.filesystems import FileSystems

        return FileSystems.exists(path)
    return os.path.exists(path)


def remove(path: str) -> None:
    """Delete a local file or ``gs://`` object; absent is fine."""
    if path.startswith(GS):
        from apache_beam.io.filesystems import FileSystems

        if FileSystems.exists(path):
            FileSystems.delete([path])
        return
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def require(directory: str, manifest: str, *, stage: str) -> str:
    """The manifest path of ``stage``'s output ``directory``.

    Raises:
        MissingOutput: a local ``directory`` does not exist (mistyped, or the step never ran).
        IncompleteOutput: the manifest is missing (the step was killed or failed part-way).
    """
    path = f"{str(directory).rstrip('/')}/{manifest}"
    if not str(directory).startswith(GS) and not os.path.isdir(directory):
        what = "is a file" if os.path.exists(directory) else "does not exist"
        raise MissingOutput(
            f"{directory}: {what}: not a {stage} output directory (mistyped path, or the "
            f"{stage} step never ran)"
        )
    if not exists(path):
        raise IncompleteOutput(
            f"{directory}: incomplete {stage} output (no {manifest}): the {stage} step did not "
            f"finish (killed or failed part-way); rerun it"
        )
    return path


def read_manifest(directory: str, manifest: str, *, stage: str) -> dict:
    """``stage``'s manifest in its output ``directory`` (local or ``gs://``), as JSON.

    Raises:
        IncompleteOutput: the manifest is missing (see ``require``).
    """
    path = require(directory, manifest, stage=stage)
    if path.startswith(GS):
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(path) as f:
            return json.loads(f.read())
    with open(path) as f:
        return json.load(f)


def write_manifest(path: str, doc: dict) -> None:
    """Write a stage's manifest, or any JSON a reader must see whole (evaluate's verdict).

    Locally a temporary file beside it is renamed over it (``os.replace`` is atomic); a
    ``gs://`` object is only visible once its upload completes.
    """
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    if path.startswith(GS):
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(path) as f:
            f.write(data)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    temp = f"{path}.tmp"
    with open(temp, "wb") as f:
        f.write(data)
    os.replace(temp, path)
