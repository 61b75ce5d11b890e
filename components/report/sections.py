"""The page's six sections as HTML, from the run's documents and prepared values (pure).

Each builder returns ``(html, suppressed)``: the section body and how many cells it hid
because fewer than k users were in them (the Privacy section lists these counts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from components.evaluate.documents import CANDIDATE, BlessingDocument, MetricsDocument
from components.ingest.reasons import Reason
from components.report.charts import (
    PopularityCurve,
    Series,
    level_ratio,
    needs_own_axis,
    quarantine_breakdown,
)
from components.report.html import chart, esc, item_tile, kpis, modality_badge, num, table
from components.report.personas import Persona, TopValues
from components.report.privacy import Suppressed, count_suppressed, suppress_counts
from components.report.verdicts import (
    STATUS_MARK,
    extras_rows,
    peers_rows,
    push_note,
    reason_status,
    trained_epochs,
    worse_than_base_rate,
)

HEADLINE = ("recall@10", "recall@20", "recall@50", "recall@100", "ndcg@10", "ndcg@20", "ndcg@50")
TAIL = ("mrr", "hit_rate@10", "coverage@50")
SLICE_METRICS = ("recall@20", "recall@50", "ndcg@20")
# Tables whose diversity counts are users (profile attributes): k-anonymity applies there.
USER_TABLES = ("users",)
# What each quarantine reason means, for the headline's breakdown.
REASON_MEANING = {
    Reason.MALFORMED: "the row could not be parsed",
    Reason.MISSING_REQUIRED: "a required field is empty",
    Reason.BAD_TYPE: "a value of the wrong type",
    Reason.BAD_VALUE: "a value outside the allowed ones",
    Reason.OUT_OF_RANGE: "a value outside its bounds",
    Reason.TOO_LONG: "a value longer than allowed",
    Reason.CORRUPT_IMAGE: "image bytes that do not decode",
    Reason.FUTURE_TIMESTAMP: "a timestamp after the run",
    Reason.UNKNOWN_USER: "it names a user who is not in the users table",
    Reason.UNKNOWN_ITEM: "it names an item that is not in the catalog",
    Reason.DUPLICATE: "a repeat of an earlier row",
}


def _share(x: float) -> str:
    return f"{x:.1%}"


def data_section(
    manifest: Mapping,
    quality: Mapping,
    *,
    popularity: PopularityCurve,
    charts: Mapping[str, str],
    k: int,
) -> tuple[str, int]:
    """Row accounting, quarantine, completeness/diversity, time windows, item popularity.

    Args:
        manifest: Ingest ``manifest.json``.
        quality: Ingest ``quality.json`` (completeness, diversity, time range, interactions).
        popularity: Train-window interactions per item.
        charts: ``quarantine``, ``timeline``, ``popularity`` data URIs.
        k: Fewest users a shown cell may count.
    """
    tables = manifest.get("tables", {})
    qt = quality.get("tables", {})
    suppressed = 0
    read = sum(t.get("read", 0) for t in tables.values())
    quarantined = sum(t.get("quarantined", 0) for t in tables.values())
    events = tables.get("events", {})
    out = [
        kpis(
            [
                (num(read), "rows read"),
                (num(quarantined), f"quarantined ({_share(quarantined / read if read else 0)})"),
                (num(events.get("valid", 0)), "valid events"),
                (num(tables.get("items", {}).get("valid", 0)), "catalog items"),
                (num(tables.get("users", {}).get("valid", 0)), "users"),
            ]
        )
    ]
    rows = []
    for name, t in tables.items():
        splits = ", ".join(f"{s} {n:,}" for s, n in t.get("splits", {}).items())
        rows.append(
            [
                esc(name),
                num(t.get("read", 0)),
                num(t.get("valid", 0)),
                num(t.get("quarantined", 0)),
                esc(splits or "-"),
            ]
        )
    out.append(_quarantine_headline(manifest, read=read, quarantined=quarantined))
    out += [
        "<h3>Rows per table</h3>",
        table(["table", "read", "valid", "quarantined", "splits"], rows, numeric=(1, 2, 3)),
    ]
    out += [
        "<h3>Quarantined rows by reason</h3>",
        '<p class="muted">Every bad row is kept in <code>quarantine/&lt;table&gt;.parquet</code> '
        "with its reason; valid + quarantined = read.</p>",
        chart(charts["quarantine"], "quarantine by reason"),
    ]
    rows = []
    empty = [name for name, t in qt.items() if not (t.get("rows") or {}).get("valid", 1)]
    for name, t in qt.items():
        if name in empty:
            continue
        diversity = t.get("diversity", {})
        for column, c in t.get("completeness", {}).items():
            d = diversity.get(column, {})
            top = d.get("top") or {}
            if name in USER_TABLES:
                top = suppress_counts(top, k=k)
                suppressed += count_suppressed(top)
            labels = short_labels([str(v) for v in top])
            shown = ", ".join(f"{_short(str(v), labels)} ({num(n)})" for v, n in top.items())
            entropy = d.get("entropy_bits")
            rows.append(
                [
                    esc(name),
                    esc(column),
                    _share(1 - c.get("null_rate", 0.0)),
                    num(d.get("distinct")),
                    "-" if entropy is None else f"{entropy:.2f}",
                    shown or "-",
                ]
            )
    flags = text_flags(quality)
    out += [
        "<h3>Completeness and diversity</h3>",
        (
            '<p class="warn">Text columns to check (a fill rate alone does not show these):</p>'
            "<ul>" + "".join(f"<li>{esc(f)}</li>" for f in flags) + "</ul>"
            if flags
            else ""
        ),
        table(
            ["table", "column", "filled", "distinct", "entropy (bits)", "most frequent"],
            rows,
            numeric=(2, 3, 4),
        ),
        (
            f'<p class="muted">Tables with no valid row (not listed): {esc(", ".join(empty))}.</p>'
            if empty
            else ""
        ),
    ]
    ranges = []
    for name, t in qt.items():
        for column, r in (t.get("time_range") or {}).items():
            ranges.append([esc(name), esc(column), esc(r.get("min", "-")), esc(r.get("max", "-"))])
    out += [
        "<h3>Time range and split cut-offs</h3>",
        f"<p>Train window before <b>{esc(manifest.get('train_end', '?'))}</b> (its last part, "
        f"from <b>{esc(manifest.get('validation_start') or '?')}</b>, is the validation window "
        "that chooses epochs and peer settings), eval window "
        f"before <b>{esc(manifest.get('eval_end', '?'))}</b>, test after it "
        f"(cut-offs from {esc(manifest.get('cutoffs_source', '?'))}).</p>",
        chart(charts["timeline"], "events per day with cut-offs"),
        table(["table", "column", "first", "last"], ranges),
    ]
    interactions = qt.get("events", {}).get("interactions", {})
    touched, catalog = popularity.interacted, len(popularity.counts)
    out += [
        "<h3>Item popularity</h3>",
        kpis(
            [
                (
                    _share(popularity.interacted_head_share(0.01)),
                    "of interactions on the top 1% of interacted items",
                ),
                (_share(popularity.interacted_head_share(0.1)), "on their top 10%"),
                (
                    f"{touched:,} / {catalog:,}",
                    "items with a train interaction "
                    f"({_share(touched / catalog if catalog else 0)})",
                ),
                (num(interactions.get("item_popularity_gini"), 2), "Gini of item popularity"),
            ]
        ),
        '<p class="muted">Shares are over the items with at least one train interaction: over '
        "the whole catalog they would read 100% as soon as fewer than 10% of its items are "
        "interacted with.</p>",
        chart(charts["popularity"], "item popularity curve"),
    ]
    histogram = interactions.get("user_activity_histogram")
    if histogram:
        cells = suppress_counts(histogram, k=k)
        suppressed += count_suppressed(cells)
        out += [
            "<h3>Users by number of events</h3>",
            table(
                ["events", *cells],
                [["users", *(num(v) for v in cells.values())]],
                numeric=tuple(range(1, len(cells) + 1)),
            ),
        ]
    return "".join(out), suppressed


def _quarantine_headline(manifest: Mapping, *, read: int, quarantined: int) -> str:
    """The quarantined share broken down by table, each with its dominant reason."""
    parts = quarantine_breakdown(manifest)
    if not parts:
        return ""
    items = []
    for q in parts:
        meaning = REASON_MEANING.get(q.reason, "")
        reason = (
            f"; mostly <b>{esc(q.reason)}</b> ({num(q.reason_rows)}"
            + (f": {esc(meaning)}" if meaning else "")
            + ")"
            if q.reason
            else ""
        )
        items.append(
            f"<li><b>{esc(q.table)}</b>: {num(q.quarantined)} of its {num(q.read)} rows "
            f"({_share(q.quarantined / q.read if q.read else 0)})"
            + (
                f", {_share(q.quarantined / quarantined)} of all quarantined"
                if len(parts) > 1
                else ""
            )
            + f"{reason}</li>"
        )
    return (
        f"<p>{_share(quarantined / read if read else 0)} of all rows read were quarantined; "
        "by table:</p><ul>" + "".join(items) + "</ul>"
    )


def text_flags(quality: Mapping) -> list[str]:
    """``table.column: flag`` for every flagged text column of ``quality.json``."""
    return [
        f"{name}.{column}: {flag}"
        for name, t in quality.get("tables", {}).items()
        for column, figures in (t.get("text") or {}).items()
        for flag in figures.get("flags", [])
    ]


def _epochs_kpi(train: Mapping) -> tuple[str, str]:
    ran, how = trained_epochs(train)
    return num(ran), f"epochs ({how})"


def training_section(
    *,
    losses: Sequence[Series],
    metrics: Sequence[Series],
    train: Mapping,
    charts: Mapping[str, str],
    validation: Sequence[Series] = (),
    best_epoch: int | None = None,
    images: Mapping[str, int] | None = None,
) -> tuple[str, int]:
    """Loss and metric curves per epoch, training time and set-up.

    Args:
        losses: Loss curves (``charts.history_series``).
        metrics: Metric curves (``charts.history_series``).
        train: The trainer's ``manifest.json``.
        charts: ``losses`` and (when there are metrics / validation curves) ``metrics`` and
            ``validation`` data URIs.
        validation: Validation-window ranking metrics per epoch (``charts.validation_series``).
        best_epoch: The epoch count chosen on them, when the trainer chose one.
        images: Catalog items with image ``bytes``, an ``embedding``, or only a ``uri``.
    """
    config = train.get("config", {})
    final = [(f"{s.train[-1]:,.4g}", f"final {s.name}") for s in [*losses, *metrics] if s.train]
    out = [
        kpis(
            [
                (f"{train.get('train_seconds', 0):,.1f} s", "training time (fit)"),
                (f"{train.get('total_seconds', 0):,.1f} s", "whole train step"),
                (num(train.get("examples")), "training examples"),
                _epochs_kpi(train),
                *final[:3],
            ]
        ),
        chart(charts["losses"], "loss curves"),
    ]
    for curve in losses:
        if needs_own_axis(curve):
            out.append(
                f'<p class="muted">{esc(curve.name)}: the validation curve is drawn on its own '
                f"(right) axis: its level is {level_ratio(curve):.1f} times the training "
                "curve's. The retrieval loss is summed over a batch's examples against "
                "in-batch negatives, so its level depends on how many examples and "
                "candidates each batch holds; read each curve's trend, not the gap between "
                "them.</p>"
            )
    if "metrics" in charts:
        out.append(chart(charts["metrics"], "metric curves"))
    if validation and "validation" in charts:
        chosen = f" The dotted line marks the {best_epoch} epochs chosen." if best_epoch else ""
        out += [
            "<h3>Validation window, per epoch</h3>",
            '<p class="muted">Ranking metrics on the validation window (the end of the train '
            "window, never the eval window) after each epoch of the selection fit; the final "
            f"model is refitted on the whole train window for the chosen epoch count.{chosen}</p>",
            chart(charts["validation"], "validation metrics per epoch"),
        ]
    facts = [
        ["modalities", _modalities(config.get("modalities", []), images)],
        [
            "embedding dim / batch / learning rate",
            esc(
                f"{config.get('embedding_dim')} / {config.get('batch_size')} / "
                f"{config.get('learning_rate')}"
            ),
        ],
        ["ranking head weight", esc(config.get("ranking_weight"))],
        ["strategy / replicas", esc(f"{train.get('strategy')} / {train.get('replicas')}")],
        ["items indexed", num(train.get("items_indexed"))],
        ["weights sha256", f"<code>{esc(str(train.get('weights_sha256', '-'))[:16])}</code>"],
    ]
    out += ["<h3>Set-up</h3>", table(["", ""], facts)]
    return "".join(out), 0


def gate_reasons(reasons: Sequence[str]) -> str:
    """The gate's reasons as a list, each marked passed, failed or a note."""
    items = []
    for reason in reasons:
        status = reason_status(reason)
        items.append(
            f'<li class="g-{status}"><span class="mark">{STATUS_MARK[status]}</span> '
            f"{esc(reason)}</li>"
        )
    return '<ul class="gate">' + "".join(items) + "</ul>"


