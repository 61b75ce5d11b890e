"""The kfp wrapper of transform: artifacts -> paths -> ``job.run``."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def transform(
    data: Input[Dataset],
    beam_args: str,
    examples: Output[Dataset],
    transform_graph: Output[Artifact],
):
    """Build examples per window and run tensorflow-transform (analyzers on train only)."""
    from components.transform.component import execute

    execute(data, beam_args, examples=examples, transform_graph=transform_graph)


def execute(data: Dataset, beam_args: str, *, examples: Dataset, transform_graph: Artifact) -> None:
    """Run the transform; ``beam_args`` is a shell-quoted string of Beam flags."""
    import shlex

    from components.transform.config import TransformConfig
    from components.transform.job import run

    config = TransformConfig(beam_args=tuple(shlex.split(beam_args)))
    manifest = run(data.path, examples.path, transform_graph.path, config)
    examples.metadata.update({f"rows_{k}": v for k, v in manifest["rows"].items()})
    examples.metadata["schema_version"] = manifest["schema_version"]


def build(image: str) -> "BaseComponent":
    """The transform component, running in ``image``."""
    return dsl.component(transform, base_image=image, install_kfp_package=False)
