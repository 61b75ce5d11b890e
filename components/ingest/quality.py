"""Data-quality report: completeness, validity, consistency, uniqueness, diversity, time range.

For text columns also what a fill rate hides: one value everywhere, or markup instead of text.
Streaming: ``TableQuality.add`` sees one canonical batch of valid rows at a time and keeps only
per-column counters and value counts (bounded by the number of distinct ids / categories, and
by ``TEXT_TOP_KEPT`` for text).
The figures are pure functions (``gini``, ``entropy_bits``, ``activity_histogram``) so tests can
check them on hand-worked numbers.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.ingest.reasons import Reason
from schemas import Role, Table

DISTINCT_ROLES = (Role.USER_ID, Role.ITEM_ID, Role.CATEGORICAL)
ACTIVITY_EDGES = (1, 2, 5, 10, 20, 50, 100)
TOP_VALUES = 5
# Merge buffered per-batch value counts when they hold more rows than this.
COMPACT_ROWS = 1_000_000
# A text column is flagged when one value fills more than this share of its non-null rows, or
# markup more than this share (issue #16: a title "filled 99.7%" was one unclosed tag on 93% of
# a catalog's items).
DOMINANT_SHARE = 0.5
MARKUP_SHARE = 0.05
# Text columns keep counts of this many most frequent values between batches (bounded memory
# for free text; a kept count is a lower bound once more distinct values were seen).
TEXT_TOP_KEPT = 10_000
# A tag (closed or cut off before its ">"), a comment or a character reference: the test of
# ``sources.markup.MARKUP``, written here too so ingest does not import the source adapters.
MARKUP = r"</?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)|<!--|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);"


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 = all equal, -> 1 = one holds everything).

    ``G = 2 * sum_i(i * x_(i)) / (n * sum(x)) - (n + 1) / n`` with x sorted ascending, i from 1.
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), float(x.sum())
    if n == 0 or total == 0:
        return 0.0
    return float(2.0 * np.dot(np.arange(1, n + 1), x) / (n * total) - (n + 1) / n)


def entropy_bits(counts: np.ndarray) -> float:
    """Shannon entropy in bits of a categorical distribution given by its counts."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c > 0]
    if not len(c):
        return 0.0
    p = c / c.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def activity_histogram(counts: np.ndarray, *, zero: int = 0) -> dict[str, int]:
    """How many users have 0, 1, 2-4, 5-9, ... 100+ events.

    Args:
        counts: Events per active user, ``[users]``.
        zero: Users with no event at all.
    """
    out = {"0": int(zero)}
    edges = (*ACTIVITY_EDGES, math.inf)
    for lo, hi in itertools.pairwise(edges):
        label = str(lo) if hi == lo + 1 else (f"{lo}+" if hi == math.inf else f"{lo}-{hi - 1}")
        out[label] = int(((counts >= lo) & (counts < hi)).sum())
    return out


class ValueCounts:
    """Streaming value -> count over batches (pyarrow group-by merges the partial counts).

    Args:
        value_type: The values' Arrow type.
        keep: When set, only the ``keep`` most frequent values survive a merge (their counts
            are then lower bounds); None keeps every value.
    """

    def __init__(self, value_type: pa.DataType, *, keep: int | None = None) -> None:
        self._type = value_type
        self._keep = keep
        self._parts: list[pa.Table] = []
        self._buffered = 0

    def add(self, values: pa.Array) -> None:
        """Count the non-null values of one batch."""
        counted = pc.value_counts(values.drop_null())
        part = pa.table({"value": counted.field("values"), "count": counted.field("counts")})
        self._parts.append(part)
        self._buffered += part.num_rows
        if self._buffered > COMPACT_ROWS:
            self._compact()

    def table(self) -> pa.Table:
        """``value``, ``count`` columns, one row per distinct value."""
        self._compact()
        return self._parts[0]

    def _compact(self) -> None:
        if not self._parts:
            self._parts = [
                pa.table({"value": pa.array([], self._type), "count": pa.array([], pa.int64())})
            ]
        merged = pa.concat_tables(self._parts).group_by("value").aggregate([("count", "sum")])
        merged = merged.rename_columns(["value", "count"])
        if self._keep is not None and merged.num_rows > self._keep:
            merged = merged.sort_by([("count", "descending")]).slice(0, self._keep)
        self._parts = [merged]
        self._buffered = merged.num_rows


