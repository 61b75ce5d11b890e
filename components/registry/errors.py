"""Model-root failures: one class per kind."""


class RegistryError(RuntimeError):
    """Base of model-root failures (reading, verifying or writing versions)."""


class VersionConflict(RegistryError):
    """An object of a version exists already (or the version is claimed); never overwritten."""


class CorruptVersion(RegistryError):
    """A version's files do not match its manifest (missing, changed, or no manifest)."""


class StorageUnavailable(RegistryError):
    """gs:// stayed unreachable or kept failing until the retry deadline; LATEST not moved."""
