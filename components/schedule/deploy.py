"""The kfp.Client shell: read what the host has, send what ``plan`` decides.

Requests made (KFP v2beta1 REST, through ``kfp.Client``): list pipelines by name; upload the
pipeline (first time) or a version (changed YAML); list that pipeline's versions; find or create
the experiment; list recurring runs by name; create a recurring run and delete superseded ones.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import TYPE_CHECKING

from components.schedule.config import ScheduleConfig
from components.schedule.plan import (
    RecurringRunView,
    VersionView,
    decide_recurring_runs,
    find_version,
    package_digest,
    pipeline_inputs,
    resolve_parameters,
    version_description,
    version_name,
)

if TYPE_CHECKING:
    import kfp

logger = logging.getLogger(__name__)
PAGE_SIZE = 100


@dataclasses.dataclass(frozen=True)
class ScheduleResult:
    """What a call did: ids on the host, and whether anything was uploaded, created or deleted."""

    pipeline_id: str
    version_id: str
    experiment_id: str
    recurring_run_id: str
    uploaded: bool
    created: bool
    deleted: tuple[str, ...]


def deploy_schedule(
    client: kfp.Client, *, package_path: str, config: ScheduleConfig
) -> ScheduleResult:
    """Upload the compiled pipeline if new and make sure one recurring run matches ``config``.

    A second call with the same YAML and config uploads nothing and creates nothing.

    Args:
        client: A connected ``kfp.Client``.
        package_path: The compiled pipeline YAML (``make compile``).
        config: Names, cron and run parameters.

    Raises:
        ScheduleConfigError: The parameters do not fit the compiled pipeline (before any request).
    """
    with open(package_path) as f:
        text = f.read()
    parameters = resolve_parameters(pipeline_inputs(text), config.parameters)
    digest = package_digest(text)
    namespace = config.namespace or None

    uploaded = False
    pipeline_id = client.get_pipeline_id(config.pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(
            package_path,
            pipeline_name=config.pipeline_name,
            description=version_description(digest),
            namespace=namespace,
        )
        pipeline_id, uploaded = pipeline.pipeline_id, True
    version_id = find_version(_versions(client, pipeline_id), digest)
    if version_id is None:
        version = client.upload_pipeline_version(
            package_path,
            pipeline_version_name=version_name(config.pipeline_name, digest),
            pipeline_id=pipeline_id,
            description=version_description(digest),
        )
        version_id, uploaded = version.pipeline_version_id, True

    experiment_id = client.create_experiment(config.experiment, namespace=namespace).experiment_id
    wanted = RecurringRunView(
        name=config.schedule_name,
        version_id=version_id,
        cron=config.cron,
        parameters=parameters,
        pipeline_root=config.pipeline_root,
        max_concurrency=config.max_concurrency,
        no_catchup=config.no_catchup,
    )
    decision = decide_recurring_runs(
        _recurring_runs(client, experiment_id, config.schedule_name), wanted
    )
    recurring_run_id = decision.keep
    if decision.create:
        created = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=config.schedule_name,
            description=f"{config.pipeline_name} on cron {config.cron}",
            cron_expression=config.cron,
            max_concurrency=config.max_concurrency,
            no_catchup=config.no_catchup,
            params=parameters,
            pipeline_id=pipeline_id,
            version_id=version_id,
            pipeline_root=config.pipeline_root or None,
        )
        recurring_run_id = created.recurring_run_id
    for stale in decision.delete:
        client.delete_recurring_run(stale)
    logger.info(
        "schedule pipeline_id=%s version_id=%s recurring_run_id=%s uploaded=%s created=%s "
        "deleted=%s",
        pipeline_id,
        version_id,
        recurring_run_id,
        uploaded,
        decision.create,
        list(decision.delete),
    )
    return ScheduleResult(
        pipeline_id=pipeline_id,
        version_id=version_id,
        experiment_id=experiment_id,
        recurring_run_id=recurring_run_id,
        uploaded=uploaded,
        created=decision.create,
        deleted=decision.delete,
    )


def _versions(client: kfp.Client, pipeline_id: str) -> list[VersionView]:
    views, token = [], ""
    while True:
        page = client.list_pipeline_versions(pipeline_id, page_token=token, page_size=PAGE_SIZE)
        views += [
            VersionView(v.pipeline_version_id, v.description or "")
            for v in page.pipeline_versions or []
        ]
        token = page.next_page_token or ""
        if not token:
            return views


def _recurring_runs(client: kfp.Client, experiment_id: str, name: str) -> list[RecurringRunView]:
    by_name = json.dumps(
        {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}
    )
    views, token = [], ""
    while True:
        page = client.list_recurring_runs(
            page_token=token, page_size=PAGE_SIZE, experiment_id=experiment_id, filter=by_name
        )
        views += [_view(run) for run in page.recurring_runs or []]
        token = page.next_page_token or ""
        if not token:
            return views


def _view(run: object) -> RecurringRunView:
    cron = run.trigger.cron_schedule.cron if run.trigger and run.trigger.cron_schedule else ""
    reference = run.pipeline_version_reference
    config = run.runtime_config
    return RecurringRunView(
        name=run.display_name or "",
        version_id=(reference.pipeline_version_id if reference else "") or "",
        cron=cron or "",
        parameters=(config.parameters if config else None) or {},
        pipeline_root=(config.pipeline_root if config else "") or "",
        max_concurrency=int(run.max_concurrency or 1),
        no_catchup=bool(run.no_catchup),
        enabled=run.mode == "ENABLE",
        recurring_run_id=run.recurring_run_id,
    )
