"""Model-root failures: one class per kind."""


class RegistryError(RuntimeError):
    """Base of model-root failures (reading, verifying or writing versions)."""


class VersionConflict(RegistryError):
    """An object of a version exists already (or the version is claimed); never overwritten."""


class CorruptVersion(RegistryError):
    """A version's files do not match its manifest (missing, changed, or no manifest)."""


class StorageUnavailable(RegistryError):
    """gs:// stayed unreachable or kept failing until the retry deadline; LATEST not moved."""


class LatestMoved(RegistryError):
    """LATEST changed since it was read (compare-and-swap refused); it was not written."""


class DamagedLatest(RegistryError):
    """LATEST holds something that is not the name of a version (binary, garbage, a path)."""


class UnknownVersion(RegistryError):
    """A version name that is not a complete version of this root (e.g. ``../other/V``)."""
