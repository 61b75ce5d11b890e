"""Pure decisions behind an idempotent schedule: which pipeline version, which recurring runs.

Nothing here talks to a host. A pipeline version is identified by the SHA-256 of the compiled
YAML, carried in its description (KFP copies an uploaded pipeline's description onto its first
version), so uploading the same YAML twice is recognised. KFP v2 has no update call for
recurring runs, so a changed schedule is created anew and the old one deleted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence

import yaml

from components.schedule.config import ScheduleConfigError

DIGEST_PREFIX = "sha256:"
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def package_digest(package_text: str) -> str:
    """Hex SHA-256 of a compiled pipeline's text."""
    return hashlib.sha256(package_text.encode()).hexdigest()


def version_description(digest: str) -> str:
    """The description that marks a pipeline version as holding the YAML with ``digest``."""
    return f"compiled pipeline {DIGEST_PREFIX}{digest}"


def version_name(pipeline_name: str, digest: str) -> str:
    """A readable, content-derived version name: ``<pipeline>-<first 12 hex of digest>``."""
    return f"{pipeline_name}-{digest[:12]}"


@dataclasses.dataclass(frozen=True)
class VersionView:
    """What the host says about one pipeline version."""

    version_id: str
    description: str


def find_version(versions: Sequence[VersionView], digest: str) -> str | None:
    """The id of the version holding the YAML with ``digest``, or None."""
    tag = f"{DIGEST_PREFIX}{digest}"
    for version in versions:
        if tag in (version.description or ""):
            return version.version_id
    return None


def pipeline_inputs(package_text: str) -> dict[str, dict]:
    """The run parameters a compiled pipeline declares: name -> its ``inputDefinitions`` entry."""
    spec = next(yaml.safe_load_all(package_text))
    return dict(spec["root"].get("inputDefinitions", {}).get("parameters", {}))


def _convert(name: str, kind: str, value: object) -> object:
    if not isinstance(value, str) or kind == "STRING":
        return value
    text = value.strip()
    if kind == "BOOLEAN":
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ScheduleConfigError(f"parameter {name!r}: {value!r} is not a boolean")
    if kind == "NUMBER_INTEGER":
        try:
            return int(text)
        except ValueError as err:
            raise ScheduleConfigError(f"parameter {name!r}: {value!r} is not an integer") from err
    if kind == "NUMBER_DOUBLE":
        try:
            return float(text)
        except ValueError as err:
            raise ScheduleConfigError(f"parameter {name!r}: {value!r} is not a number") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ScheduleConfigError(f"parameter {name!r}: {value!r} is not JSON ({kind})") from err


def resolve_parameters(inputs: Mapping[str, dict], given: Mapping[str, object]) -> dict:
    """Check ``given`` against the pipeline's parameters and convert strings to their types.

    Args:
        inputs: From ``pipeline_inputs``.
        given: Run parameters; a string is converted by the declared type (``"3"`` -> 3 for
            NUMBER_INTEGER, ``"true"`` for BOOLEAN, JSON for STRUCT/LIST).

    Returns:
        The typed parameters, only those given (defaults stay in the YAML).

    Raises:
        ScheduleConfigError: Listing every unknown name, missing required one and bad value.
    """
    faults = [f"unknown parameter {name!r}" for name in sorted(set(given) - set(inputs))]
    faults += [
        f"missing required parameter {name!r}"
        for name, spec in sorted(inputs.items())
        if not spec.get("isOptional") and name not in given
    ]
    resolved = {}
    for name in sorted(set(given) & set(inputs)):
        try:
            resolved[name] = _convert(name, inputs[name]["parameterType"], given[name])
        except ScheduleConfigError as err:
            faults.append(str(err))
    if faults:
        known = ", ".join(sorted(inputs))
        raise ScheduleConfigError("; ".join(faults) + f" (the pipeline takes: {known})")
    return resolved


@dataclasses.dataclass(frozen=True)
class RecurringRunView:
    """The fields of a recurring run that decide whether it is the one wanted.

    ``recurring_run_id`` is empty for the wanted run (it does not exist yet).
    """

    name: str
    version_id: str
    cron: str
    parameters: Mapping[str, object]
    pipeline_root: str = ""
    max_concurrency: int = 1
    no_catchup: bool = True
    enabled: bool = True
    recurring_run_id: str = ""

    def same_schedule(self, other: RecurringRunView) -> bool:
        """Whether both run the same version, when, with what; ids are not compared.

        Numbers compare by value: the host returns JSON numbers, so 3 comes back as 3.0.
        """
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        mine.pop("recurring_run_id")
        theirs.pop("recurring_run_id")
        return mine == theirs


@dataclasses.dataclass(frozen=True)
class RecurringRunDecision:
    """What to do so exactly one recurring run with the wanted settings exists.

    Attributes:
        keep: Id of an existing run that already matches, or "".
        create: Whether to create the wanted run.
        delete: Ids of runs with the same name to delete (after creating, so the schedule never
            lapses).
    """

    keep: str
    create: bool
    delete: tuple[str, ...]


def decide_recurring_runs(
    existing: Sequence[RecurringRunView], wanted: RecurringRunView
) -> RecurringRunDecision:
    """Keep one matching run with ``wanted.name``, else create it; delete the others by name.

    Args:
        existing: Recurring runs on the host (any names; only ``wanted.name`` is considered).
        wanted: The recurring run that should exist.
    """
    same_name = [run for run in existing if run.name == wanted.name]
    keep = next((run for run in same_name if run.same_schedule(wanted)), None)
    delete = tuple(run.recurring_run_id for run in same_name if run is not keep)
    return RecurringRunDecision(
        keep=keep.recurring_run_id if keep else "", create=keep is None, delete=delete
    )
