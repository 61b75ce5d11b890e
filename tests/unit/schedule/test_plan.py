"""The pure side of scheduling: cron, parameters, version identity, keep/create/delete."""

from __future__ import annotations

import pytest

from components.schedule.config import ScheduleConfig, ScheduleConfigError, check_cron
from components.schedule.plan import (
    RecurringRunView,
    VersionView,
    decide_recurring_runs,
    find_version,
    package_digest,
    resolve_parameters,
    version_description,
)

INPUTS = {
    "raw_uri": {"parameterType": "STRING"},
    "epochs": {"parameterType": "NUMBER_INTEGER", "isOptional": True, "defaultValue": 3.0},
    "tolerance": {"parameterType": "NUMBER_DOUBLE", "isOptional": True},
    "use_gpu": {"parameterType": "BOOLEAN", "isOptional": True},
    "gpu_node_selector": {"parameterType": "STRUCT", "isOptional": True},
}


def test_kfp_cron_needs_the_seconds_field_and_says_how_to_fix_a_unix_one():
    assert check_cron("0  0 2 * * *") == "0 0 2 * * *"
    with pytest.raises(ScheduleConfigError, match=r"did you mean '0 0 2 \* \* \*'"):
        check_cron("0 2 * * *")
    with pytest.raises(ScheduleConfigError, match="not 6 fields"):
        check_cron("0 0 2 * * * *")
    with pytest.raises(ScheduleConfigError, match="cron"):
        ScheduleConfig(cron="nightly please")


def test_strings_become_the_declared_types():
    given = {
        "raw_uri": "gs://b/raw",
        "epochs": "7",
        "tolerance": "0.01",
        "use_gpu": "False",
        "gpu_node_selector": '{"pool": "gpu"}',
    }
    assert resolve_parameters(INPUTS, given) == {
        "raw_uri": "gs://b/raw",
        "epochs": 7,
        "tolerance": 0.01,
        "use_gpu": False,
        "gpu_node_selector": {"pool": "gpu"},
    }
    assert resolve_parameters(INPUTS, {"raw_uri": "x", "epochs": 2}) == {
        "raw_uri": "x",
        "epochs": 2,
    }


def test_every_parameter_fault_is_reported_at_once():
    with pytest.raises(ScheduleConfigError) as err:
        resolve_parameters(INPUTS, {"epoch": "3", "use_gpu": "maybe", "gpu_node_selector": "{"})
    message = str(err.value)
    for fault in (
        "unknown parameter 'epoch'",
        "missing required parameter 'raw_uri'",
        "'use_gpu': 'maybe' is not a boolean",
        "'gpu_node_selector': '{' is not JSON (STRUCT)",
    ):
        assert fault in message


def test_a_version_is_found_by_the_digest_in_its_description():
    digest = package_digest("a: 1\n")
    versions = [
        VersionView("v1", version_description(package_digest("a: 2\n"))),
        VersionView("v2", version_description(digest)),
        VersionView("v3", ""),
    ]
    assert find_version(versions, digest) == "v2"
    assert find_version(versions[:1], digest) is None


def run(run_id: str = "", **changes) -> RecurringRunView:
    fields = {
        "name": "nightly",
        "version_id": "v1",
        "cron": "0 0 2 * * *",
        "parameters": {"epochs": 3, "raw_uri": "gs://b"},
    }
    return RecurringRunView(**{**fields, **changes}, recurring_run_id=run_id)


def test_nothing_there_means_create():
    decision = decide_recurring_runs([run("r9", name="other")], run())
    assert (decision.keep, decision.create, decision.delete) == ("", True, ())


def test_a_matching_run_is_kept_even_when_the_host_returns_numbers_as_floats():
    existing = [run("r1", parameters={"epochs": 3.0, "raw_uri": "gs://b"})]
    decision = decide_recurring_runs(existing, run())
    assert (decision.keep, decision.create, decision.delete) == ("r1", False, ())


@pytest.mark.parametrize(
    "change",
    [
        {"cron": "0 0 3 * * *"},
        {"version_id": "v2"},
        {"parameters": {"epochs": 4, "raw_uri": "gs://b"}},
        {"enabled": False},
        {"pipeline_root": "gs://elsewhere"},
    ],
)
def test_any_difference_replaces_the_run(change):
    decision = decide_recurring_runs([run("r1", **change)], run())
    assert (decision.keep, decision.create, decision.delete) == ("", True, ("r1",))


def test_duplicates_collapse_to_the_matching_one():
    existing = [run("r1", cron="0 0 5 * * *"), run("r2"), run("r3")]
    decision = decide_recurring_runs(existing, run())
    assert (decision.keep, decision.create, decision.delete) == ("r2", False, ("r1", "r3"))
