"""``python -m components.schedule --host URL --package build/pipeline.yaml --param k=v ...``.

Uploads the compiled pipeline (once per distinct YAML) and creates or replaces the nightly
recurring run; running it again with the same inputs changes nothing on the host.
"""

from __future__ import annotations

import argparse
import logging
import sys

from components.schedule.config import NIGHTLY_CRON, ScheduleConfig, ScheduleConfigError


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    """Parse flags, connect a kfp.Client, deploy the schedule, print the ids."""
    defaults = ScheduleConfig()
    parser = argparse.ArgumentParser(prog="python -m components.schedule", description=__doc__)
    parser.add_argument(
        "--host", required=True, help="KFP API endpoint, e.g. http://localhost:8888"
    )
    parser.add_argument("--package", default="build/pipeline.yaml", help="compiled pipeline YAML")
    parser.add_argument("--cron", default=NIGHTLY_CRON, help="6 fields, seconds first (UTC)")
    parser.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="run parameter (repeat); typed by the pipeline's declaration",
    )
    parser.add_argument("--pipeline-name", default=defaults.pipeline_name)
    parser.add_argument("--experiment", default=defaults.experiment)
    parser.add_argument("--schedule-name", default=defaults.schedule_name)
    parser.add_argument("--pipeline-root", default="", help="gs://... (default: the host's)")
    parser.add_argument("--namespace", default="", help="multi-user KFP namespace")
    parser.add_argument("--existing-token", default=None, help="bearer token for the host")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    import kfp
    import urllib3

    from components.schedule.deploy import deploy_schedule

    try:
        config = ScheduleConfig(
            pipeline_name=args.pipeline_name,
            experiment=args.experiment,
            schedule_name=args.schedule_name,
            cron=args.cron,
            parameters=dict(args.param),
            pipeline_root=args.pipeline_root,
            namespace=args.namespace,
        )
        client = kfp.Client(
            host=args.host,
            namespace=args.namespace or "kubeflow",
            existing_token=args.existing_token,
        )
        result = deploy_schedule(client, package_path=args.package, config=config)
    except ScheduleConfigError as err:
        print(f"schedule: {err}", file=sys.stderr)
        return 2
    except (OSError, urllib3.exceptions.HTTPError) as err:  # refused, DNS, timeout
        reason = getattr(err, "reason", None) or err
        print(f"schedule: cannot reach the KFP host {args.host} ({reason})", file=sys.stderr)
        return 2
    print(
        f"pipeline {result.pipeline_id} version {result.version_id} "
        f"({'uploaded' if result.uploaded else 'already there'}); recurring run "
        f"{result.recurring_run_id} ({'created' if result.created else 'unchanged'})"
        + (f"; replaced {', '.join(result.deleted)}" if result.deleted else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
