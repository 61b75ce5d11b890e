"""The kfp wrapper of evaluate: artifacts -> paths -> ``job.run``; returns the verdict."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def evaluate(
    data: Input[Dataset],
    examples: Input[Dataset],
    model: Input[Model],
    model_root: str,
    model_name: str,
    thresholds: str,
    tolerance: float,
    beat_baseline: bool,
    metrics: Output[Metrics],
    evaluation: Output[Artifact],
    blessing: Output[Artifact],
) -> str:
    """Metrics of the candidate, most-popular and the model in service; returns the verdict."""
    from components.evaluate.component import execute

    return execute(
        data,
        examples,
        model,
        model_root,
        model_name,
        thresholds,
        tolerance,
        beat_baseline,
        metrics=metrics,
        evaluation=evaluation,
        blessing=blessing,
    )


BLESSED, NOT_BLESSED = "blessed", "not_blessed"


def execute(
    data: Dataset,
    examples: Dataset,
    model: Model,
    model_root: str,
    model_name: str,
    thresholds: str,
    tolerance: float,
    beat_baseline: bool,
    *,
    metrics: Metrics,
    evaluation: Artifact,
    blessing: Artifact,
) -> str:
    """Evaluate; log the candidate's metrics as kfp Metrics; return ``blessed``/``not_blessed``."""
    from components.evaluate.config import EvaluateConfig
    from components.evaluate.job import CANDIDATE, run

    config = EvaluateConfig.from_json(thresholds, tolerance=tolerance, beat_baseline=beat_baseline)
    result = run(
        data_dir=data.path,
        examples_dir=examples.path,
        model_dir=model.path,
        model_root=model_root,
        model_name=model_name,
        metrics_path=evaluation.path,
        blessing_path=blessing.path,
        config=config,
    )
    for name, value in result["metrics"]["models"][CANDIDATE].items():
        metrics.log_metric(name, value)
    blessed = result["blessing"]["blessed"]
    blessing.metadata.update({"blessed": blessed, "reasons": result["blessing"]["reasons"]})
    return BLESSED if blessed else NOT_BLESSED


def build(image: str) -> "BaseComponent":
    """The evaluate component, running in ``image``."""
    return dsl.component(evaluate, base_image=image, install_kfp_package=False)
