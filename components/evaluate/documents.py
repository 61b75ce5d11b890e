"""Evaluate's two documents, declared once, typed and versioned: the metrics and the blessing.

Evaluate writes them (``job.run``); push, report, ``pipeline.py`` and evaluate's kfp wrapper
read them through ``read_metrics`` / ``read_blessing``. A reader refuses a document of another
version, or one whose fields are not exactly these (it was written by another layout), and
says which file and what to do. Bump a version with any change to its fields.

Nested parts (per-model metric dicts, slices, comparisons, the ranking head and ablation
tables) stay JSON objects; their layout is documented where evaluate builds them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from components import completion

# 2: warm, slices, comparisons (1 was the skeleton's models-only file, which had no such field).
# 3: peers (most_popular now counts distinct users; users without train history are judged).
METRICS_SCHEMA = 3
# 3: latest_sha256 (what LATEST held when evaluate read it; push compares-and-swaps against it)
# and first_night (an audited first-night bootstrap, like forced).
BLESSING_SCHEMA = 3
# Their file names in an evaluate output directory (``python -m components.evaluate --out``).
METRICS_FILE, BLESSING_FILE = "metrics.json", "blessing.json"
# Model names in the metrics (beside extra models, e.g. ``id_only``, and ablation variants).
CANDIDATE, MOST_POPULAR, IN_SERVICE = "candidate", "most_popular", "in_service"


class DocumentError(ValueError):
    """A metrics or blessing document is unreadable, of another version, or has other fields."""


def _json_ready(value: object) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


@dataclasses.dataclass(frozen=True)
class MetricsDocument:
    """Metrics of every model of a run, on the same users (evaluate's ``evaluation``).

    Attributes:
        metrics_schema: This layout's version (``METRICS_SCHEMA``).
        schema_version: The data contract's version (``schemas.SCHEMA_VERSION``).
        eval_users: Users judged (all with eval-window events, or the fixed sample).
        warm_eval_users: Of them, users with a target item seen in the train window.
        catalog_size: Items in the catalog.
        in_service_version: The version in service that was compared, or None.
        protocol: How the users, targets and cut-offs were chosen (``ks``, ...).
        models: Model name -> metric name (``recall@50``, ...) -> value, all targets.
        models_warm: The same on warm targets.
        slices: Slice -> ``{"users", "models": {model: {metric: value}}}``.
        comparisons: Paired bootstrap intervals against the model in service, or None.
        ranking: Model name -> how its rankings were made.
        unavailable: Model name -> why it could not be ranked.
        ranking_head: The ranking head per model (``models``, ``unavailable``, ...).
        peers: How each peer's setting was chosen on validation, and the strongest peer per
            metric with the paired interval of candidate minus it (``judge.peers_doc``).
        ablation: The modality ablation table, or None when no variant was given.
    """

    metrics_schema: int = METRICS_SCHEMA
    schema_version: str = ""
    eval_users: int = 0
    warm_eval_users: int = 0
    catalog_size: int = 0
    in_service_version: str | None = None
    protocol: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    models: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    models_warm: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    slices: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    comparisons: Mapping[str, Any] | None = None
    ranking: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    unavailable: Mapping[str, str] = dataclasses.field(default_factory=dict)
    ranking_head: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    peers: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ablation: Mapping[str, Any] | None = None

    def as_dict(self) -> dict:
        """The JSON object written (and read back)."""
        return _json_ready(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str) -> MetricsDocument:
        """Check the version and fields of a parsed document.

        Raises:
            DocumentError: another version, or other fields (``source`` names the file).
        """
        return cls(**_fields(cls, doc, source=source, what="metrics", version=METRICS_SCHEMA))


@dataclasses.dataclass(frozen=True)
class BlessingDocument:
    """The gate's verdict with every reason and the settings it judged by (``blessing``).

    Attributes:
        blessing_schema: This layout's version (``BLESSING_SCHEMA``).
        blessed: The model may be pushed.
        gate_passed: The quality gates passed on their own (before any force-bless).
        forced: ``{"by", "reason"}`` of a force-bless, or None.
        first_night: ``{"by", "reason"}`` of a first-night bootstrap (judged without a model in
            service although the registry has served one that cannot be read), or None.
        reasons: One line per check, in the order checked.
        in_service_version: The version in service that was compared, or None.
        latest_sha256: sha256 of LATEST's bytes when evaluate read it (None: no LATEST); push
            moves LATEST only if it still holds exactly these bytes.
        model_digest: ``registry.digest.model_digest`` of the judged model (push checks it).
        infra: The fresh-process infra validation (``ok``, ``detail``, ``seconds``), or None.
        thresholds, compared, tolerance, protected_slices, slice_tolerance, confidence,
            bootstrap_resamples: The gate settings (``EvaluateConfig``).
    """

    blessing_schema: int = BLESSING_SCHEMA
    blessed: bool = False
    gate_passed: bool = False
    forced: Mapping[str, str] | None = None
    first_night: Mapping[str, str] | None = None
    reasons: Sequence[str] = ()
    in_service_version: str | None = None
    latest_sha256: str | None = None
    model_digest: str | None = None
    infra: Mapping[str, Any] | None = None
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    compared: Sequence[str] = ()
    tolerance: float = 0.0
    protected_slices: Sequence[str] = ()
    slice_tolerance: float = 0.0
    confidence: float = 0.0
    bootstrap_resamples: int = 0

    def as_dict(self) -> dict:
        """The JSON object written (and read back)."""
        return _json_ready(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], *, source: str) -> BlessingDocument:
        """Check the version and fields of a parsed document.

        Raises:
            DocumentError: another version, or other fields (``source`` names the file).
        """
        return cls(**_fields(cls, doc, source=source, what="blessing", version=BLESSING_SCHEMA))


def _fields(cls: type, doc: Mapping[str, Any], *, source: str, what: str, version: int) -> dict:
    if not isinstance(doc, Mapping):
        raise DocumentError(f"{source}: the {what} is not a JSON object")
    key = f"{what}_schema"
    if doc.get(key) != version:
        raise DocumentError(
            f"{source}: {what} schema {doc.get(key)!r}, this code reads {version}; re-run evaluate"
        )
    names = [f.name for f in dataclasses.fields(cls)]
    missing, extra = sorted(set(names) - set(doc)), sorted(set(doc) - set(names))
    if missing or extra:
        raise DocumentError(
            f"{source}: {what} schema {version} without fields {missing} or with unknown "
            f"fields {extra}; re-run evaluate"
        )
    return {name: doc[name] for name in names}


def _read(path: str, what: str) -> Mapping[str, Any]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DocumentError(f"{path}: cannot read the {what} ({e})") from e


def read_metrics(path: str) -> MetricsDocument:
    """The metrics document at ``path``.

    Raises:
        DocumentError: unreadable, another version, or other fields.
    """
    return MetricsDocument.from_dict(_read(path, "metrics"), source=path)


def read_blessing(path: str) -> BlessingDocument:
    """The blessing document at ``path``.

    Raises:
        DocumentError: unreadable, another version, or other fields.
    """
    return BlessingDocument.from_dict(_read(path, "blessing"), source=path)


def write(path: str, document: MetricsDocument | BlessingDocument) -> None:
    """Write a document whole (``completion.write_manifest``: a reader never sees half)."""
    completion.write_manifest(path, document.as_dict())
