"""The run summary page as Markdown (pure: documents in, text out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.report.charts import quarantine_breakdown
from components.report.verdicts import (
    STATUS_MARK,
    extras_rows,
    peers_rows,
    push_note,
    reason_status,
    trained_epochs,
)

HEADLINE_KS = (10, 20, 50, 100)
PEER_METRICS = ("recall@20", "ndcg@20", "recall@50", "ndcg@50")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_markdown(
    *,
    data: Mapping,
    metrics: MetricsDocument,
    blessing: BlessingDocument,
    pushed_version: str | None,
) -> str:
    """The run's summary: row accounting, metrics per model, peers, and the gate's reasons.

    Args:
        data: Ingest manifest (``tables``: per table ``read``/``valid``/``quarantined``).
        metrics: Evaluate's metrics (``models``: per model a metric dict).
        blessing: Evaluate's blessing (``blessed``, ``reasons``).
        pushed_version: The version pushed in this run, or None (the report is written before
            the push step: it then says what it can know).
    """
    out = ["# Run report", "", f"Schema version {metrics.schema_version or '?'}.", ""]
    out += ["## Data", ""]
    rows = []
    for name, counts in data.get("tables", {}).items():
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(counts.get("by_reason", {}).items()))
        rows.append(
            [
                name,
                f"{counts.get('read', 0):,}",
                f"{counts.get('valid', 0):,}",
                f"{counts.get('quarantined', 0):,}",
                reasons or "-",
            ]
        )
    out += _table(["table", "read", "valid", "quarantined", "reasons"], rows)
    read = sum(t.get("read", 0) for t in data.get("tables", {}).values())
    parts = quarantine_breakdown(data)
    if parts and read:
        quarantined = sum(q.quarantined for q in parts)
        out += ["", f"{quarantined / read:.1%} of all rows read were quarantined:"]
        out += [
            f"- {q.table}: {q.quarantined:,} of {q.read:,} ({q.quarantined / max(q.read, 1):.1%}), "
            f"{q.quarantined / quarantined:.1%} of all quarantined; mostly {q.reason} "
            f"({q.reason_rows:,})"
            for q in parts
        ]
    out += [
        "",
        f"Windows: train before {data.get('train_end', '?')}, eval before "
        f"{data.get('eval_end', '?')}, test after ({data.get('cutoffs_source', '?')}).",
        "",
    ]
    out += ["## Quality", ""]
    out.append(
        f"{metrics.eval_users:,} users evaluated on a catalog of {metrics.catalog_size:,} items."
    )
    out.append("")
    names = [f"{m}@{k}" for m in ("recall", "ndcg") for k in HEADLINE_KS] + ["mrr", "coverage@50"]
    models = metrics.models
    out += _table(
        ["model", *names],
        [
            [model, *(f"{values.get(n, float('nan')):.4f}" for n in names)]
            for model, values in models.items()
        ],
    )
    out += _peers_markdown(metrics)
    verdict = "blessed" if blessing.blessed else "NOT blessed"
    out += ["", "## Gate", "", f"**{verdict}**", ""]
    out += [f"- {STATUS_MARK[reason_status(r)]}: {r}" for r in blessing.reasons]
    out += ["", push_note(blessing, pushed_version), ""]
    return "\n".join(out)


def _peers_markdown(metrics: MetricsDocument) -> list[str]:
    if not metrics.peers:
        return []
    shown = [m for m in PEER_METRICS if any(m in v for v in metrics.models.values())]
    peers, differences = peers_rows(metrics, shown)
    out = ["", "## Peers", "", str(metrics.peers.get("rule", "")), ""]
    out += _table(["peer", "setting (chosen on validation)", *shown, "note"], peers)
    if differences:
        out += ["", "Candidate minus the strongest peer (paired bootstrap):", ""]
        out += _table(
            ["metric", "strongest peer", "difference", "interval", "users", "reading"], differences
        )
    extras = extras_rows(metrics)
    if extras:
        out += ["", "Other models minus the strongest peer (reported, not gated):", ""]
        out += _table(
            ["model", "metric", "strongest peer", "difference", "interval", "users", "reading"],
            extras,
        )
    return out


def render_markdown_extras(*, train: Mapping, personas: Sequence, k: int) -> str:
    """Training time and the personas (clusters of at least ``k`` users) as Markdown.

    Args:
        train: The trainer's manifest (``train_seconds``, ``examples``, ``config``); may be {}.
        personas: ``personas.Persona`` values (suppressed ones are listed as such).
        k: The k-anonymity threshold the page used.
    """
    out = [""]
    if train:
        epochs, how = trained_epochs(train)
        out += [
            "## Training",
            "",
            f"{train.get('examples', 0):,} examples, {epochs} epochs ({how}), "
            f"{train.get('train_seconds', 0):.1f} s fit, final loss "
            f"{train.get('final_loss', float('nan')):.4g}.",
            "",
        ]
    if personas:
        rows = []
        for p in personas:
            if not p.shown:
                rows.append([str(p.cluster), str(p.users), "", "", ""])
                continue
            top = ", ".join(v for v, _ in p.categories.shown[:3]) or "-"
            rows.append([str(p.cluster), f"{p.users:,}", top, p.activity, p.price_band or "-"])
        out += [f"## Users (clusters of at least {k} users described)", ""]
        out += _table(["cluster", "users", "top categories", "activity", "price band"], rows)
        out.append("")
    return "\n".join(out)
