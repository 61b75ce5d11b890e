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
    shards: int = 0,
):
    """Build examples per window and run tensorflow-transform (analyzers on train only)."""
    from components.transform.component import execute

    execute(data, beam_args, examples=examples, transform_graph=transform_graph, shards=shards)


def execute(
    data: Dataset,
    beam_args: str,
    *,
    examples: Dataset,
    transform_graph: Artifact,
    shards: int = 0,
) -> None:
    """Run the transform; ``beam_args`` is a shell-quoted string of Beam flags.

    ``shards``: key shards of the Beam feature build (0: from the size of the events).
    """
    import shlex

    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    from components.transform.config import TransformConfig
    from components.transform.job import run

    config = TransformConfig(beam_args=tuple(shlex.split(beam_args)), shards=shards)
    runner = PipelineOptions(list(config.beam_args)).view_as(StandardOptions).runner
    remote = runner not in (None, "DirectRunner", "direct", "PrismRunner")

    def location(artifact: Dataset | Artifact) -> str:
        # Remote Beam workers cannot see this pod's local mount of an artifact: use its URI.
        uri = artifact.uri or ""
        return uri if remote and uri.startswith("gs://") else artifact.path

    manifest = run(location(data), location(examples), location(transform_graph), config)
    examples.metadata.update({f"rows_{k}": v for k, v in manifest["rows"].items()})
    examples.metadata["schema_version"] = manifest["schema_version"]
    examples.metadata["shards"] = manifest["shards"]


def build(image: str) -> "BaseComponent":
    """The transform component, running in ``image``."""
    return dsl.component(transform, base_image=image, install_kfp_package=False)
