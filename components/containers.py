"""Where the compiled pipeline's steps run: container images, and the trainer's accelerator.

The same pipeline compiles for two orchestrators (``Target``). They name accelerators
differently, and only Kubeflow Pipelines on Kubernetes reads the kfp-kubernetes platform section
(node selector, toleration) that places the GPU trainer on a GPU node pool.
"""

from __future__ import annotations

import dataclasses
import enum

DEFAULT_REGISTRY = "ghcr.io/shoprec"
DEFAULT_TAG = "0.1.0"

# The taint GPU node pools carry on GKE, EKS and the NVIDIA GPU operator's default set-up; a
# toleration for it is harmless where no node has the taint.
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


class Target(enum.Enum):
    """The orchestrator a compiled pipeline is meant for."""

    KFP = "kfp"  # Kubeflow Pipelines on Kubernetes
    VERTEX = "vertex"  # Vertex AI Pipelines

    @property
    def default_accelerator(self) -> str:
        """The trainer's accelerator type unless the ``gpu_type`` run parameter says otherwise.

        KFP asks Kubernetes for the extended resource; Vertex AI takes a machine accelerator
        name (NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100, ...).
        """
        return {Target.KFP: "nvidia.com/gpu", Target.VERTEX: "NVIDIA_L4"}[self]

    @property
    def places_with_kubernetes(self) -> bool:
        """Whether the trainer gets a kfp-kubernetes node selector and GPU toleration.

        Vertex AI schedules by accelerator type alone, and its loader rejects the second YAML
        document kfp-kubernetes adds (kubeflow/pipelines#11241), so the section is left out.
        """
        return self is Target.KFP


@dataclasses.dataclass(frozen=True)
class Images:
    """Image references for CPU steps and the (optionally GPU) trainer.

    Attributes:
        cpu: Image for every step (built from docker/cpu.Dockerfile).
        gpu: Image for the trainer when GPU is on (built from docker/gpu.Dockerfile).
    """

    cpu: str = f"{DEFAULT_REGISTRY}/shoprec-cpu:{DEFAULT_TAG}"
    gpu: str = f"{DEFAULT_REGISTRY}/shoprec-gpu:{DEFAULT_TAG}"

    def __post_init__(self) -> None:
        for field in ("cpu", "gpu"):
            value = getattr(self, field)
            if not value or any(c.isspace() for c in value):
                raise ValueError(f"Images.{field} is not an image reference: {value!r}")

    @classmethod
    def for_registry(cls, registry: str, tag: str) -> Images:
        """Both images under ``registry`` with ``tag``."""
        registry = registry.rstrip("/")
        return cls(cpu=f"{registry}/shoprec-cpu:{tag}", gpu=f"{registry}/shoprec-gpu:{tag}")
