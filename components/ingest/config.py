"""IngestConfig: every knob of the ingest job, checked once."""

from __future__ import annotations

import dataclasses
import datetime as dt

from components.ingest.errors import IngestConfigError
from components.ingest.privacy import PseudonymKey

FORMATS = ("auto", "parquet", "jsonl", "csv")


def parse_timestamp(text: str, *, what: str = "timestamp") -> dt.datetime:
    """Parse an ISO-8601 timestamp; a value without an offset is taken as UTC.

    Raises:
        IngestConfigError: naming ``what`` and the text.
    """
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise IngestConfigError(f"{what}: {text!r} is not an ISO-8601 timestamp") from err
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """Options of one ingest run.

    Attributes:
        format: ``auto`` (from each file's extension) or one of parquet, jsonl, csv for all files.
        now: Rows with a timestamp after this are ``future_timestamp``; None = UTC time at start.
        train_end: First instant of the eval window; None = the 0.8 quantile of valid event ts.
        eval_end: First instant of the test window; None = the 0.9 quantile of valid event ts.
        train_quantile: Quantile used for a missing ``train_end``.
        eval_quantile: Quantile used for a missing ``eval_end``.
        validation_start: First instant of the validation window, the end of the train
            window that model selection holds out (epochs, settings, peers' own settings are
            chosen there, never on the eval window); None = ``validation_share``.
        validation_share: For a missing ``validation_start``: the share of the train window's
            valid events the validation window holds (the start is the ``1 - share`` quantile
            of their times; 0.125 makes it as large as the default eval window).
        batch_rows: Rows per record batch read and validated at a time (bounds memory).
        raw_max_chars: Longest raw-row JSON kept in a quarantine record (longer is cut).
        progress: Print progress lines on stderr.
        pseudonym_key: Secret key of the user-id pseudonyms (``privacy.load_key``); None keeps
            raw ids (development data) and says so in the manifest and a warning. Never shown
            by repr.
    """

    format: str = "auto"
    now: dt.datetime | None = None
    train_end: dt.datetime | None = None
    eval_end: dt.datetime | None = None
    train_quantile: float = 0.8
    eval_quantile: float = 0.9
    validation_start: dt.datetime | None = None
    validation_share: float = 0.125
    batch_rows: int = 262_144
    raw_max_chars: int = 4_096
    progress: bool = True
    pseudonym_key: PseudonymKey | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise IngestConfigError(f"format {self.format!r} is not one of {FORMATS}")
        for name in ("now", "train_end", "eval_end", "validation_start"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, dt.datetime) or value.utcoffset() is None
            ):
                raise IngestConfigError(f"{name} must be a timezone-aware datetime, got {value!r}")
        if (
            self.train_end is not None
            and self.eval_end is not None
            and self.train_end > self.eval_end
        ):
            raise IngestConfigError(
                f"train_end {self.train_end.isoformat()} is after eval_end "
                f"{self.eval_end.isoformat()}"
            )
        if (
            self.validation_start is not None
            and self.train_end is not None
            and self.validation_start > self.train_end
        ):
            raise IngestConfigError(
                f"validation_start {self.validation_start.isoformat()} is after train_end "
                f"{self.train_end.isoformat()}"
            )
        if not 0.0 < self.validation_share < 1.0:
            raise IngestConfigError(
                f"validation_share must be in (0, 1), got {self.validation_share}"
            )
        if not 0.0 < self.train_quantile <= self.eval_quantile < 1.0:
            raise IngestConfigError(
                f"quantiles must satisfy 0 < train ({self.train_quantile}) <= eval "
                f"({self.eval_quantile}) < 1"
            )
        if self.batch_rows < 1:
            raise IngestConfigError(f"batch_rows must be >= 1, got {self.batch_rows}")
        if self.pseudonym_key is not None and not isinstance(self.pseudonym_key, PseudonymKey):
            raise IngestConfigError("pseudonym_key must be a privacy.PseudonymKey")
        if self.raw_max_chars < 16:
            raise IngestConfigError(f"raw_max_chars must be >= 16, got {self.raw_max_chars}")