def _peers(evaluation: MetricsDocument, names: Sequence[str]) -> str:
    doc = evaluation.peers or {}
    if not doc:
        return ""
    metrics = [n for n in names if n in ("recall@20", "ndcg@20", "recall@50", "ndcg@50")]
    peers, differences = peers_rows(evaluation, metrics)
    candidate = evaluation.models.get(CANDIDATE, {})
    confidence = next(
        (
            v.get("candidate_minus_peer", {}).get("confidence")
            for v in (doc.get("strongest") or {}).values()
        ),
        None,
    )
    out = [
        "<h3>Peers: the simple recommenders to beat</h3>",
        f'<p class="muted">{esc(doc.get("rule", ""))}; '
        f"{num(doc.get('validation_users'))} validation users.</p>",
        table(
            ["peer", "setting (chosen on validation)", *metrics, "note"],
            [
                ["<b>candidate</b>", "", *(num(candidate.get(m)) for m in metrics), ""],
                *([esc(c) for c in row] for row in peers),
            ],
            numeric=range(2, len(metrics) + 2),
        ),
    ]
    if differences:
        level = f"{confidence:.0%} " if confidence else ""
        out += [
            f"<p>Candidate minus the strongest peer per metric, paired bootstrap over the same "
            f"users ({level}interval):</p>",
            table(
                ["metric", "strongest peer", "difference", "interval", "users", "reading"],
                [[esc(c) for c in row] for row in differences],
                numeric=(2, 4),
            ),
        ]
    extras = extras_rows(evaluation)
    if extras:
        out += [
            "<p>Other models minus the strongest peer (reported, not gated):</p>",
            table(
                ["model", "metric", "strongest peer", "difference", "interval", "users", "reading"],
                [[esc(c) for c in row] for row in extras],
                numeric=(3, 5),
            ),
        ]
    return "".join(out)


