"""The ingest job: raw input -> canonical split Parquet, quarantine, manifest, quality report.

``run`` is the single entry point (CLI and kfp component). Tables are read in contract order, so
users and items are complete before the tables that reference them; events and reviews are
staged as canonical Parquet and split once the cut-offs are known (quantiles of the valid event
times need the whole events table first; only its ts column is kept in memory).
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime as dt
import logging
import pathlib
import sys

import numpy as np
import pyarrow as pa

import schemas
from components.ingest import layout, listing, privacy, quality, readers, sinks
from components.ingest.config import IngestConfig
from components.ingest.dedup import SeenKeys
from components.ingest.errors import IngestConfigError, IngestError, InputNotFoundError
from components.ingest.formats import RawBatch
from components.ingest.quarantine import (
    DROPPED_SCHEMA,
    QUARANTINE_SCHEMA,
    dropped_records,
    quarantine_records,
    records_table,
)
from components.ingest.reasons import Reason
from components.ingest.split import quantile_cutoffs, split_by_time, validation_cutoff
from components.ingest.validate import finish_batch, prepare_batch
from components.progress import Progress

logger = logging.getLogger(__name__)

REQUIRED_TABLES = (schemas.USERS.name, schemas.ITEMS.name, schemas.EVENTS.name)
STAGING_DIR = "_staging"
# Batches validated at once (each on a thread); more only helps with more cores.
WORKERS = 2


@dataclasses.dataclass
class _TableResult:
    read: int = 0
    valid: int = 0
    quarantined: int = 0
    by_reason: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    all_reasons: dict = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    splits: dict = dataclasses.field(default_factory=dict)
    scrubbed: dict = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    dropped: dict = dataclasses.field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    extra_columns: set = dataclasses.field(default_factory=set)


def run(input_uri: str, out_dir: str, config: IngestConfig) -> dict:
    """Ingest every contract table found under ``input_uri`` into ``out_dir``.

    Args:
        input_uri: Local directory or ``gs://bucket/prefix`` with the raw tables.
        out_dir: Output directory (created); see ``layout`` for what goes where.
        config: Options.

    Returns:
        The manifest (also written to ``<out_dir>/manifest.json``).

    Raises:
        InputNotFoundError: the input or a required table (users, items, events) is missing.
        InputFormatError: a file is not the format it claims or is unreadable.
        IngestConfigError: the cut-offs end up reversed.
    """
    now = config.now or dt.datetime.now(dt.UTC)
    inputs, unmatched = listing.scan_inputs(input_uri, format=config.format)
    if unmatched:
        logger.warning(
            "files matching no table were skipped count=%d first=%s", len(unmatched), unmatched[0]
        )
    missing = [name for name in REQUIRED_TABLES if name not in inputs]
    if missing:
        wanted = ", ".join(f"{input_uri.rstrip('/')}/{m}[.ext|/part-*]" for m in missing)
        raise InputNotFoundError(f"required table(s) {missing} not found: expected {wanted}")
    out = pathlib.Path(out_dir)
    sinks.ensure_dir(out)
    # Uncommitted first: a rerun killed part-way must not leave an older manifest vouching for
    # files it was replacing (the manifest is written again last; see components.completion).
    sinks.remove(out / layout.MANIFEST)
    key = config.pseudonym_key
    pseudonyms = privacy.Pseudonyms(key) if key is not None else None
    referenced = {(t, c) for table in schemas.TABLES for _, t, c in table.foreign_keys()}
    known: dict[str, pa.Array] = {}
    cutoffs: tuple[dt.datetime, dt.datetime] | None = None
    cutoff_source = "config"
    validation_start: dt.datetime | None = None
    results: dict[str, _TableResult] = {}
    reports: dict[str, dict] = {}
    event_ts: list[np.ndarray] = []
    for table in schemas.TABLES:
        files = inputs.get(table.name, [])
        if not files:
            logger.info("table=%s absent from input: 0 rows", table.name)
        keep = [c for t, c in referenced if t == table.name]
        timed = table.name in layout.TIME_SPLIT_TABLES
        target = (
            out / STAGING_DIR / f"{table.name}.arrow"
            if timed
            else layout.table_path(out, table.name, layout.ALL)
        )
        ids: dict[str, list[pa.Array]] = {c: [] for c in keep}
        ts_out = event_ts if table.name == schemas.EVENTS.name else None
        result, table_quality = _ingest_table(
            table,
            files,
            target,
            out,
            now=now,
            known=known,
            ids=ids,
            ts_out=ts_out,
            config=config,
            pseudonyms=pseudonyms,
        )
        for column, chunks in ids.items():
            known[f"{table.name}.{column}"] = (
                pa.concat_arrays(chunks) if chunks else pa.array([], pa.string())
            )
        if timed:
            if cutoffs is None:
                cutoffs, cutoff_source = _cutoffs(config, event_ts, now)
                validation_start = _validation_start(config, event_ts, cutoffs[0])
                event_ts.clear()
            result.splits = _split_staged(target, out, table, cutoffs)
        else:
            result.splits = {layout.ALL: result.valid}
        results[table.name] = result
        reports[table.name] = {
            "present": bool(files),
            "files": [listing.relative(f.uri, input_uri) for f in files],
            **table_quality.report(
                read=result.read,
                by_reason=dict(result.by_reason),
                all_reasons={c: dict(r) for c, r in result.all_reasons.items()},
                splits=result.splits,
            ),
        }
        if table.name == schemas.EVENTS.name:
            reports[table.name]["interactions"] = quality.interaction_figures(
                item_counts=table_quality.values[
                    table.by_role(schemas.Role.ITEM_ID)[0].name
                ].table(),
                user_counts=table_quality.values[
                    table.by_role(schemas.Role.USER_ID)[0].name
                ].table(),
                items=results[schemas.ITEMS.name].valid,
                users=results[schemas.USERS.name].valid,
            )
    sinks.remove_dir(out / STAGING_DIR)
    train_end, eval_end = cutoffs if cutoffs else (now, now)
    validation_start = validation_start or config.validation_start or train_end
    manifest = {
        "schema_version": schemas.SCHEMA_VERSION,
        "input": input_uri,
        "format": config.format,
        "now": now.isoformat(),
        "train_end": train_end.isoformat(),
        "eval_end": eval_end.isoformat(),
        "validation_start": validation_start.isoformat(),
        "cutoffs_source": cutoff_source,
        # Only whether ids are pseudonyms: a key fingerprint could be brute-forced.
        "pseudonymized": config.pseudonym_key is not None,
        # Under the input root but read by no table (not <table>/part-*.<ext> or <table>.<ext>;
        # names starting with "_" or "." are hidden and not listed).
        "unmatched_files": unmatched[: listing.UNMATCHED_SHOWN],
        "unmatched_file_count": len(unmatched),
        "scrubbed": {
            f"{table.name}.{column}": {
                kind: results[table.name].scrubbed[column][kind] for kind in privacy.SCRUB_KINDS
            }
            for table in schemas.TABLES
            for column in privacy.scrub_columns(table)
        },
        "tables": {
            name: {
                "present": reports[name]["present"],
                "files": reports[name]["files"],
                "formats": sorted({f.format for f in inputs.get(name, [])}),
                "read": r.read,
                "valid": r.valid,
                "quarantined": r.quarantined,
                "by_reason": dict(sorted(r.by_reason.items(), key=lambda kv: Reason(kv[0]).rank)),
                # Bad optional values emptied in rows that stayed valid: column -> reason -> n.
                "dropped_values": {
                    c: dict(sorted(n.items())) for c, n in sorted(r.dropped.items())
                },
                # Columns in the files that the contract does not declare (not read).
                "extra_columns": sorted(r.extra_columns),
                "splits": r.splits,
            }
            for name, r in results.items()
        },
    }
    report = {
        "schema_version": schemas.SCHEMA_VERSION,
        "input": input_uri,
        "now": manifest["now"],
        "cutoffs": {
            "train_end": manifest["train_end"],
            "eval_end": manifest["eval_end"],
            "validation_start": manifest["validation_start"],
            "source": cutoff_source,
        },
        "privacy": {"pseudonymized": manifest["pseudonymized"], "scrubbed": manifest["scrubbed"]},
        "tables": reports,
    }
    sinks.write_json(out / layout.QUALITY_JSON, report)
    sinks.write_text(out / layout.QUALITY_MD, quality.render_markdown(report))
    sinks.write_json(out / layout.MANIFEST, manifest)
    if config.pseudonym_key is None:
        logger.warning(
            "pseudonymized=false: no key (%s or %s); user ids are kept as they are in the input",
            privacy.KEY_ENV,
            privacy.KEY_FILE_ENV,
        )
    else:
        logger.info("pseudonymized=true key_source=%s", config.pseudonym_key.source)
    for name, r in results.items():
        logger.info(
            "ingested table=%s read=%d valid=%d quarantined=%d by_reason=%s splits=%s",
            name,
            r.read,
            r.valid,
            r.quarantined,
            dict(r.by_reason),
            r.splits,
        )
    return manifest


def _ingest_table(
    table: schemas.Table,
    files: list[listing.InputFile],
    target: pathlib.Path,
    out: pathlib.Path,
    *,
    now: dt.datetime,
    known: dict[str, pa.Array],
    ids: dict[str, list[pa.Array]],
    ts_out: list[np.ndarray] | None,
    config: IngestConfig,
    pseudonyms: privacy.Pseudonyms | None,
) -> tuple[_TableResult, quality.TableQuality]:
    """Validate every file of one table; valid rows to ``target``, bad ones to quarantine."""
    # The staging file is read back once and deleted: Arrow IPC, no Parquet encoding.
    if target.parent.name == STAGING_DIR:
        sink = sinks.ArrowSink(target, table.arrow_schema())
    else:
        sink = sinks.ParquetSink(target, table.arrow_schema())
    quarantine = sinks.ParquetSink(layout.quarantine_path(out, table.name), QUARANTINE_SCHEMA)
    dropped = sinks.ParquetSink(layout.dropped_values_path(out, table.name), DROPPED_SCHEMA)
    state = _TableState(
        table,
        sink,
        quarantine,
        dropped,
        ids=ids,
        ts_out=ts_out,
        config=config,
        pseudonyms=pseudonyms,
    )
    progress = Progress(f"ingest {table.name}", stream=sys.stderr if config.progress else None)
    try:
        with concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="validate") as pool:
            # Rules 1-10 run on WORKERS batches at once (Arrow and numpy release the GIL); the
            # duplicate check and the writes follow in input order on this thread.
            pending: collections.deque = collections.deque()
            for source in files:
                raws = readers.iter_batches(source, table, batch_rows=config.batch_rows)
                for raw in readers.prefetch(raws):
                    future = pool.submit(prepare_batch, raw.parts, table, now=now, known=known)
                    pending.append((source, raw, future))
                    if len(pending) > WORKERS:
                        progress.advance(state.finish(*pending.popleft()))
            while pending:
                progress.advance(state.finish(*pending.popleft()))
    finally:
        sink.close()
        quarantine.close()
        dropped.close()
    progress.finish()
    if state.result.extra_columns:
        logger.warning(
            "table=%s columns not in the contract, not read: %s",
            table.name,
            sorted(state.result.extra_columns),
        )
    result = state.result
    result.by_reason = +result.by_reason  # drop zero counts
    if result.valid + result.quarantined != result.read:
        raise IngestError(
            f"table {table.name}: accounting broken: valid {result.valid} + quarantined "
            f"{result.quarantined} != read {result.read}"
        )
    return result, state.quality


class _TableState:
    """What one table's ingest accumulates, batch after batch, in input order."""

    def __init__(
        self,
        table: schemas.Table,
        sink: sinks.ParquetSink | sinks.ArrowSink,
        quarantine: sinks.ParquetSink,
        dropped: sinks.ParquetSink,
        *,
        ids: dict[str, list[pa.Array]],
        ts_out: list[np.ndarray] | None,
        config: IngestConfig,
        pseudonyms: privacy.Pseudonyms | None,
    ) -> None:
        self.table = table
        self.result = _TableResult()
        self.quality = quality.TableQuality(table)
        self.seen = SeenKeys()
        self._sink = sink
        self._quarantine = quarantine
        self._dropped = dropped
        self._ids = ids
        self._ts_out = ts_out
        self._config = config
        self._pseudonyms = pseudonyms

    def finish(
        self,
        source: listing.InputFile,
        raw: RawBatch,
        prepared: concurrent.futures.Future,
    ) -> int:
        """Deduplicate, write and count one prepared batch; returns the input rows it held."""
        table, config = self.table, self._config
        checked = finish_batch(prepared.result(), table, seen=self.seen)
        verdict = checked.verdict
        records = quarantine_records(
            verdict,
            table_name=table.name,
            source=source.shown,
            row_numbers=raw.rows[verdict.bad].tolist(),
            raw=raw.raw_rows(verdict.bad),
            max_chars=config.raw_max_chars,
        )
        if raw.malformed:
            broken = records_table(
                table_name=table.name,
                source=source.shown,
                row_numbers=[m.row for m in raw.malformed],
                reasons=[[Reason.MALFORMED]] * len(raw.malformed),
                columns=[None] * len(raw.malformed),
                details=[m.detail for m in raw.malformed],
                raw=[m.raw for m in raw.malformed],
                max_chars=config.raw_max_chars,
            )
            records = pa.concat_tables([broken, records])
        key = config.pseudonym_key
        self._quarantine.write(privacy.protect_records(records, table, key))
        if checked.dropped:
            self._dropped.write(
                dropped_records(checked.dropped, table_name=table.name, source=source.shown,
                                row_numbers=raw.rows)
            )  # fmt: skip
            for finding in checked.dropped:
                self.result.dropped[finding.column][finding.reason.value] += len(finding.rows)
        self.result.extra_columns |= raw.extra_columns(table)
        # Foreign-key checks of later tables compare raw ids: keep them in memory, never written.
        for column, chunks in self._ids.items():
            chunks.append(checked.valid.column(column).combine_chunks())
        protected, scrubbed = privacy.protect(checked.valid, table, self._pseudonyms)
        for column, kinds in scrubbed.items():
            self.result.scrubbed[column].update(kinds)
        self._sink.write(protected)
        self.quality.add(protected)
        if self._ts_out is not None and table.time_column:
            self._ts_out.append(checked.valid.column(table.time_column).cast(pa.int64()).to_numpy())
        result = self.result
        result.read += raw.read
        result.valid += checked.valid.num_rows
        result.quarantined += records.num_rows
        result.by_reason.update(verdict.counts())
        result.by_reason[Reason.MALFORMED.value] += len(raw.malformed)
        for finding in [*checked.findings, *checked.dropped]:
            result.all_reasons[finding.column or "(row)"][finding.reason.value] += len(finding.rows)
        return raw.read


