"""How long a gs:// call keeps retrying, and what counts as a storage fault after it.

Shared by ingest (reading raw input) and push (writing versions): every call uses the
google-cloud-storage client's ``DEFAULT_RETRY`` (connection refused or reset, timeouts, 408,
429, 5xx; jittered exponential back-off) bounded by ``$SHOPREC_GCS_RETRY_DEADLINE_S`` seconds
(default 120), and each HTTP request times out after ``min(60, deadline)`` s. What still fails
is one of ``faults()``; each caller turns it into its own one-line error naming the object.
"""

from __future__ import annotations

import math
import os

RETRY_DEADLINE_ENV = "SHOPREC_GCS_RETRY_DEADLINE_S"
DEFAULT_RETRY_DEADLINE_S = 120.0
HTTP_TIMEOUT_S = 60.0


def retry_deadline(error: type[Exception] = ValueError) -> float:
    """Seconds a gs:// call keeps retrying: ``$SHOPREC_GCS_RETRY_DEADLINE_S`` or 120.

    Raises:
        error: the variable is set but not a positive number.
    """
    raw = os.environ.get(RETRY_DEADLINE_ENV, "").strip()
    if not raw:
        return DEFAULT_RETRY_DEADLINE_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise error(f"{RETRY_DEADLINE_ENV}={raw!r}: expected a positive number of seconds")
    return value


def retry_and_timeout(deadline: float):
    """The client's default retry bounded by ``deadline``, and the per-request HTTP timeout."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(deadline), min(HTTP_TIMEOUT_S, deadline)


def faults() -> tuple[type[BaseException], ...]:
    """What the client raises for a storage or transport fault (after its retries)."""
    import http.client

    import requests
    import urllib3
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import TransportError
    from google.cloud.storage.exceptions import DataCorruption, InvalidResponse

    return (
        GoogleAPIError,  # includes RetryError, raised when the deadline passes
        TransportError,
        InvalidResponse,
        DataCorruption,
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        ConnectionError,
    )