def _modalities(names: Sequence[str], images: Mapping[str, int] | None) -> str:
    """The trained modalities, saying when the image one has nothing to learn from."""
    text = esc(", ".join(names) or "none (ID only)")
    if "image" not in names or images is None:
        return text
    if images.get("bytes", 0) + images.get("embedding", 0) == 0:
        uri = images.get("uri", 0)
        only = (
            f"; {uri:,} items have only an image URL, which the pipeline does not fetch"
            if uri
            else ""
        )
        text += (
            '<br><span class="warn">image: no catalog item has image bytes or an image '
            f"embedding, so the image tower sees only blanks{esc(only)}</span>"
        )
    return text


def _metric_rows(
    models: Mapping[str, Mapping[str, float]], names: Sequence[str]
) -> list[list[str]]:
    return [[esc(m), *(num(v.get(n)) for n in names)] for m, v in models.items()]


def quality_section(
    evaluation: MetricsDocument,
    blessing: BlessingDocument,
    *,
    charts: Mapping[str, str],
    k: int,
    pushed_version: str | None = None,
) -> tuple[str, int]:
    """Metrics with baselines and peers, ranking head and ablation, slices, gate, comparison.

    Args:
        evaluation: Evaluate's metrics.
        blessing: Evaluate's blessing.
        charts: ``recall`` data URI.
        k: Fewest users a shown slice may have.
        pushed_version: The version pushed, when known (the page is written before push).
    """
    suppressed = 0
    blessed = bool(blessing.blessed)
    verdict = "BLESSED" if blessed else "NOT BLESSED"
    out = [
        f'<p><span class="verdict {"ok" if blessed else "no"}">{verdict}</span> '
        f"&nbsp;{num(evaluation.eval_users)} users evaluated on a catalog of "
        f"{num(evaluation.catalog_size)} items; model in service: "
        f"{esc(evaluation.in_service_version or 'none')}. "
        f"{esc(push_note(blessing, pushed_version))}</p>"
    ]
    if blessing.forced:
        forced = blessing.forced
        out.append(f"<p><b>Forced</b> by {esc(forced.get('by'))}: {esc(forced.get('reason'))}</p>")
    out += [
        "<h3>Gate decision and reasons</h3>",
        gate_reasons(blessing.reasons),
    ]
    models = evaluation.models
    names = [n for n in (*HEADLINE, *TAIL) if any(n in v for v in models.values())]
    protocol = evaluation.protocol
    out += [
        "<h3>Metrics with baselines</h3>",
        f'<p class="muted">{esc(protocol.get("targets", ""))}</p>',
        table(["model", *names], _metric_rows(models, names), numeric=range(1, len(names) + 1)),
        chart(charts["recall"], "recall at K per model"),
        _peers(evaluation, names),
    ]
    warm = evaluation.models_warm
    # Shown only when some targets are cold items (else it repeats the table above).
    if warm and evaluation.warm_eval_users != evaluation.eval_users:
        out += [
            f"<h3>Warm targets only ({num(evaluation.warm_eval_users)} users)</h3>",
            f'<p class="muted">{esc(protocol.get("warm", ""))}</p>',
            table(["model", *names], _metric_rows(warm, names), numeric=range(1, len(names) + 1)),
        ]
    for name, why in evaluation.unavailable.items():
        out.append(f"<p><b>{esc(name)}</b> could not be evaluated: {esc(why)}</p>")
    out.append(_ranking_head(evaluation.ranking_head))
    out.append(_ablation(evaluation.ablation))
    # A slice holding every judged user repeats the headline row: named, not tabled.
    everyone = [p for p, d in evaluation.slices.items() if d.get("users") == evaluation.eval_users]
    slices = {p: d for p, d in evaluation.slices.items() if p not in everyone}
    if slices:
        model_names = list(models)
        rows = []
        for piece, doc in slices.items():
            users = doc.get("users", 0)
            cell = suppress_counts({piece: users}, k=k)[piece]
            if isinstance(cell, Suppressed):
                suppressed += 1
                rows.append([esc(piece), esc(cell), *([""] * len(model_names))])
                continue
            values = doc.get("models", {})
            rows.append(
                [
                    esc(piece),
                    num(users),
                    *(
                        " / ".join(num(values.get(m, {}).get(n), 3) for n in SLICE_METRICS)
                        for m in model_names
                    ),
                ]
            )
        out += [
            "<h3>Slices</h3>",
            f'<p class="muted">Each cell: {" / ".join(SLICE_METRICS)}. Slices of fewer than '
            f"{k} users are not shown.</p>",
            table(["slice", "users", *model_names], rows, numeric=(1,)),
        ]
    if everyone:
        out.append(
            f'<p class="muted">Not tabled: {esc(", ".join(everyone))}: each holds every judged '
            "user, so its figures are the headline's.</p>"
        )
    out.append(_comparison(evaluation.comparisons, blessing))
    return "".join(out), suppressed


