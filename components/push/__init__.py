"""Push: publish blessed models as immutable versions under a model root, with a LATEST pointer."""
