"""Push failures: one class per kind (model-root failures: ``components.registry.errors``)."""

from components.registry.errors import RegistryError


class PushError(RegistryError):
    """Base of push failures: a version not written whole, or a refused input."""


class StaleInput(PushError):
    """An input to push is from an older schema or another model (e.g. a stale blessing)."""


class MissingInput(PushError):
    """An input directory or file of push does not exist (a mistyped path, a step not run)."""
