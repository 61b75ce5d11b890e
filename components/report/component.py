"""The kfp wrapper of report: artifacts -> paths -> ``job.run``."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def report(
    data: Input[Dataset],
    evaluation: Input[Artifact],
    blessing: Input[Artifact],
    summary: Output[Markdown],
):
    """Write the run's summary page for analysts."""
    from components.report.job import run

    run(
        data_dir=data.path,
        metrics_path=evaluation.path,
        blessing_path=blessing.path,
        out_path=summary.path,
    )


def build(image: str) -> "BaseComponent":
    """The report component, running in ``image``."""
    return dsl.component(report, base_image=image, install_kfp_package=False)