def _ranking_head(doc: Mapping | None) -> str:
    if not doc:
        return ""
    models = doc.get("models") or {}
    out = ["<h3>Ranking head (conversion)</h3>"]
    if models:
        fields = ("examples", "positives", "base_rate", "auc", "log_loss", "base_rate_log_loss")
        rows = [
            [esc(m), *(num(v.get(f)) for f in fields), _head_note(v)] for m, v in models.items()
        ]
        out.append(table(["model", *fields, "note"], rows, numeric=range(1, len(fields) + 1)))
    for name, why in (doc.get("unavailable") or {}).items():
        out.append(f'<p class="muted">{esc(name)}: {esc(why)}</p>')
    return "".join(out) if len(out) > 1 else ""


def _head_note(head: Mapping) -> str:
    note = esc(head.get("note") or "")
    if worse_than_base_rate(head):
        flag = (
            '<b class="warn">\u26a0 worse than predicting the base rate</b> (log loss '
            f"{head['log_loss']:.3f} &gt; {head['base_rate_log_loss']:.3f}): its scores carry "
            "no usable conversion signal"
        )
        note = f"{flag}{'; ' + note if note else ''}"
    return note


def _ablation(doc: Mapping | None) -> str:
    if not doc:
        return ""
    out = ["<h3>Modality ablation</h3>", f'<p class="muted">{esc(doc.get("rule", ""))}</p>']
    variants = doc.get("variants") or {}
    if variants:
        metrics = list(next(iter(variants.values())).get("all", {}))
        rows = []
        for name, v in variants.items():
            off = ", ".join((doc.get("modalities_off") or {}).get(name, []))
            rows.append(
                [
                    esc(name),
                    esc(off),
                    *(
                        f"{num(v.get('all', {}).get(m))} ({v.get('drop', {}).get(m, 0):+.4f})"
                        for m in metrics
                    ),
                ]
            )
        out.append(
            table(
                ["variant", "off", *(f"{m} (drop)" for m in metrics)],
                rows,
                numeric=range(2, len(metrics) + 2),
            )
        )
    if doc.get("problem"):
        out.append(f"<p>{esc(doc['problem'])}</p>")
    for name, why in (doc.get("unavailable") or {}).items():
        out.append(f'<p class="muted">{esc(name)}: {esc(why)}</p>')
    return "".join(out)


