"""The kfp wrapper of train: artifacts -> paths -> ``job.run``."""

from typing import TYPE_CHECKING

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Model, Output

if TYPE_CHECKING:  # importing it at run time is circular inside the kfp executor
    from kfp.dsl.base_component import BaseComponent


def train(
    examples: Input[Dataset],
    transform_graph: Input[Artifact],
    epochs: int,
    batch_size: int,
    embedding_dim: int,
    model: Output[Model],
    modalities: str = "all",
):
    """Train the two-tower retrieval model and export it with its transform graph."""
    from components.train.component import execute

    execute(examples, transform_graph, epochs, batch_size, embedding_dim, modalities, model=model)


def execute(
    examples: Dataset,
    transform_graph: Artifact,
    epochs: int,
    batch_size: int,
    embedding_dim: int,
    modalities: str,
    *,
    model: Model,
) -> None:
    """Train into ``model``; its metadata gets the final loss and the items indexed."""
    from components.train.config import TrainConfig, parse_modalities
    from components.train.job import run

    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        embedding_dim=embedding_dim,
        modalities=parse_modalities(modalities),
    )
    manifest = run(
        examples_dir=examples.path,
        transform_dir=transform_graph.path,
        model_dir=model.path,
        config=config,
    )
    model.metadata.update(
        {k: manifest[k] for k in ("final_loss", "items_indexed", "train_seconds", "schema_version")}
    )
    model.metadata["modalities"] = manifest["config"]["modalities"]


def build(image: str) -> "BaseComponent":
    """The train component, running in ``image``."""
    return dsl.component(train, base_image=image, install_kfp_package=False)
