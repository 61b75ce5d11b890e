"""Push failures: one class per kind."""


class PushError(RuntimeError):
    """Base of push failures."""


class PushConflict(PushError):
    """The version being pushed exists already (or is claimed); versions are never overwritten."""


class CorruptVersion(PushError):
    """A version's files do not match its manifest (missing, changed, or no manifest)."""


class StaleInput(PushError):
    """An input to push is from an older schema or another model (e.g. a stale blessing)."""


class StorageUnavailable(PushError):
    """gs:// stayed unreachable or kept failing until the retry deadline; LATEST not moved."""
