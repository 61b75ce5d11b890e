"""The kfp wrapper of evaluate: artifacts -> paths -> ``job.run``; returns the verdict."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.evaluate.config import GateOptions

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
    beat_peers: bool,
    protected_slices: str,
    slice_tolerance: float,
    force_bless_by: str,
    force_bless_reason: str,
    first_night_by: str,
    first_night_reason: str,
    max_users: int,
    metrics: Output[Metrics],
    evaluation: Output[Artifact],
    blessing: Output[Artifact],
    baseline_model: Input[Model] = None,
    ablation_models: Input[list[Model]] = None,
) -> str:
    """Metrics of the candidate, baselines and the model in service; returns the verdict.

    The gate's inputs are ``config.GateOptions`` (no defaults here: the pipeline passes its
    run parameters, whose defaults are GateOptions').
    """
    from components.evaluate.component import GateOptions, execute

    return execute(
        data,
        examples,
        model,
        model_root,
        model_name,
        GateOptions(
            thresholds=thresholds,
            tolerance=tolerance,
            beat_peers=beat_peers,
            protected_slices=protected_slices,
            slice_tolerance=slice_tolerance,
            force_bless_by=force_bless_by,
            force_bless_reason=force_bless_reason,
            first_night_by=first_night_by,
            first_night_reason=first_night_reason,
            max_users=max_users,
        ),
        metrics=metrics,
        evaluation=evaluation,
        blessing=blessing,
        baseline_model=baseline_model,
        ablation_models=ablation_models,
    )


BLESSED, NOT_BLESSED = "blessed", "not_blessed"
ID_ONLY = "id_only"


def execute(
    data: Dataset,
    examples: Dataset,
    model: Model,
    model_root: str,
    model_name: str,
    gate: GateOptions,
    *,
    metrics: Metrics,
    evaluation: Artifact,
    blessing: Artifact,
    baseline_model: Model | None = None,
    ablation_models: list[Model] | None = None,
) -> str:
    """Evaluate; log the candidate's metrics as kfp Metrics; return ``blessed``/``not_blessed``.

    kfp Metrics: the candidate's ranking metrics (all and ``warm_`` targets), its ranking head
    (``ranking_auc``, ...), and with ``ablation_models`` the ablation table (``ablation_...``).
    """
    from components.evaluate import ablation, ranking_head
    from components.evaluate.documents import CANDIDATE
    from components.evaluate.job import run

    doc, verdict = run(
        data_dir=data.path,
        examples_dir=examples.path,
        model_dir=model.path,
        model_root=model_root,
        model_name=model_name,
        metrics_path=evaluation.path,
        blessing_path=blessing.path,
        config=gate.config(),
        extra_models={ID_ONLY: baseline_model.path} if baseline_model is not None else None,
        ablation_models=[m.path for m in ablation_models or ()],
    )
    for name, value in doc.models.get(CANDIDATE, {}).items():
        metrics.log_metric(name, value)
    for name, value in doc.models_warm.get(CANDIDATE, {}).items():
        metrics.log_metric(f"warm_{name}", value)
    head = doc.ranking_head.get("models", {}).get(CANDIDATE)
    table = (doc.ablation or {}).get("variants", {})
    entries = ranking_head.metric_entries(head) | ablation.metric_entries(table)
    for name, value in entries.items():
        metrics.log_metric(name, value)
    blessing.metadata.update(
        {
            "blessed": verdict.blessed,
            "gate_passed": verdict.gate_passed,
            "forced": verdict.forced,
            "first_night": verdict.first_night,
            "in_service_version": verdict.in_service_version,
            "reasons": list(verdict.reasons),
        }
    )
    evaluation.metadata.update({"eval_users": doc.eval_users, "catalog": doc.catalog_size})
    return BLESSED if verdict.blessed else NOT_BLESSED


def build(image: str) -> "BaseComponent":
    """The evaluate component, running in ``image``."""
    return dsl.component(evaluate, base_image=image, install_kfp_package=False)
