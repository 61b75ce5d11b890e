"""The Beam pipeline that builds raw feature rows from ingested tables, shard by shard.

Tables enter Beam from their Parquet files (only file names go through ``beam.Create``), row
group by row group, as Arrow record batches tagged with their input position. Rows are keyed by
a stable hash of the user (or item) id into ``shard_count`` shards and grouped (a GroupByKey of
``(shard, (tag, rows))``: a CoGroupByKey of the tables, by hand); each shard runs the pure
steps of ``shards``:

```
files -> row groups -> read, route by shard
  user rows -> GBK -> UserAsks (pass 1) -> friend asks + events -> GBK -> AnswerFriends
  item rows -> GBK -> ItemShards -> catalog parts
  user rows + answers -> GBK -> UserRows (pass 2) -> parts -> GBK by output -> Merge
```

A worker holds one shard of a table at a time, never the event log. On a distributed runner
(Dataflow, Flink, Spark) the rows go through the runner's shuffle. On a local runner
(DirectRunner, Prism) a GroupByKey holds its whole input in memory (10M events: 11.8 GiB), so
there the rows go by reference instead (``Exchange``): each producer writes its rows for a shard
to an Arrow file under ``<examples>/raw/shuffle/`` and only the path is grouped; the shard's
consumer reads its files. Peak memory is then about one shard's, whatever the data size.

The runner and its options are the pass-through Beam flags (``beam.pipeline_options``). Outputs
are the Parquet files the in-process build writes (``outputs``), one merged file per output;
row counts and the summary come back as counters.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import StandardOptions

import schemas
from components.ingest import layout
from components.transform import outputs, shards
from components.transform.beam import pipeline_options
from schemas import EVENTS, ITEM_RELATIONS, ITEMS, REVIEWS, USER_RELATIONS, USERS
from schemas import features as fs
from schemas.tables import ITEM_ID, SRC_ITEM, SRC_USER, USER_ID

logger = logging.getLogger(__name__)

NAMESPACE = "shoprec.transform"
BATCH_ROWS = 65_536  # rows per record batch read from a row group
AUTO_SHARD_BYTES = 4 * 2**20  # auto sharding: Parquet event bytes per shard (peak memory ~ a shard)
MAX_AUTO_SHARDS = 4096
PARTS_DIR = "parts"  # <examples>/raw/parts/<output key>/<stage>-<shard>.arrow until merged
SHUFFLE_DIR = "shuffle"  # <examples>/raw/shuffle/<stage>/<shard>/<tag>-<part>.arrow (by reference)
SUMMARY = ("rows", "no_history", "no_user_text", "no_image", "no_image_embedding")


@dataclasses.dataclass(frozen=True)
class FeatureCounts:
    """What the Beam feature build wrote: rows and summary counts per output, and spans.

    Attributes:
        outputs: ``{output key: {rows, no_history, no_user_text, no_image,
            no_image_embedding}}`` (requests: rows).
        spans: ``{span name: Parquet path}`` of the train examples (analyzer cache on).
    """

    outputs: dict[str, dict[str, int]]
    spans: dict[str, str]


def auto_shards(data_dir: str) -> int:
    """Shards for the events of ``data_dir``: one per ``AUTO_SHARD_BYTES`` of Parquet, >= 2."""
    paths = [table_file(data_dir, EVENTS.name, s) for s in layout.TIME_SPLITS]
    size = sum(m.size_in_bytes for r in FileSystems.match(paths) for m in r.metadata_list)
    return int(min(MAX_AUTO_SHARDS, max(2, math.ceil(size / AUTO_SHARD_BYTES))))


def table_file(data_dir: str, table: str, split: str) -> str:
    """``layout.table_path`` as a string that keeps a ``gs://`` prefix (pathlib folds it)."""
    relative = layout.table_path("", table, split).as_posix()
    return f"{data_dir.rstrip('/')}/{relative}"


