"""The page's six sections as HTML, from the run's documents and prepared values (pure).

Each builder returns ``(html, suppressed)``: the section body and how many cells it hid
because fewer than k users were in them (the Privacy section lists these counts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.report.charts import PopularityCurve, Series
from components.report.html import chart, esc, item_tile, kpis, modality_badge, num, table
from components.report.personas import Persona, TopValues
from components.report.privacy import Suppressed, count_suppressed, suppress_counts

HEADLINE = ("recall@10", "recall@20", "recall@50", "recall@100", "ndcg@10", "ndcg@20", "ndcg@50")
TAIL = ("mrr", "hit_rate@10", "coverage@50")
SLICE_METRICS = ("recall@20", "recall@50", "ndcg@20")
# Tables whose diversity counts are users (profile attributes): k-anonymity applies there.
USER_TABLES = ("users",)


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
    for name, t in qt.items():
        diversity = t.get("diversity", {})
        for column, c in t.get("completeness", {}).items():
            d = diversity.get(column, {})
            top = d.get("top") or {}
            if name in USER_TABLES:
                top = suppress_counts(top, k=k)
                suppressed += count_suppressed(top)
            shown = ", ".join(f"{_short(str(v))} ({num(n)})" for v, n in top.items())
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
    out += [
        "<h3>Completeness and diversity</h3>",
        table(
            ["table", "column", "filled", "distinct", "entropy (bits)", "most frequent"],
            rows,
            numeric=(2, 3, 4),
        ),
    ]
    ranges = []
    for name, t in qt.items():
        for column, r in (t.get("time_range") or {}).items():
            ranges.append([esc(name), esc(column), esc(r.get("min", "-")), esc(r.get("max", "-"))])
    out += [
        "<h3>Time range and split cut-offs</h3>",
        f"<p>Train window before <b>{esc(manifest.get('train_end', '?'))}</b>, eval window "
        f"before <b>{esc(manifest.get('eval_end', '?'))}</b>, test after it "
        f"(cut-offs from {esc(manifest.get('cutoffs_source', '?'))}).</p>",
        chart(charts["timeline"], "events per day with cut-offs"),
        table(["table", "column", "first", "last"], ranges),
    ]
    interactions = qt.get("events", {}).get("interactions", {})
    touched = int((popularity.counts > 0).sum())
    out += [
        "<h3>Item popularity</h3>",
        kpis(
            [
                (_share(popularity.head_share(0.01)), "of interactions on the top 1% of items"),
                (_share(popularity.head_share(0.1)), "on the top 10%"),
                (f"{touched:,} / {len(popularity.counts):,}", "items with a train interaction"),
                (num(interactions.get("item_popularity_gini"), 2), "Gini of item popularity"),
            ]
        ),
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


def training_section(
    *,
    losses: Sequence[Series],
    metrics: Sequence[Series],
    train: Mapping,
    charts: Mapping[str, str],
) -> tuple[str, int]:
    """Loss and metric curves per epoch, training time and set-up.

    Args:
        losses: Loss curves (``charts.history_series``).
        metrics: Metric curves (``charts.history_series``).
        train: The trainer's ``manifest.json``.
        charts: ``losses`` and (when there are metrics) ``metrics`` data URIs.
    """
    config = train.get("config", {})
    final = [(f"{s.train[-1]:,.4g}", f"final {s.name}") for s in [*losses, *metrics] if s.train]
    out = [
        kpis(
            [
                (f"{train.get('train_seconds', 0):,.1f} s", "training time (fit)"),
                (f"{train.get('total_seconds', 0):,.1f} s", "whole train step"),
                (num(train.get("examples")), "training examples"),
                (num(config.get("epochs")), "epochs"),
                *final[:3],
            ]
        ),
        chart(charts["losses"], "loss curves"),
    ]
    if "metrics" in charts:
        out.append(chart(charts["metrics"], "metric curves"))
    facts = [
        ["modalities", esc(", ".join(config.get("modalities", [])) or "none (ID only)")],
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
) -> tuple[str, int]:
    """Metrics with baselines, ranking head and ablation when present, slices, gate, comparison.

    Args:
        evaluation: Evaluate's metrics.
        blessing: Evaluate's blessing.
        charts: ``recall`` data URI.
        k: Fewest users a shown slice may have.
    """
    suppressed = 0
    blessed = bool(blessing.blessed)
    verdict = "BLESSED" if blessed else "NOT BLESSED"
    out = [
        f'<p><span class="verdict {"ok" if blessed else "no"}">{verdict}</span> '
        f"&nbsp;{num(evaluation.eval_users)} users evaluated on a catalog of "
        f"{num(evaluation.catalog_size)} items; model in service: "
        f"{esc(evaluation.in_service_version or 'none')}.</p>"
    ]
    if blessing.forced:
        forced = blessing.forced
        out.append(f"<p><b>Forced</b> by {esc(forced.get('by'))}: {esc(forced.get('reason'))}</p>")
    out += [
        "<h3>Gate decision and reasons</h3>",
        "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in blessing.reasons) + "</ul>",
    ]
    models = evaluation.models
    names = [n for n in (*HEADLINE, *TAIL) if any(n in v for v in models.values())]
    protocol = evaluation.protocol
    out += [
        "<h3>Metrics with baselines</h3>",
        f'<p class="muted">{esc(protocol.get("targets", ""))}</p>',
        table(["model", *names], _metric_rows(models, names), numeric=range(1, len(names) + 1)),
        chart(charts["recall"], "recall at K per model"),
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
    slices = evaluation.slices
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
            [esc(m), *(num(v.get(f)) for f in fields), esc(v.get("note") or "")]
            for m, v in models.items()
        ]
        out.append(table(["model", *fields, "note"], rows, numeric=range(1, len(fields) + 1)))
    for name, why in (doc.get("unavailable") or {}).items():
        out.append(f'<p class="muted">{esc(name)}: {esc(why)}</p>')
    return "".join(out) if len(out) > 1 else ""


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


def _short(value: str, limit: int = 48) -> str:
    """``value`` escaped, cut to ``limit`` characters (the whole value in a tooltip)."""
    if len(value) <= limit:
        return esc(value)
    return f'<span title="{esc(value)}">{esc(value[: limit - 1])}\u2026</span>'


def _values(top: TopValues | None) -> str:
    if top is None:
        return "-"
    shown = ", ".join(
        f"{_short(v)} <span class='muted'>({n}"
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
) -> tuple[str, int]:
    """The embedding map and one persona per cluster (suppressed clusters marked)."""
    shown = [p for p in personas if p.shown]
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
        price = "-" if p.median_price is None else f"{esc(p.price_band)} ({p.median_price:,.2f})"
        rows.append(
            [
                esc(p.cluster),
                num(p.users),
                _values(p.categories),
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