def text_figures(
    *, rows: int, top_value: str | None, top_count: int, markup_rows: int
) -> dict[str, object]:
    """What a text column's fill rate hides, with a flag per problem.

    Args:
        rows: Non-null rows of the column.
        top_value: Its most frequent value (None when there is none).
        top_count: Rows holding it.
        markup_rows: Rows holding markup (``MARKUP``).

    Returns:
        ``{"rows", "top_value", "top_share", "markup_rows", "markup_share", "flags"}``; flags
        name each problem in words: ``dominated by one value (93.0%: ...)``, ``markup in 12.0%``.
    """
    top_share = top_count / rows if rows else 0.0
    markup_share = markup_rows / rows if rows else 0.0
    flags = []
    if rows > 1 and top_share > DOMINANT_SHARE:
        shown = top_value if len(top_value or "") <= 60 else f"{top_value[:59]}\u2026"
        flags.append(f"dominated by one value ({top_share:.1%} of filled rows: {shown!r})")
    if markup_share > MARKUP_SHARE:
        flags.append(f"markup (HTML tags or entities) in {markup_share:.1%} of filled rows")
    return {
        "rows": rows,
        "top_value": top_value,
        "top_share": round(top_share, 6),
        "markup_rows": markup_rows,
        "markup_share": round(markup_share, 6),
        "flags": flags,
    }


