"""The kfp wrapper of the run-parameter check: the pipeline's first task, never retried."""

from typing import TYPE_CHECKING

from kfp import dsl

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def validate(
    raw_uri: str,
    model_root: str,
    train_end: str,
    eval_end: str,
    now: str,
    beam_args: str,
    shards: int,
    epochs: int,
    batch_size: int,
    embedding_dim: int,
    modalities: str,
    gpu_count: int,
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
):
    """The pipeline's first task: every run parameter checked (``check_run_parameters``)."""
    from components.evaluate.config import GateOptions
    from components.parameters import check_run_parameters

    check_run_parameters(
        raw_uri=raw_uri,
        model_root=model_root,
        train_end=train_end,
        eval_end=eval_end,
        now=now,
        beam_args=beam_args,
        shards=shards,
        epochs=epochs,
        batch_size=batch_size,
        embedding_dim=embedding_dim,
        modalities=modalities,
        gpu_count=gpu_count,
        gate=GateOptions(
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
    )


def build(image: str) -> "BaseComponent":
    """The parameter check as a kfp component, running in ``image``."""
    return dsl.component(validate, base_image=image, install_kfp_package=False)
