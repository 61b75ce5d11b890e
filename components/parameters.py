"""The pipeline's run parameters, checked before anything runs.

Every stage checks its own options, but only once it starts: a bad gate threshold used to cost
an ingest, a transform and two trainings before evaluate refused it. ``check_run_parameters``
applies the same checks (each stage's own config classes) to every run parameter at once and
reports every bad one in a single ``ParameterError``. ``pipeline.py run`` calls it before
kfp.local starts, and the compiled pipeline's first task (``validate``, never retried) calls it
on a cluster, where parameters arrive only at run time; every other task runs after it.
"""

from __future__ import annotations

import datetime as dt
import shlex

from components.evaluate.config import GateOptions
from components.evaluate.gates import GateConfigError
from components.ingest.config import parse_timestamp
from components.ingest.errors import IngestConfigError
from components.train.config import TrainConfig, parse_modalities


class ParameterError(ValueError):
    """One or more run parameters are invalid; the message lists each (name: problem)."""


def check_run_parameters(
    *,
    raw_uri: str,
    model_root: str,
    train_end: str = "",
    eval_end: str = "",
    now: str = "",
    beam_args: str = "",
    shards: int = 0,
    epochs: int = TrainConfig.epochs,
    batch_size: int = TrainConfig.batch_size,
    embedding_dim: int = TrainConfig.embedding_dim,
    modalities: str = "all",
    gpu_count: int = 1,
    gate: GateOptions | None = None,
    clock: dt.datetime | None = None,
) -> None:
    """Check every run parameter; all problems are reported together.

    Args:
        raw_uri: Raw data (local directory or gs:// prefix); not empty.
        model_root: Where versions live; not empty.
        train_end: ISO timestamp or "" (ingest's default); not after now.
        eval_end: ISO timestamp or ""; not after now, and after ``train_end``.
        now: Ingest's "now" (ISO timestamp or "": the current time).
        beam_args: Shell-quoted Beam flags.
        shards: Key shards of transform's feature build (>= 0).
        epochs: Most training epochs (>= 1).
        batch_size: Training batch size (>= 1).
        embedding_dim: Embedding width (>= 1).
        modalities: ``all``, ``none`` or a comma list of known modalities.
        gpu_count: Accelerators of the GPU trainer (>= 0).
        gate: The gate's parameters (thresholds, tolerances, slices, force-bless, ...).
        clock: The current time (default: now, UTC); the cut-offs may not be after ``now``
            (or this clock when ``now`` is empty): a train window reaching into the future
            holds no data yet.

    Raises:
        ParameterError: naming each bad parameter, its value and what is expected.
    """
    problems: list[str] = []
    for name, value in (("raw_uri", raw_uri), ("model_root", model_root)):
        if not str(value).strip():
            problems.append(f"{name}: empty; give a local directory or gs://bucket/prefix")
    times: dict[str, dt.datetime] = {}
    for name, value in (("now", now), ("train_end", train_end), ("eval_end", eval_end)):
        if str(value).strip():
            try:
                times[name] = parse_timestamp(value, what=name)
            except IngestConfigError as e:
                problems.append(f"{e} (e.g. 2026-11-24T00:00:00Z; '' for ingest's default)")
    present = times.get("now") or clock or dt.datetime.now(dt.UTC)
    for name in ("train_end", "eval_end"):
        if name in times and times[name] > present:
            problems.append(
                f"{name}: {times[name].isoformat()} is after now ({present.isoformat()}): the "
                "window would reach into the future, where no event can be yet"
            )
    if "train_end" in times and "eval_end" in times and times["train_end"] >= times["eval_end"]:
        problems.append(
            f"train_end {times['train_end'].isoformat()} is not before eval_end "
            f"{times['eval_end'].isoformat()}: the eval window would be empty"
        )
    try:
        TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            embedding_dim=embedding_dim,
            modalities=parse_modalities(modalities),
        )
    except ValueError as e:
        problems.append(f"train: {e}")
    if shards < 0:
        problems.append(f"shards: {shards} < 0 (0 = one shard per 4 MiB of events)")
    if gpu_count < 0:
        problems.append(f"gpu_count: {gpu_count} < 0")
    try:
        shlex.split(beam_args)
    except ValueError as e:
        problems.append(f"beam_args: {beam_args!r} does not split into flags ({e})")
    try:
        (gate or GateOptions()).config()
    except (GateConfigError, ValueError) as e:
        problems.append(f"gate: {e}")
    if problems:
        raise ParameterError("bad run parameters: " + "; ".join(problems))
