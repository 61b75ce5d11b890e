"""The model in service as evaluate finds it: what LATEST held, the version, a local copy.

The gate fails closed: a registry that has served a model (LATEST exists, or complete versions
exist) but whose model in service cannot be read is a refusal, not "nothing in service"
(``gates``). Only an empty root is a first night. What LATEST held is recorded byte for byte
(``latest_sha256``) so that push moves LATEST only if nothing changed since (compare-and-swap).
"""

from __future__ import annotations

import dataclasses
import os

from components.registry.errors import RegistryError
from components.registry.model_root import MODEL_SUBDIR, ModelRoot


@dataclasses.dataclass(frozen=True)
class InService:
    """The model in service, or why it cannot be compared.

    Attributes:
        version: The version LATEST names (None: no LATEST, or damaged).
        latest_sha256: sha256 of LATEST's bytes as read (None: no LATEST).
        model_dir: A local copy of its train output (``<version>/model``), or None.
        problem: Why a registry that has served a model has none to compare against, or None
            (nothing was ever pushed, or the copy is there).
    """

    version: str | None = None
    latest_sha256: str | None = None
    model_dir: str | None = None
    problem: str | None = None


def find_in_service(model_root: str, model_name: str, scratch: str) -> InService:
    """Read LATEST and fetch (and verify) the version it names into ``scratch`` if needed.

    Never raises for a damaged or unreachable registry: that is ``InService.problem``.
    """
    try:
        root = ModelRoot(model_root)
        latest = root.latest(model_name)
    except (RegistryError, OSError) as e:
        return InService(problem=f"model root {model_root} unreadable ({e})")
    if latest.raw is None:
        try:
            versions = root.list_versions(model_name)
        except (RegistryError, OSError) as e:
            return InService(problem=f"model root {model_root} unreadable ({e})")
        if not versions:
            return InService()  # a first night: nothing was ever pushed
        return InService(
            problem=f"{root.store.path(model_name)}/LATEST is missing although {len(versions)} "
            f"complete version(s) exist ({versions[-1]} the newest)"
        )
    if latest.problem is not None:
        return InService(latest_sha256=latest.sha256, problem=latest.problem)
    try:
        home = root.fetch_version(model_name, latest.version, scratch)
    except (RegistryError, OSError) as e:
        return InService(latest.version, latest.sha256, problem=str(e))
    return InService(latest.version, latest.sha256, model_dir=os.path.join(home, MODEL_SUBDIR))