def _comparison(doc: Mapping | None, blessing: BlessingDocument) -> str:
    out = ["<h3>Against the model in service</h3>"]
    if not doc:
        out.append(
            "<p>No model in service was compared (first push, or it could not be "
            "re-evaluated: see the reasons above).</p>"
        )
        return "".join(out)
    rows = []
    for scope, intervals in [
        ("all users", doc.get("headline", {})),
        *((f"slice {p}", v) for p, v in (doc.get("slices") or {}).items()),
    ]:
        for metric, i in intervals.items():
            rows.append(
                [
                    esc(scope),
                    esc(metric),
                    f"{i.get('mean', 0):+.4f}",
                    f"[{i.get('low', 0):+.4f}, {i.get('high', 0):+.4f}]",
                    num(i.get("users")),
                ]
            )
    out += [
        f"<p>Candidate minus version {esc(doc.get('version'))}, paired bootstrap "
        f"({num(blessing.bootstrap_resamples)} resamples, tolerance "
        f"{esc(blessing.tolerance)}).</p>",
        table(["scope", "metric", "difference", "interval", "users"], rows, numeric=(2, 4)),
    ]
    return "".join(out)


LABEL_CHARS = 48


def _elide(value: str, limit: int) -> str:
    """``value`` within ``limit`` characters.

    A category path keeps its first and last levels (``Clothing/\u2026/Tops/T-shirt``), where
    the levels that tell categories apart are; other text keeps its start.
    """
    if len(value) <= limit:
        return value
    levels = value.split("/")
    if len(levels) > 2:
        head, tail = levels[0], []
        for level in reversed(levels[1:]):
            if len(head) + len("/\u2026/") + len("/".join([level, *tail])) > limit:
                break
            tail.insert(0, level)
        if tail:
            return f"{head}/\u2026/{'/'.join(tail)}"
        return f"\u2026/{levels[-1][: limit - 2]}"
    return value[: limit - 1] + "\u2026"


