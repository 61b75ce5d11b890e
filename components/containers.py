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


@dataclasses.dataclass(frozen=True)
class TaskSettings:
    """What one compiled task asks the cluster for, and how often it is retried.

    Attributes:
        cpu: CPU request (cores; no limit, so a task may use idle cores).
        memory: Memory request: the peak RSS the benchmark measured for the stage
            (``bench-results/``) with about 40% headroom; for the steps the benchmark does not
            run, an estimate (see ``TASKS``).
        memory_limit: Twice the request: a stage that grows past it is killed (OOM) and
            retried, instead of starving its node.
        retries: Retries on failure. KFP v2 retries a failed task whatever the cause (its retry
            policy cannot tell exit codes apart), so only stages whose failures can be
            transient (gs:// I/O past its in-process retries, a preempted or OOM-killed node)
            are retried; the run parameters are checked first by ``validate``, which is never
            retried, so a bad parameter fails there once instead of retraining three times.
    """

    cpu: str
    memory: str
    memory_limit: str
    retries: int


# Peak RSS, 10M events / 1M users (BENCH_SCALE, bench-results/latest.json "scale_10000000"):
# ingest 0.89 GiB, transform 2.14 GiB, train 3.31 GiB, evaluate 3.25 GiB. validate, report, push
# and keep are not in the benchmark: estimates, not measurements (validate parses strings; push
# copies files; report and keep load one SavedModel and today's catalog).
TASKS: dict[str, TaskSettings] = {
    "validate": TaskSettings(cpu="0.5", memory="256Mi", memory_limit="512Mi", retries=0),
    "ingest": TaskSettings(cpu="2", memory="1280Mi", memory_limit="2560Mi", retries=2),
    "transform": TaskSettings(cpu="2", memory="3072Mi", memory_limit="6144Mi", retries=2),
    "train": TaskSettings(cpu="2", memory="4608Mi", memory_limit="9216Mi", retries=2),
    "evaluate": TaskSettings(cpu="2", memory="4608Mi", memory_limit="9216Mi", retries=2),
    "report": TaskSettings(cpu="1", memory="1536Mi", memory_limit="3072Mi", retries=1),
    "push": TaskSettings(cpu="1", memory="512Mi", memory_limit="1024Mi", retries=2),
    "keep": TaskSettings(cpu="1", memory="1536Mi", memory_limit="3072Mi", retries=2),
}
# Back-off between retries: 60 s, 120 s (a storage outage outlasting the in-process deadline).
RETRY_BACKOFF = {"backoff_duration": "60s", "backoff_factor": 2.0, "backoff_max_duration": "1800s"}
