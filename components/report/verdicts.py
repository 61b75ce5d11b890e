"""What the report says about the run's outcomes, as plain text (shared by page and sections).

Which gate checks passed, what the page can know of the push, the peers table and the
candidate-minus-strongest-peer intervals, whether a ranking head beats the base rate, and how
many epochs the final fit ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from components.evaluate.documents import BlessingDocument, MetricsDocument
from components.evaluate.gates import NO_EVAL_USERS


def reason_status(reason: str) -> str:
    """``"pass"``, ``"fail"`` or ``"note"`` for one gate reason (in ``evaluate.gates``' words).

    The blessing keeps its reasons as sentences; this reads the verdict each one states.
    """
    if reason.startswith("FORCE-BLESSED") or "not judged" in reason:
        return "note"
    if reason == NO_EVAL_USERS or "FAILED" in reason or "regression beyond" in reason:
        return "fail"
    if reason.endswith(": regression") or " < threshold" in reason or " < strongest" in reason:
        return "fail"
    if reason.endswith(": no regression") or "within tolerance" in reason:
        return "pass"
    if " >= threshold" in reason or " >= strongest" in reason or "validation passed" in reason:
        return "pass"
    return "note"


STATUS_MARK = {"pass": "\u2713 pass", "fail": "\u2717 FAIL", "note": "\u00b7 note"}


def push_note(blessing: BlessingDocument, pushed_version: str | None) -> str:
    """What the page can say about the push: it is written before the push step runs."""
    if pushed_version:
        return f"Pushed version: {pushed_version}."
    if blessing.blessed:
        return (
            "Blessed: the push step runs after this page is written, so the version it "
            "publishes is not known here; it is in the push step's output and in the run "
            "summary (the model root's LATEST names it once published)."
        )
    return "Not pushed: the gate did not bless this model."


def describe_difference(interval: Mapping) -> str:
    """What a candidate-minus-peer interval says: better, worse, or no clear difference."""
    low, high = interval.get("low", 0.0), interval.get("high", 0.0)
    if low > 0:
        return "candidate better"
    if high < 0:
        return "candidate worse"
    return "no clear difference"


def peers_rows(
    evaluation: MetricsDocument, metrics: Sequence[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """Rows (plain text) of the peers table and of the candidate-minus-strongest-peer table.

    Returns:
        ``(peers, differences)``: per peer ``[name, setting, *metrics, note]``; per metric
        ``[metric, peer, difference, interval, users, verdict]``.
    """
    doc = evaluation.peers or {}
    chosen = doc.get("chosen") or {}
    unavailable = doc.get("unavailable") or {}
    best: dict[str, list[str]] = {}
    for metric, v in (doc.get("strongest") or {}).items():
        best.setdefault(v.get("peer"), []).append(metric)
    rows = []
    for name in dict.fromkeys([*chosen, *unavailable]):
        choice = chosen.get(name) or {}
        setting = choice.get("setting")
        values = evaluation.models.get(name, {})
        problem = unavailable.get(name) or choice.get("problem")
        note = f"skipped: {problem}" if problem else ""
        if name in best and not problem:
            note = f"strongest on {', '.join(best[name])}"
        rows.append(
            [
                name,
                _setting(setting),
                *(f"{values[m]:.4f}" if m in values else "-" for m in metrics),
                note,
            ]
        )
    differences = []
    for metric, v in (doc.get("strongest") or {}).items():
        i = v.get("candidate_minus_peer") or {}
        differences.append(
            [
                metric,
                str(v.get("peer")),
                f"{i.get('mean', 0):+.4f}",
                f"[{i.get('low', 0):+.4f}, {i.get('high', 0):+.4f}]",
                f"{i.get('users', 0):,}",
                describe_difference(i),
            ]
        )
    return rows, differences


def extras_rows(evaluation: MetricsDocument) -> list[list[str]]:
    """Other models (ID-only, seeds) minus the strongest peer, as evaluate reports them.

    Returns:
        Per model and metric ``[model, metric, peer, difference, interval, users, verdict]``.
    """
    rows = []
    for model, metrics in ((evaluation.peers or {}).get("extras_vs_strongest") or {}).items():
        for metric, v in metrics.items():
            i = v.get("model_minus_peer") or {}
            rows.append(
                [
                    model,
                    metric,
                    str(v.get("peer")),
                    f"{i.get('mean', 0):+.4f}",
                    f"[{i.get('low', 0):+.4f}, {i.get('high', 0):+.4f}]",
                    f"{i.get('users', 0):,}",
                    describe_difference(i).replace("candidate", model),
                ]
            )
    return rows


def _setting(setting: Mapping | None) -> str:
    if setting is None:
        return "-"
    return ", ".join(f"{k}={v}" for k, v in setting.items()) or "(no setting)"


def worse_than_base_rate(head: Mapping) -> bool:
    """Whether a ranking head's log loss is above that of predicting the base rate."""
    loss, base = head.get("log_loss"), head.get("base_rate_log_loss")
    return loss is not None and base is not None and loss > base


def peer_summary_lines(evaluation: MetricsDocument) -> list[str]:
    """The peers in a few plain lines (the CLI run summary): strongest per metric, skipped."""
    doc = evaluation.peers or {}
    lines = []
    strongest = doc.get("strongest") or {}
    if strongest:
        lines.append("candidate minus the strongest peer (paired bootstrap interval):")
    for metric, v in strongest.items():
        i = v.get("candidate_minus_peer") or {}
        lines.append(
            f"  {metric:<10} vs {v.get('peer')!s:<14} {i.get('mean', 0):+.4f} "
            f"[{i.get('low', 0):+.4f}, {i.get('high', 0):+.4f}] {describe_difference(i)}"
        )
    for name, why in (doc.get("unavailable") or {}).items():
        lines.append(f"  peer {name} skipped: {why}")
    return lines


def trained_epochs(train: Mapping) -> tuple[object, str]:
    """``(epochs the final fit ran, how they were set)`` from the trainer's manifest."""
    configured = (train.get("config") or {}).get("epochs")
    ran = train.get("epochs", configured)
    if train.get("selection"):
        return ran, f"chosen on validation, of {configured} tried"
    return ran, "configured"