class TableQuality:
    """Accumulates the quality figures of one table over its valid rows."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.rows = 0
        self.nulls = collections.Counter[str]()
        self.values = {
            c.name: ValueCounts(c.type) for c in table.columns if c.role in DISTINCT_ROLES
        }
        self.texts = {
            c.name: ValueCounts(c.type, keep=TEXT_TOP_KEPT)
            for c in table.columns
            if c.role is Role.TEXT
        }
        self.markup = collections.Counter[str]()
        self.time_min: dict[str, int] = {}
        self.time_max: dict[str, int] = {}

    def add(self, batch: pa.Table) -> None:
        """Count one batch of valid canonical rows."""
        self.rows += batch.num_rows
        for col in self.table.columns:
            arr = batch.column(col.name)
            self.nulls[col.name] += arr.null_count
            if col.name in self.values:
                self.values[col.name].add(arr.combine_chunks())
            if col.name in self.texts:
                filled = pc.drop_null(arr.combine_chunks())
                self.texts[col.name].add(filled)
                self.markup[col.name] += (
                    pc.sum(pc.match_substring_regex(filled, MARKUP).cast(pa.int64())).as_py() or 0
                )
            if col.role is Role.TIMESTAMP and arr.null_count < len(arr):
                lo, hi = pc.min_max(arr.cast(pa.int64())).values()
                name = col.name
                self.time_min[name] = min(self.time_min.get(name, lo.as_py()), lo.as_py())
                self.time_max[name] = max(self.time_max.get(name, hi.as_py()), hi.as_py())

    def report(
        self,
        *,
        read: int,
        by_reason: dict[str, int],
        all_reasons: dict[str, dict[str, int]],
        splits: dict[str, int],
    ) -> dict:
        """The table's section of quality.json.

        Args:
            read: Input rows read.
            by_reason: Quarantined rows by first reason.
            all_reasons: Column -> reason -> rows failing it (any position in ``reasons``).
            splits: Rows written per split.
        """
        consistency = {
            col: {r: n for r, n in reasons.items() if r in _REFERENCE_REASONS}
            for col, reasons in all_reasons.items()
            if any(r in _REFERENCE_REASONS for r in reasons)
        }
        diversity = {}
        for name, counter in self.values.items():
            counts = counter.table()
            entry = {"distinct": counts.num_rows}
            if self.table.column(name).role is Role.CATEGORICAL:
                top = counts.sort_by([("count", "descending"), ("value", "ascending")])
                entry["entropy_bits"] = round(entropy_bits(counts.column("count").to_numpy()), 6)
                entry["top"] = {
                    str(v): int(c)
                    for v, c in zip(
                        top.column("value").to_pylist()[:TOP_VALUES],
                        top.column("count").to_pylist()[:TOP_VALUES],
                        strict=True,
                    )
                }
            diversity[name] = entry
        text = {}
        for name, counter in self.texts.items():
            counts = counter.table().sort_by([("count", "descending"), ("value", "ascending")])
            top = counts.slice(0, 1).to_pylist()
            text[name] = text_figures(
                rows=self.rows - self.nulls[name],
                top_value=top[0]["value"] if top else None,
                top_count=top[0]["count"] if top else 0,
                markup_rows=self.markup[name],
            )
        return {
            "rows": {"read": read, "valid": self.rows, "quarantined": read - self.rows},
            "completeness": {
                c.name: {
                    "nulls": self.nulls[c.name],
                    "null_rate": round(self.nulls[c.name] / self.rows, 6) if self.rows else 0.0,
                }
                for c in self.table.columns
            },
            "validity": dict(sorted(by_reason.items(), key=lambda kv: Reason(kv[0]).rank)),
            "consistency": consistency,
            "uniqueness": {
                "key": list(self.table.key) if self.table.key else "whole row",
                "duplicates": by_reason.get(Reason.DUPLICATE.value, 0),
            },
            "diversity": diversity,
            "text": text,
            "time_range": {
                name: {"min": _iso(self.time_min[name]), "max": _iso(self.time_max[name])}
                for name in self.time_min
            },
            "splits": splits,
        }


_REFERENCE_REASONS = (Reason.UNKNOWN_USER.value, Reason.UNKNOWN_ITEM.value)


def interaction_figures(
    *, item_counts: pa.Table, user_counts: pa.Table, items: int, users: int
) -> dict:
    """Item-popularity Gini and the user-activity histogram over events.

    Args:
        item_counts: ``value``, ``count`` of events per item id (items with >= 1 event).
        user_counts: ``value``, ``count`` of events per user id.
        items: Valid items in the catalog (items with no event count as 0 in the Gini).
        users: Valid users (users with no event land in the ``0`` bucket).
    """
    per_item = item_counts.column("count").to_numpy()
    zeros = max(items - len(per_item), 0)
    per_user = user_counts.column("count").to_numpy()
    return {
        "item_popularity_gini": round(gini(np.concatenate([per_item, np.zeros(zeros)])), 6),
        "items_with_events": len(per_item),
        "user_activity_histogram": activity_histogram(per_user, zero=max(users - len(per_user), 0)),
    }


def _privacy_lines(privacy: dict | None) -> list[str]:
    if privacy is None:
        return []
    scrubbed = "; ".join(
        f"`{column}` " + ", ".join(f"{kind} {n:,}" for kind, n in kinds.items())
        for column, kinds in privacy["scrubbed"].items()
    )
    pseudonymized = "yes (keyed hash)" if privacy["pseudonymized"] else "**no** (no key: raw ids)"
    return [f"user ids pseudonymized: {pseudonymized} · rows scrubbed: {scrubbed or '-'}", ""]


def render_markdown(report: dict) -> str:
    """quality.json as a Markdown page (one section per table)."""
    out = [
        "# Data quality",
        "",
        f"input `{report['input']}` · now {report['now']} · "
        f"train_end {report['cutoffs']['train_end']} · eval_end {report['cutoffs']['eval_end']}"
        f" ({report['cutoffs']['source']})",
        "",
        *_privacy_lines(report.get("privacy")),
        "| table | read | valid | quarantined | splits |",
        "|---|---:|---:|---:|---|",
    ]
    for name, t in report["tables"].items():
        rows = t["rows"]
        splits = ", ".join(f"{k} {v:,}" for k, v in t["splits"].items())
        out.append(
            f"| {name} | {rows['read']:,} | {rows['valid']:,} | {rows['quarantined']:,} "
            f"| {splits} |"
        )
    for name, t in report["tables"].items():
        out += ["", f"## {name}", ""]
        if not t.get("present", True):
            out += ["_absent from the input (0 rows)_"]
            continue
        out += ["| column | null rate | distinct | entropy (bits) |", "|---|---:|---:|---:|"]
        for col, c in t["completeness"].items():
            d = t["diversity"].get(col, {})
            out.append(
                f"| {col} | {c['null_rate']:.2%} | {d.get('distinct', '')} | "
                f"{d.get('entropy_bits', '')} |"
            )
        for col, figures in t.get("text", {}).items():
            for flag in figures["flags"]:
                out.append(f"\n**text `{col}`: {flag}**")
        if t["validity"]:
            out += ["", "| reason | rows |", "|---|---:|"]
            out += [f"| {r} | {n:,} |" for r, n in t["validity"].items()]
        for col, reasons in t["consistency"].items():
            out.append(
                f"\nunknown ids in `{col}`: " + ", ".join(f"{r} {n:,}" for r, n in reasons.items())
            )
        out.append(f"\nduplicates by {t['uniqueness']['key']}: {t['uniqueness']['duplicates']:,}")
        for col, span in t["time_range"].items():
            out.append(f"\n`{col}` from {span['min']} to {span['max']}")
        if "interactions" in t:
            inter = t["interactions"]
            hist = ", ".join(f"{k}: {v:,}" for k, v in inter["user_activity_histogram"].items())
            out.append(
                f"\nitem-popularity Gini {inter['item_popularity_gini']} "
                f"({inter['items_with_events']:,} items with events); users by events: {hist}"
            )
    return "\n".join(out) + "\n"


def _iso(micros: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=micros)).isoformat()