def _cutoffs(
    config: IngestConfig, event_ts: list[np.ndarray], now: dt.datetime
) -> tuple[tuple[dt.datetime, dt.datetime], str]:
    train_end, eval_end = config.train_end, config.eval_end
    if train_end is not None and eval_end is not None:
        return (train_end, eval_end), "config"
    ts = np.concatenate(event_ts) if event_ts else np.array([], dtype=np.int64)
    if not len(ts):
        logger.warning("no valid events: cut-offs default to now=%s", now.isoformat())
        return (train_end or now, eval_end or now), "now (no valid events)"
    q_train, q_eval = quantile_cutoffs(
        ts, train_quantile=config.train_quantile, eval_quantile=config.eval_quantile
    )
    train_end, eval_end = train_end or q_train, eval_end or q_eval
    if train_end > eval_end:
        raise IngestConfigError(
            f"train_end {train_end.isoformat()} is after eval_end {eval_end.isoformat()}"
        )
    return (train_end, eval_end), "quantiles"


def _validation_start(
    config: IngestConfig, event_ts: list[np.ndarray], train_end: dt.datetime
) -> dt.datetime:
    """The validation window's start: configured, or a quantile of the train window's events.

    Raises:
        IngestConfigError: the configured start is after ``train_end``.
    """
    if config.validation_start is not None:
        if config.validation_start > train_end:
            raise IngestConfigError(
                f"validation_start {config.validation_start.isoformat()} is after train_end "
                f"{train_end.isoformat()}"
            )
        return config.validation_start
    ts = np.concatenate(event_ts) if event_ts else np.array([], dtype=np.int64)
    before = ts[ts < int(train_end.timestamp() * 1_000_000)]
    return validation_cutoff(before, share=config.validation_share) or train_end


def _split_staged(
    staged: pathlib.Path,
    out: pathlib.Path,
    table: schemas.Table,
    cutoffs: tuple[dt.datetime, dt.datetime],
) -> dict[str, int]:
    by_split = {
        split: sinks.ParquetSink(layout.table_path(out, table.name, split), table.arrow_schema())
        for split in layout.TIME_SPLITS
    }
    try:
        for batch in readers.prefetch(sinks.read_arrow_batches(staged)):
            parts = split_by_time(
                batch, time_column=table.time_column, train_end=cutoffs[0], eval_end=cutoffs[1]
            )
            for split, rows in parts.items():
                by_split[split].write(rows)
    finally:
        for sink in by_split.values():
            sink.close()
    sinks.remove(staged)
    return {split: sink.rows for split, sink in by_split.items()}
