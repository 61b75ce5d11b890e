"""Container images the components run in; the pipeline is compiled against one of each."""

from __future__ import annotations

import dataclasses

DEFAULT_REGISTRY = "ghcr.io/shoprec"
DEFAULT_TAG = "0.1.0"


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
