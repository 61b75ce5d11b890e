"""The kfp wrapper of ingest: artifacts -> paths -> ``job.run``."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Dataset, Markdown, Metrics, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def ingest(
    raw_uri: str,
    train_end: str,
    eval_end: str,
    now: str,
    data: Output[Dataset],
    quality: Output[Markdown],
    counts: Output[Metrics],
):
    """Validate raw tables into canonical Parquet, quarantine bad rows, split by time.

    User ids are pseudonymized when the container has a key: the platform mounts the secret as
    a file named by ``SHOPREC_PSEUDONYM_KEY_FILE`` (or sets ``SHOPREC_PSEUDONYM_KEY``). The key
    is never a pipeline parameter: parameters are stored in run metadata.
    """
    from components.ingest.component import execute

    execute(raw_uri, train_end, eval_end, now, data=data, quality=quality, counts=counts)


def execute(
    raw_uri: str,
    train_end: str,
    eval_end: str,
    now: str,
    *,
    data: Dataset,
    quality: Markdown,
    counts: Metrics,
) -> None:
    """Run ingest into ``data``; empty timestamp strings mean "derive it" (see IngestConfig)."""
    import os
    import shutil

    from components.ingest import layout, privacy
    from components.ingest.config import IngestConfig, parse_timestamp
    from components.ingest.job import run

    def when(text: str, what: str):
        return parse_timestamp(text, what=what) if text else None

    config = IngestConfig(
        train_end=when(train_end, "train_end"),
        eval_end=when(eval_end, "eval_end"),
        now=when(now, "now"),
        progress=False,
        pseudonym_key=privacy.load_key(os.environ),
    )
    manifest = run(raw_uri, data.path, config)
    shutil.copyfile(f"{data.path}/{layout.QUALITY_MD}", quality.path)
    for table, figures in manifest["tables"].items():
        for key in ("read", "valid", "quarantined"):
            counts.log_metric(f"{table}.{key}", figures[key])
    data.metadata["schema_version"] = manifest["schema_version"]
    data.metadata["pseudonymized"] = manifest["pseudonymized"]


def build(image: str) -> "BaseComponent":
    """The ingest component, running in ``image``."""
    return dsl.component(ingest, base_image=image, install_kfp_package=False)
