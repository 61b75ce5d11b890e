"""The kfp wrapper of push: artifacts -> paths -> ``job.run``."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def push(
    data: Input[Dataset],
    model: Input[Model],
    evaluation: Input[Artifact],
    blessing: Input[Artifact],
    model_root: str,
    model_name: str,
    pushed: Output[Artifact],
    transform_graph: Input[Artifact] = None,
) -> str:
    """Publish a blessed model as a new immutable version and move LATEST; returns the version."""
    from components.push.component import execute

    return execute(
        data,
        model,
        evaluation,
        blessing,
        model_root,
        model_name,
        pushed=pushed,
        transform_graph=transform_graph,
    )


def execute(
    data: Dataset,
    model: Model,
    evaluation: Artifact,
    blessing: Artifact,
    model_root: str,
    model_name: str,
    *,
    pushed: Artifact,
    transform_graph: Artifact | None = None,
) -> str:
    """Push; the version's manifest is also written to ``pushed``."""
    import json
    import os

    from components.ingest import layout
    from components.push.job import run

    manifest = run(
        model_dir=model.path,
        metrics_path=evaluation.path,
        blessing_path=blessing.path,
        data_manifest_path=os.path.join(data.path, layout.MANIFEST),
        model_root=model_root,
        model_name=model_name,
        transform_dir=transform_graph.path if transform_graph is not None else None,
    )
    with open(pushed.path, "w") as f:
        json.dump(manifest, f, indent=2)
    pushed.metadata.update(
        {
            "version": manifest["version"],
            "path": manifest["path"],
            "parent_version": manifest["parent_version"],
            "forced": manifest["blessing"]["forced"],
        }
    )
    return manifest["version"]


def keep(
    data: Input[Dataset],
    examples: Input[Dataset],
    evaluation: Input[Artifact],
    blessing: Input[Artifact],
    model_root: str,
    model_name: str,
    kept: Output[Artifact],
) -> str:
    """On a refused night: the model in service, restricted to today's catalog if needed."""
    from components.push.component import execute_keep

    return execute_keep(data, examples, evaluation, blessing, model_root, model_name, kept=kept)


def execute_keep(
    data: Dataset,
    examples: Dataset,
    evaluation: Artifact,
    blessing: Artifact,
    model_root: str,
    model_name: str,
    *,
    kept: Artifact,
) -> str:
    """Keep (``components.push.keep``); what was done is written to ``kept``."""
    import json

    from components.push.keep import keep as keep_in_service

    done = keep_in_service(
        data_dir=data.path,
        examples_dir=examples.path,
        metrics_path=evaluation.path,
        blessing_path=blessing.path,
        model_root=model_root,
        model_name=model_name,
    )
    with open(kept.path, "w") as f:
        json.dump(done, f, indent=2)
    kept.metadata.update(
        {"version": done["version"], "unchanged": done["unchanged"], "delisted": done["delisted"]}
    )
    return done["version"] or ""


def build(image: str) -> "BaseComponent":
    """The push component, running in ``image``."""
    return dsl.component(push, base_image=image, install_kfp_package=False)


def build_keep(image: str) -> "BaseComponent":
    """The keep component (refused nights), running in ``image``."""
    return dsl.component(keep, base_image=image, install_kfp_package=False)
