"""The page's charts drawn with matplotlib (Agg) as inline ``data:image/png;base64`` URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt
import numpy as np

from components.report.charts import (
    PopularityCurve,
    QuarantineMatrix,
    Series,
    label_tiers,
    needs_own_axis,
)

DPI = 100
SUPPRESSED_COLOR = "#bbbbbb"
CUTOFF_COLORS = ("#2ca02c", "#d62728", "#ff7f0e", "#9467bd")
plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})


def to_data_uri(fig: plt.Figure) -> str:
    """The figure as a PNG data URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def quarantine_chart(matrix: QuarantineMatrix) -> str:
    """Horizontal stacked bars: quarantined rows per table, one colour per reason."""
    return to_data_uri(quarantine_figure(matrix))


def quarantine_figure(matrix: QuarantineMatrix) -> plt.Figure:
    """The quarantine chart; the legend sits right of the axes, never over a bar."""
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * max(3, len(matrix.tables)) + 0.8))
    left = np.zeros(len(matrix.tables))
    colors = plt.get_cmap("tab10")
    for j, reason in enumerate(matrix.reasons):
        values = matrix.counts[:, j]
        ax.barh(matrix.tables, values, left=left, label=reason, color=colors(j % 10))
        left += values
    for i, total in enumerate(left):
        ax.text(total, i, f" {int(total):,}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("quarantined rows")
    if len(left) and left.max() > 0:
        ax.set_xlim(0, left.max() * 1.18)  # room for the totals printed after each bar
    if matrix.reasons:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    else:
        ax.set_title("no row quarantined")
    return fig


def popularity_chart(curve: PopularityCurve) -> str:
    """Interactions per item by rank (log scale) and the cumulative share of interactions."""
    return to_data_uri(popularity_figure(curve))


def popularity_figure(curve: PopularityCurve) -> plt.Figure:
    """The popularity chart, with never-interacted items shaded and counted, not plotted.

    Only items with an interaction go on the log axis (it has no place for zero).
    """
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ranks = np.arange(1, len(curve.counts) + 1)
    touched = curve.interacted
    if touched:
        ax.plot(ranks[:touched], curve.counts[:touched], color="#1f77b4")
        ax.set_yscale("log")
    ax.set_xlim(0, max(len(ranks), 1) + 0.5)
    untouched = len(curve.counts) - touched
    if untouched:
        ax.axvspan(touched + 0.5, len(ranks) + 0.5, color="#eeeeee", zorder=0)
        ax.text(
            (touched + len(ranks)) / 2,
            0.5,
            f"{untouched:,} items\nwith no train\ninteraction",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="center",
            fontsize=8,
            color="#555555",
        )
    ax.set_xlabel("item rank (most interacted first)")
    ax.set_ylabel("train-window interactions", color="#1f77b4")
    share = ax.twinx()
    share.plot(ranks, curve.cumulative_share * 100, color="#d62728")
    share.set_ylim(0, 101)
    share.set_ylabel("cumulative share (%)", color="#d62728")
    share.spines["right"].set_visible(True)
    return fig


def timeline_chart(days: np.ndarray, counts: np.ndarray, cutoffs: Mapping[str, str]) -> str:
    """Events per day with the split cut-offs as vertical lines."""
    return to_data_uri(timeline_figure(days, counts, cutoffs))


def timeline_figure(days: np.ndarray, counts: np.ndarray, cutoffs: Mapping[str, str]) -> plt.Figure:
    """The timeline; cut-off labels close together go on separate lines (``label_tiers``)."""
    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    ax.fill_between(days, counts, step="mid", color="#9ecae1")
    ax.plot(days, counts, drawstyle="steps-mid", color="#3182bd", linewidth=0.8)
    marks = [
        (label, np.datetime64(when[:19], "s"), color)
        for (label, when), color in zip(cutoffs.items(), CUTOFF_COLORS, strict=False)
        if when
    ]
    if marks:
        left, right = ax.get_xlim()  # matplotlib date units: days
        xs = [float(x.astype("datetime64[s]").astype(np.int64)) / 86_400 for _, x, _ in marks]
        texts = [f" {label} {str(x)[:10]}" for label, x, _ in marks]
        # About 1.1% of this axis' width per character at font size 8.
        tiers = label_tiers(
            xs, span=max(right - left, 1e-9), widths=[0.011 * len(t) for t in texts]
        )
        top = ax.get_ylim()[1]
        ax.set_ylim(top=top * (1 + 0.12 * max(tiers)))
        for (_, x, color), text, tier in zip(marks, texts, tiers, strict=True):
            ax.axvline(x, color=color, linestyle="--", linewidth=1.2)
            ax.text(
                x,
                1 - 0.1 * tier,
                text,
                transform=ax.get_xaxis_transform(),
                color=color,
                fontsize=8,
                va="top",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
            )
    ax.set_ylabel("events per day")
    fig.autofmt_xdate()
    return fig


def history_chart(series: Sequence[Series], *, title: str, mark_epoch: int | None = None) -> str:
    """One panel per curve: train (solid) and validation (dashed) by epoch."""
    return to_data_uri(history_figure(series, title=title, mark_epoch=mark_epoch))


def history_figure(
    series: Sequence[Series], *, title: str, mark_epoch: int | None = None
) -> plt.Figure:
    """The per-epoch panels; ``mark_epoch`` is drawn as a dotted line.

    Validation gets its own (right) axis when its level is more than ``charts.OWN_AXIS_RATIO``
    times off the train curve's.
    """
    n = max(1, len(series))
    fig, axes = plt.subplots(1, n, figsize=(min(3.2 * n, 9.5), 2.6), squeeze=False)
    for ax, s in zip(axes[0], series, strict=False):
        length = max(len(s.train), len(s.validation or []))
        epochs = np.arange(1, length + 1)
        lines = []
        if s.train:
            lines += ax.plot(epochs[: len(s.train)], s.train, marker="o", label="train")
        if s.validation:
            own = needs_own_axis(s)
            target = ax.twinx() if own else ax
            if own:
                target.spines["right"].set_visible(True)
                target.set_ylabel("validation (own axis)", fontsize=7, color="#ff7f0e")
                ax.set_ylabel("train", fontsize=7, color="#1f77b4")
            lines += target.plot(
                epochs[: len(s.validation)],
                s.validation,
                marker="o",
                linestyle="--",
                color="#ff7f0e",
                label="validation (right axis)" if own else "validation",
            )
        if mark_epoch is not None and 1 <= mark_epoch <= length:
            ax.axvline(mark_epoch, color="#888888", linewidth=0.8, linestyle=":")
        ax.set_title(s.name, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
        ax.legend(handles=lines, fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def metrics_chart(
    models: Mapping[str, Mapping[str, float]], *, metric: str, ks: Sequence[int]
) -> str:
    """Grouped bars of ``metric@k`` per model."""
    fig, ax = plt.subplots(figsize=(6.5, 2.8))
    names = list(models)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(ks))
    for i, name in enumerate(names):
        values = [models[name].get(f"{metric}@{k}", np.nan) for k in ks]
        ax.bar(x + i * width - 0.4 + width / 2, values, width, label=name)
    ax.set_xticks(x, [f"@{k}" for k in ks])
    ax.set_ylabel(metric)
    ax.legend(fontsize=7, frameon=False)
    return to_data_uri(fig)


def user_map(
    coords: np.ndarray,
    labels: np.ndarray,
    *,
    shown: Sequence[int],
    explained: tuple[float, float],
    k: int,
) -> str:
    """Users on the 2-D PCA map, coloured by cluster; clusters under k users in grey, unlabelled."""
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    colors = plt.get_cmap("tab10")
    hidden = ~np.isin(labels, list(shown))
    if hidden.any():
        ax.scatter(*coords[hidden].T, s=6, color=SUPPRESSED_COLOR, label=f"clusters < {k} users")
    for c in shown:
        mask = labels == c
        ax.scatter(*coords[mask].T, s=6, alpha=0.7, color=colors(c % 10), label=f"cluster {c}")
        centre = np.median(coords[mask], axis=0)
        ax.annotate(
            str(c),
            centre,
            fontsize=11,
            weight="bold",
            ha="center",
            va="center",
            bbox={"boxstyle": "circle", "fc": "white", "ec": colors(c % 10)},
        )
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.legend(fontsize=7, markerscale=2, frameon=False, loc="best")
    return to_data_uri(fig)