def short_labels(values: Sequence[str], *, limit: int = LABEL_CHARS) -> dict[str, str]:
    """A label of at most ``limit`` characters per distinct value, no two alike.

    Values whose shortened labels would read the same keep their whole text, so two
    categories never look like one.
    """
    labels = {v: _elide(v, limit) for v in dict.fromkeys(values)}
    by_label: dict[str, list[str]] = {}
    for v, label in labels.items():
        by_label.setdefault(label, []).append(v)
    for same in by_label.values():
        if len(same) > 1:
            labels.update({v: v for v in same})
    return labels


def _short(value: str, labels: Mapping[str, str] | None = None) -> str:
    """``value`` escaped, as its label (the whole value in a tooltip when shortened)."""
    label = (labels or {}).get(value) or _elide(value, LABEL_CHARS)
    if label == value:
        return esc(value)
    return f'<span title="{esc(value)}">{esc(label)}</span>'


def _values(top: TopValues | None, labels: Mapping[str, str] | None = None) -> str:
    if top is None:
        return "-"
    shown = ", ".join(
        f"{_short(v, labels)} <span class='muted'>({n}"
        + (f", \u00d7{top.lifts[v]:.1f}" if v in top.lifts else "")
        + ")</span>"
        for v, n in top.shown
    )
    hidden = f" <span class='sup'>+{top.hidden} with &lt;k users</span>" if top.hidden else ""
    return (shown or "-") + hidden


