"""Configuration of the nightly schedule."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

# KFP's scheduler uses robfig/cron with a leading seconds field: 02:00 UTC every day.
NIGHTLY_CRON = "0 0 2 * * *"
CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-LW#]+$")


class ScheduleConfigError(ValueError):
    """A schedule setting or run parameter that the KFP host would refuse or misread."""


def check_cron(expression: str) -> str:
    """Return ``expression`` if it is a 6-field KFP cron expression (seconds first).

    Raises:
        ScheduleConfigError: With the expected form; a 5-field Unix cron gets the fix spelled out.
    """
    fields = expression.split()
    if len(fields) == 5:
        raise ScheduleConfigError(
            f"cron {expression!r} has 5 fields; KFP's cron has a leading seconds field: "
            f"did you mean '0 {expression}'?"
        )
    if len(fields) != 6 or not all(CRON_FIELD.match(f) for f in fields):
        raise ScheduleConfigError(
            f"cron {expression!r} is not 6 fields 'sec min hour day-of-month month day-of-week'"
        )
    return " ".join(fields)


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """What the nightly recurring run looks like on the KFP host.

    Attributes:
        pipeline_name: Display name of the uploaded pipeline (its versions hold the YAML).
        experiment: Experiment the recurring run and its runs belong to (created if missing).
        schedule_name: Display name of the recurring run; the key that makes a rerun idempotent.
        cron: 6-field cron expression (seconds first), in the host's time zone (UTC on GKE).
        parameters: Run parameters by name; strings are converted to the pipeline's declared types.
        pipeline_root: Where runs write artifacts (``gs://...``); empty = the host's default.
        namespace: Kubernetes namespace on a multi-user host; empty = the client's default.
        max_concurrency: Runs of this schedule allowed at once.
        no_catchup: Skip, rather than backfill, nights missed while paused.
    """

    pipeline_name: str = "shoprec-nightly"
    experiment: str = "shoprec"
    schedule_name: str = "shoprec-nightly"
    cron: str = NIGHTLY_CRON
    parameters: Mapping[str, object] = dataclasses.field(default_factory=dict)
    pipeline_root: str = ""
    namespace: str = ""
    max_concurrency: int = 1
    no_catchup: bool = True

    def __post_init__(self) -> None:
        for name in ("pipeline_name", "experiment", "schedule_name"):
            if not getattr(self, name).strip():
                raise ScheduleConfigError(f"ScheduleConfig.{name} must not be empty")
        check_cron(self.cron)
        if self.max_concurrency < 1:
            raise ScheduleConfigError(
                f"ScheduleConfig.max_concurrency must be >= 1, got {self.max_concurrency}"
            )