def output_path(examples_dir: str, key: str) -> str:
    """The Parquet file of an output key (``shards.OUTPUT_KINDS``, catalog, ``span/<name>``)."""
    if key == shards.CATALOG:
        return outputs.raw_catalog_path(examples_dir)
    if key.startswith(shards.SPAN_PREFIX):
        return outputs.raw_span_path(examples_dir, key.removeprefix(shards.SPAN_PREFIX))
    what, split = key.split("/")
    if what == "requests":
        return outputs.requests_path(examples_dir, split)
    return f"{outputs.raw_examples_dir(examples_dir, split)}/{outputs.RAW_EXAMPLES_FILE}"


def output_schema(key: str) -> pa.Schema:
    """Requests are plain query columns; everything else is TFT's example schema."""
    return fs.request_arrow_schema() if key.startswith("requests/") else fs.example_arrow_schema()


def is_local_runner(beam_args: Sequence[str]) -> bool:
    """Whether ``beam_args`` run the pipeline in this process (the default: DirectRunner)."""
    runner = pipeline_options(beam_args).get_all_options()["runner"] or "DirectRunner"
    name = runner if isinstance(runner, str) else type(runner).__name__
    return name.rsplit(".", 1)[-1] in StandardOptions.LOCAL_RUNNERS


@dataclasses.dataclass(frozen=True)
class Exchange:
    """How rows go from a producer to the consumer of their shard: by value or by reference.

    By value, ``put`` returns the rows themselves (the runner's shuffle moves them). By
    reference, it writes them to an Arrow IPC file and returns its path; the name is fixed by
    ``(stage, shard, tag, part)``, so a retried bundle rewrites the same file alike. ``get``
    takes either.

    Attributes:
        examples_dir: Output root; files go under ``<examples>/raw/shuffle/``.
        by_reference: Write files (local runners) or pass the rows (distributed runners).
    """

    examples_dir: str
    by_reference: bool

    def put(self, stage: str, shard: int, tag: str, part: str, rows: pa.Table) -> pa.Table | str:
        """The value to group for ``rows``: the rows, or the path they were written to."""
        if not self.by_reference:
            return rows
        path = f"{shuffle_root(self.examples_dir)}/{stage}/{shard:05d}/{tag}-{part}.arrow"
        write_arrow(path, rows)
        return path

    @staticmethod
    def get(value: pa.Table | str) -> pa.Table:
        """The rows ``put`` stood for."""
        if isinstance(value, pa.Table):
            return value
        with FileSystems.open(value, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            return pa.ipc.open_stream(f).read_all()


def shuffle_root(examples_dir: str) -> str:
    """Where rows exchanged by reference wait for their consumer (deleted after the build)."""
    return f"{examples_dir.rstrip('/')}/{outputs.RAW_DIR}/{SHUFFLE_DIR}"


# Where each table's rows go: (stage, tag, key column, columns kept or None for all).
USER_STAGE, ITEM_STAGE = "user_stage", "item_stage"
ROUTES = {
    EVENTS.name: ((USER_STAGE, "events", USER_ID, None),),
    REVIEWS.name: ((USER_STAGE, "reviews", USER_ID, None),),
    USER_RELATIONS.name: ((USER_STAGE, "links", SRC_USER, None),),
    USERS.name: ((USER_STAGE, "users", USER_ID, None),),
    ITEMS.name: ((ITEM_STAGE, "items", ITEM_ID, None),),
    ITEM_RELATIONS.name: ((ITEM_STAGE, "links", SRC_ITEM, None),),
}


class _RowGroups(beam.DoFn):
    """``(table, rank, path)`` -> ``(table, rank, path, row group, first row)`` per row group."""

    def process(self, element: tuple[str, int, str]) -> Iterator[tuple[str, int, str, int, int]]:
        name, rank, path = element
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            metadata = pq.ParquetFile(f).metadata
        first = 0
        for group in range(metadata.num_row_groups):
            yield name, rank, path, group, first
            first += metadata.row_group(group).num_rows


class _ReadAndRoute(beam.DoFn):
    """One row group as rows routed to their shards.

    Rows get ``ORD`` (and ``WINDOW`` for events) and go as ``(shard, (tag, rows))`` to each
    stage of ``ROUTES``, split by the shard of that route's key; one exchanged value per stage
    and shard (a row group's pieces are concatenated first).
    """

    def __init__(self, count: int, exchange: Exchange) -> None:
        self._count = count
        self._exchange = exchange

    def process(self, task: tuple[str, int, str, int, int]):
        name, rank, path, group, first = task
        schema = schemas.table(name).arrow_schema()
        pieces: dict[tuple[str, str, int], list[pa.Table]] = {}
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            batches = pq.ParquetFile(f).iter_batches(
                batch_size=BATCH_ROWS, row_groups=[group], columns=schema.names
            )
            for batch in batches:
                table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
                position = (rank << shards.RANK_SHIFT) + first + np.arange(table.num_rows)
                first += table.num_rows
                table = table.append_column(shards.ORD, pa.array(position, pa.int64()))
                if name == EVENTS.name:
                    window = np.full(table.num_rows, rank, np.int8)
                    table = table.append_column(shards.WINDOW, pa.array(window))
                for stage, tag, key, columns in ROUTES[name]:
                    routed = table.select(list(columns)) if columns else table
                    for shard, rows in shards.split_by_shard(routed, key, self._count):
                        pieces.setdefault((stage, tag, shard), []).append(rows)
        part = f"{name}-{rank}-{group}"
        for (stage, tag, shard), tables in sorted(pieces.items()):
            rows = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
            value = self._exchange.put(stage, shard, tag, part, rows)
            yield beam.pvalue.TaggedOutput(stage, (shard, (tag, value)))


def _by_tag(values: Iterable[tuple[str, pa.Table | str]]) -> dict[str, list[pa.Table]]:
    """The grouped ``(tag, rows or path)`` values of one shard, as tables by tag."""
    out: dict[str, list[pa.Table]] = {}
    for tag, value in values:
        out.setdefault(tag, []).append(Exchange.get(value))
    return out


def _user_inputs(values: Iterable[tuple[str, pa.Table]]):
    """A user shard's context and windows from its grouped rows (and the other tags' tables)."""
    grouped = _by_tag(values)
    events_schema = EVENTS.arrow_schema().append(pa.field(shards.WINDOW, pa.int8()))
    events_ord = shards.in_input_order(grouped.get("events", []), events_schema)
    events = events_ord.drop_columns([shards.WINDOW])
    ctx = shards.user_context(
        users=shards.in_input_order(grouped.get("users", []), USERS.arrow_schema()),
        events=events,
        reviews=shards.in_input_order(grouped.get("reviews", []), REVIEWS.arrow_schema()),
        user_links=shards.in_input_order(grouped.get("links", []), USER_RELATIONS.arrow_schema()),
    )
    window = events_ord[shards.WINDOW].to_numpy()
    windows = {
        shards.TRAIN_EXAMPLES: events.filter(pa.array(window == 0)),
        shards.EVAL_EXAMPLES: events.filter(pa.array(window == 1)),
    }
    return ctx, windows, grouped


class _UserAsks(beam.DoFn):
    """Pass 1 over a user shard: its questions to the friend shards.

    Its events go to the friend stage too: other shards' questions about its users.
    """

    FRIEND_STAGE = "friend_stage"

    def __init__(self, request_starts: dict[str, int], count: int, exchange: Exchange) -> None:
        self._starts = request_starts
        self._count = count
        self._exchange = exchange

    def process(self, element: tuple[int, Iterable[tuple[str, pa.Table | str]]]):
        shard, values = element
        ctx, windows, _ = _user_inputs(values)
        queries = shards.shard_queries(ctx, windows, self._starts)
        friend_asks = shards.user_asks(ctx, queries, shard=shard)
        friend_events = ctx.events.select(list(shards.FRIEND_EVENT_COLUMNS))
        put, part = self._exchange.put, f"user-{shard}"
        yield shard, ("events", put(self.FRIEND_STAGE, shard, "events", part, friend_events))
        for friend_shard, rows in shards.split_by_shard(friend_asks, shards.FRIEND, self._count):
            yield friend_shard, ("asks", put(self.FRIEND_STAGE, friend_shard, "asks", part, rows))


class _UserRows(beam.DoFn):
    """Pass 2 over a user shard, with its answers: its output rows, written as part files.

    The query features stay in the worker that computes them: only part paths leave it
    (shipping them through a shuffle was most of the run time on DirectRunner).
    """

    def __init__(
        self,
        request_starts: dict[str, int],
        examples_dir: str,
        span_days: int | None,
        cutoff_micros: int,
    ) -> None:
        self._starts = request_starts
        self._examples_dir = examples_dir
        self._span_days = span_days
        self._cutoff = cutoff_micros

    def process(self, element: tuple[int, Iterable[tuple[str, pa.Table | str]]]):
        shard, values = element
        ctx, windows, grouped = _user_inputs(values)
        queries = shards.shard_queries(ctx, windows, self._starts)
        friends = shards.concat_or_empty(grouped.get("friends", []), shards.FRIEND_ANSWER_SCHEMA)
        for key, rows, at in shards.assemble(ctx, queries, friends):
            yield key, write_part(self._examples_dir, key, f"user-{shard}", rows)
            if key == shards.TRAIN_EXAMPLES and self._span_days is not None:
                names = outputs.span_names(at, days=self._span_days, cutoff_micros=self._cutoff)
                for name in np.unique(names):
                    span = shards.SPAN_PREFIX + name
                    part = rows.filter(pa.array(names == name))
                    yield span, write_part(self._examples_dir, span, f"user-{shard}", part)


USER_ROWS_STAGE = "user_rows"  # answers on their way back to the asking user shard


class _AnswerFriends(beam.DoFn):
    """One shard's users' last items, for the shards that asked: ``(origin, ("friends", rows))``."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def process(self, element: tuple[int, Iterable[tuple[str, pa.Table | str]]]):
        shard, values = element
        grouped = _by_tag(values)
        asks = shards.concat_or_empty(grouped.get("asks", []), shards.FRIEND_ASK_SCHEMA)
        if asks.num_rows == 0:
            return
        events_schema = EVENTS.arrow_schema()
        schema = pa.schema([events_schema.field(c) for c in shards.FRIEND_EVENT_COLUMNS])
        # One table per shard, already in input order (it comes from _UserAsks).
        events = shards.concat_or_empty(grouped.get("events", []), schema)
        answers = shards.answer_friends(events, asks)
        for origin, rows in shards.split_by_column(answers, shards.ORIGIN):
            value = self._exchange.put(USER_ROWS_STAGE, origin, "friends", f"user-{shard}", rows)
            yield origin, ("friends", value)


class _ItemShard(beam.DoFn):
    """One item shard: its catalog rows, as a part file ``(CATALOG, path)``."""

    def __init__(self, examples_dir: str) -> None:
        self._examples_dir = examples_dir

    def process(self, element: tuple[int, Iterable[tuple[str, pa.Table | str]]]):
        shard, values = element
        grouped = _by_tag(values)
        ctx = shards.item_context(
            items=shards.in_input_order(grouped.get("items", []), ITEMS.arrow_schema()),
            item_links=shards.in_input_order(
                grouped.get("links", []), ITEM_RELATIONS.arrow_schema()
            ),
        )
        catalog = shards.item_shard(ctx)
        if catalog is not None:
            path = write_part(self._examples_dir, shards.CATALOG, f"item-{shard}", catalog)
            yield shards.CATALOG, path


def part_path(examples_dir: str, key: str, part: str) -> str:
    """Where one shard's rows of an output wait for the merge (outside every read glob)."""
    return f"{examples_dir.rstrip('/')}/{outputs.RAW_DIR}/{PARTS_DIR}/{key}/{part}.arrow"


def write_part(examples_dir: str, key: str, part: str, rows: pa.Table) -> str:
    """Write one shard's rows of output ``key``; its path (rewritten alike on a retry).

    Parts are Arrow IPC streams, not Parquet: encoding Parquet twice (part, then merged file)
    was the largest cost of the build at 1M events.
    """
    path = part_path(examples_dir, key, part)
    write_arrow(path, rows.cast(output_schema(key)))
    return path


def write_arrow(path: str, rows: pa.Table) -> None:
    """``rows`` as an Arrow IPC stream at ``path`` (local or gs://), replacing what was there."""
    with (
        FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as sink,
        pa.ipc.new_stream(sink, rows.schema) as writer,
    ):
        writer.write_table(rows, max_chunksize=BATCH_ROWS)


class _Merge(beam.DoFn):
    """The part files of one output key into its one Parquet file.

    Streamed batch by batch (never a whole output in memory); counts go to Beam counters;
    the parts are deleted.
    """

    def __init__(self, examples_dir: str) -> None:
        self._examples_dir = examples_dir

    def process(self, element: tuple[str, Iterable[str | None]]) -> Iterator[str]:
        key, parts = element
        schema = output_schema(key)
        path = output_path(self._examples_dir, key)
        counts = dict.fromkeys(SUMMARY, 0)
        merged = []
        with (
            FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as sink,
            pq.ParquetWriter(sink, schema) as writer,
        ):
            for part in sorted(p for p in parts if p is not None):  # None: an empty output
                with FileSystems.open(part, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                    for batch in pa.ipc.open_stream(f):
                        rows = pa.Table.from_batches([batch], schema=schema)
                        writer.write_table(rows)
                        counts["rows"] += rows.num_rows
                        if not key.startswith("requests/"):
                            for name, value in describe_counts(rows).items():
                                counts[name] += value
                merged.append(part)
        if merged:
            FileSystems.delete(merged)
        for name, value in counts.items():
            Metrics.counter(NAMESPACE, f"{key}:{name}").inc(value)
        yield path


def describe_counts(rows: pa.Table) -> dict[str, int]:
    """Rows with no history, no user text, no image, no image embedding (all zeros).

    The Beam build's and ``job.describe``'s.
    """
    import pyarrow.compute as pc

    from components.transform.embeddings import missing_embeddings

    def empty_first(name: str) -> int:
        first = pc.list_element(rows[name], 0)
        return int(pc.sum(pc.equal(pc.binary_length(first), 0)).as_py() or 0)

    return {
        "no_history": empty_first(fs.HIST_ITEM_IDS),
        "no_user_text": empty_first(fs.USER_TEXT),
        "no_image": empty_first(fs.IMAGE),
        "no_image_embedding": missing_embeddings(
            pc.list_flatten(rows[fs.IMAGE_EMBEDDING])
            .to_numpy(zero_copy_only=False)
            .reshape(rows.num_rows, fs.IMAGE_EMBEDDING_LEN)
        ),
    }


def build_features(
    data_dir: str,
    examples_dir: str,
    *,
    starts: dict[str, int],
    shard_count: int,
    beam_args: Sequence[str] = (),
    span_days: int | None = None,
    by_reference: bool | None = None,
) -> FeatureCounts:
    """Build and write the raw examples, catalog and requests of ``data_dir`` in Beam.

    Args:
        data_dir: An ingest output directory (local or gs://).
        examples_dir: Output root (see ``outputs``).
        starts: ``{"eval": eval start, "test": test start, "validation": validation start}``
            epoch microseconds.
        shard_count: Key shards (>= 1).
        beam_args: Beam flags (runner and its options), passed through.
        span_days: With the analyzer cache: train examples are also written per span of this
            many UTC days (``outputs.span_names``); None for no spans.
        by_reference: Exchange rows between stages as files (``Exchange``); None: on local
            runners only (``is_local_runner``).

    Returns:
        Rows and summary counts per output, and the span files.
    """
    files = [
        (name, rank, table_file(data_dir, name, split))
        for name in ROUTES
        for rank, split in enumerate(layout.splits_of(name))
    ]
    count = shard_count
    if by_reference is None:
        by_reference = is_local_runner(beam_args)
    exchange = Exchange(examples_dir, by_reference)
    pipeline = beam.Pipeline(options=pipeline_options(beam_args))
    # Only file names go through beam.Create; rows are read by the workers, one row group per
    # task (the Reshuffle spreads the tasks over workers).
    read = (
        pipeline
        | "Files" >> beam.Create(files)
        | "RowGroups" >> beam.ParDo(_RowGroups())
        | "Spread" >> beam.Reshuffle()
        | "ReadAndRoute"
        >> beam.ParDo(_ReadAndRoute(count, exchange)).with_outputs(USER_STAGE, ITEM_STAGE)
    )
    starts_by_kind = {
        shards.EVAL_REQUESTS: starts[layout.EVAL],
        shards.TEST_REQUESTS: starts[layout.TEST],
        shards.VALIDATION_REQUESTS: starts[outputs.VALIDATION],
    }
    asks = (
        read[USER_STAGE]
        | "GroupUserShards" >> beam.GroupByKey()
        | "UserAsks" >> beam.ParDo(_UserAsks(starts_by_kind, count, exchange))
    )
    friend_answers = (
        asks
        | "GroupFriendShards" >> beam.GroupByKey()
        | "AnswerFriends" >> beam.ParDo(_AnswerFriends(exchange))
    )
    catalog_parts = (
        read[ITEM_STAGE]
        | "GroupItemShards" >> beam.GroupByKey()
        | "ItemShards" >> beam.ParDo(_ItemShard(examples_dir))
    )
    user_parts = (
        (read[USER_STAGE], friend_answers)
        | "UserRowsStage" >> beam.Flatten()
        | "GroupUserShardsWithAnswers" >> beam.GroupByKey()
        | "UserRows"
        >> beam.ParDo(_UserRows(starts_by_kind, examples_dir, span_days, starts["eval"]))
    )
    # Every output file exists, even with no rows (an empty window writes an empty file).
    empty = pipeline | "OutputKeys" >> beam.Create(
        [(key, None) for key in (*shards.OUTPUT_KINDS, shards.CATALOG)]
    )
    _ = (
        (user_parts, catalog_parts, empty)
        | "AllParts" >> beam.Flatten()
        | "ByOutput" >> beam.GroupByKey()
        | "Merge" >> beam.ParDo(_Merge(examples_dir))
    )
    result = pipeline.run()
    result.wait_until_finish()
    parts = f"{examples_dir.rstrip('/')}/{outputs.RAW_DIR}/{PARTS_DIR}"
    for scratch in (parts, shuffle_root(examples_dir)):  # parts: only empty folders are left
        if FileSystems.exists(scratch):
            FileSystems.delete([scratch])
    return _counts(result, examples_dir)


def _counts(result: beam.runners.runner.PipelineResult, examples_dir: str) -> FeatureCounts:
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    # Every output is written (maybe empty); a runner may leave out counters that stayed 0.
    per_output = {key: dict.fromkeys(SUMMARY, 0) for key in (*shards.OUTPUT_KINDS, shards.CATALOG)}
    for counter in query["counters"]:
        key, name = counter.key.metric.name.rsplit(":", 1)
        value = counter.committed if counter.committed is not None else counter.attempted
        per_output.setdefault(key, dict.fromkeys(SUMMARY, 0))[name] = int(value)
    spans = {
        key.removeprefix(shards.SPAN_PREFIX): output_path(examples_dir, key)
        for key in per_output
        if key.startswith(shards.SPAN_PREFIX)
    }
    return FeatureCounts(outputs=per_output, spans=spans)