def users_section(
    personas: Sequence[Persona],
    *,
    map_uri: str,
    users: int,
    explained: tuple[float, float],
    k: int,
    priced_items: int | None = None,
) -> tuple[str, int]:
    """The embedding map and one persona per cluster (suppressed clusters marked).

    ``priced_items``: catalog items with a price (0 says why no cluster has a price band).
    """
    shown = [p for p in personas if p.shown]
    # One label per category across all clusters: two categories never read the same.
    labels = short_labels([v for p in shown if p.categories for v, _ in p.categories.shown])
    out = [
        f"<p>{num(users)} users (the eval requests' query embeddings) projected by PCA "
        f"({explained[0] + explained[1]:.0%} of the variance on the map), clustered by k-means "
        f"in the full embedding space into {len(personas)} clusters; {len(shown)} have at "
        f"least {k} users and are described.</p>",
        chart(map_uri, "user embedding map"),
        "<h3>Personas</h3>",
        '<p class="muted">In brackets: users of the cluster sharing the value and, for words '
        "and brands, its lift (&times;2.0: twice as common in the cluster as among all users; "
        "they are listed most distinctive first). Values shared by fewer than "
        f"{k} users are not named. Price band and activity are against the catalog's price "
        "tertiles and all users' event-count tertiles.</p>",
    ]
    rows = []
    for p in personas:
        if not p.shown:
            rows.append([esc(p.cluster), esc(p.users), *([""] * 7)])
            continue
        if p.median_price is not None:
            price = f"{esc(p.price_band)} ({p.median_price:,.2f})"
        elif priced_items == 0:
            price = '<span class="muted">n/a: no catalog item has a price</span>'
        elif not p.median_events:
            price = '<span class="muted">n/a: these users have no train-window events</span>'
        else:
            price = '<span class="muted">n/a: no item these users touched has a price</span>'

        rows.append(
            [
                esc(p.cluster),
                num(p.users),
                _values(p.categories, labels),
                _values(p.words),
                _values(p.brands),
                price,
                f"{esc(p.activity)} ({p.median_events:g} events)",
                f"{p.social_degree:.1f}",
            ]
        )
    out.append(
        table(
            [
                "cluster",
                "users",
                "top categories",
                "top words",
                "top brands",
                "price band",
                "activity (median)",
                "social degree (mean)",
            ],
            rows,
            numeric=(1, 7),
        )
    )
    return "".join(out), sum(not p.shown for p in personas)


@dataclasses.dataclass(frozen=True)
class Tile:
    """A history item as shown: id, title, thumbnail data URI (or None), escaped extra lines."""

    item_id: str
    title: str
    thumbnail: str | None
    lines: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Rec:
    """A recommendation: the item, its score, and the score drop per blanked modality.

    Attributes:
        top: The modality with the largest drop (None: blanking none lowers the score).
    """

    item_id: str
    title: str
    thumbnail: str | None
    score: float
    top: str | None
    drops: dict[str, float]


