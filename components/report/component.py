"""The kfp wrapper of report: artifacts -> paths -> ``job.run``."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Markdown, Model, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def report(
    data: Input[Dataset],
    examples: Input[Dataset],
    model: Input[Model],
    evaluation: Input[Artifact],
    blessing: Input[Artifact],
    summary: Output[Markdown],
    page: Output[HTML],
    k_anonymity: int = 10,
):
    """Write the run's analyst page (HTML) and its summary (Markdown)."""
    from components.report.component import execute

    execute(data, examples, model, evaluation, blessing, summary, page, k_anonymity)


def execute(
    data: Dataset,
    examples: Dataset,
    model: Model,
    evaluation: Artifact,
    blessing: Artifact,
    summary: Markdown,
    page: HTML,
    k_anonymity: int,
) -> None:
    """Artifacts to paths, ``job.run``, then the page's facts into the artifacts' metadata."""
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from components.report.config import ReportConfig
    from components.report.job import run

    run(
        data_dir=data.path,
        metrics_path=evaluation.path,
        blessing_path=blessing.path,
        out_path=summary.path,
        examples_dir=examples.path,
        model_dir=model.path,
        html_path=page.path,
        config=ReportConfig(k_anonymity=k_anonymity),
    )
    page.metadata.update({"k_anonymity": k_anonymity, "bytes": os.path.getsize(page.path)})


def build(image: str) -> "BaseComponent":
    """The report component, running in ``image``."""
    return dsl.component(report, base_image=image, install_kfp_package=False)