@dataclasses.dataclass(frozen=True)
class UserCard:
    """A sampled user: cluster, recent history (newest first), recommendations (best first)."""

    user_id: str
    cluster: int
    history: list[Tile]
    recommendations: list[Rec]


def _drop_cell(drop: float, scale: float) -> str:
    """A drop as a number on a background as strong as the drop (red: the modality helps)."""
    alpha = min(1.0, abs(drop) / scale) * 0.55 if scale > 0 else 0.0
    colour = f"rgba(214,39,40,{alpha:.2f})" if drop > 0 else f"rgba(31,119,180,{alpha:.2f})"
    return f'<span style="display:block;background:{colour}">{drop:+.3f}</span>'


def _thumb(uri: str | None, alt: str) -> str:
    if uri:
        return f'<img class="th" src="{uri}" alt="{esc(alt)}">'
    return '<div class="ph th">no image</div>'


def recommendations_table(recs: Sequence[Rec]) -> str:
    """One row per recommendation: rank, picture, title, score, leading modality, every drop."""
    modalities = list(recs[0].drops) if recs else []
    scale = max((abs(d) for r in recs for d in r.drops.values()), default=0.0)
    rows = [
        [
            str(rank),
            _thumb(r.thumbnail, r.title or r.item_id),
            f"{esc(r.title or '(no title)')}<br><span class='muted'>{esc(r.item_id)}</span>",
            f"{r.score:.3f}",
            modality_badge(r.top),
            *(_drop_cell(r.drops[m], scale) for m in modalities),
        ]
        for rank, r in enumerate(recs, start=1)
    ]
    header = ["#", "", "item", "score", "leans on", *(f"drop: {m}" for m in modalities)]
    return table(header, rows, numeric=(0, 3, *range(5, 5 + len(modalities))))


def recommendations_section(cards: Sequence[UserCard], *, note: str = "") -> tuple[str, int]:
    """The sampled users' history and top recommendations, with each one's leading modality."""
    out = [
        "<p>Users sampled deterministically (by a hash of their pseudonymous id) across the "
        "clusters shown above. For each recommendation: the model's score (query . candidate "
        "embedding), and per modality the drop in that score when the modality's raw inputs "
        "are blanked on both towers (computed through the exported model's signatures); "
        "<i>leans on</i> names the largest drop. A negative drop means the modality pulled the "
        "score down.</p>"
    ]
    if note:
        out.append(f'<p class="muted">{esc(note)}</p>')
    for card in cards:
        history = "".join(
            item_tile(item_id=t.item_id, title=t.title, thumbnail=t.thumbnail, lines=t.lines)
            for t in card.history
        )
        out.append(
            f'<div class="user"><b>user {esc(card.user_id)}</b> '
            f'<span class="muted">cluster {esc(card.cluster)}</span>'
            "<h3>Recent history (before the cut-off)</h3>"
            f"<div class='strip'>{history or '<i>none</i>'}</div>"
            f"<h3>Top {len(card.recommendations)} recommendations</h3>"
            f"{recommendations_table(card.recommendations)}</div>"
        )
    if not cards:
        out.append("<p>No cluster has enough users to show a sample.</p>")
    return "".join(out), 0


def privacy_section(*, k: int, suppressed: Mapping[str, int]) -> str:
    """What the page hides and why."""
    rows = [[esc(name), num(n)] for name, n in suppressed.items()]
    return (
        "<ul><li>Ids shown are the pseudonymous ids present in the data; no other identifier, "
        "no raw quarantined row and no free text of a single user is shown (words are listed "
        "only when k users of a cluster share them).</li>"
        f"<li>k = <b>{k}</b>: no cluster, slice, histogram bucket or persona value counting "
        f"fewer than {k} users is shown; such cells read "
        f"<span class='sup'>{esc(Suppressed(k))}</span>. Sampled users come only from shown "
        "clusters.</li>"
        "<li>The page is self-contained: no script, font or stylesheet is loaded and its "
        "Content-Security-Policy forbids any request but inline images.</li></ul>"
        + table(["section", "cells suppressed"], rows, numeric=(1,))
    )
