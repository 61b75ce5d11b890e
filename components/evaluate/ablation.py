"""The modality ablation table: the full candidate against itself with one modality off (pure).

Each variant is the same trainer with some content modalities switched off (``TrainConfig.
modalities``), ranked through its exported model on the same users, split and protocol as the
candidate. The table gives, per variant, Recall@K and NDCG@K on all and on warm targets, and the
drop against the full candidate (``candidate - variant``: positive means the switched-off
modality helps). Variants are reported, never gated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

TABLE_METRICS = ("recall", "ndcg")
FULL = "full"


def variant_name(on: Iterable[str], *, switchable: Sequence[str]) -> str:
    """``no_text`` for a model with every switchable modality but text on.

    Several off: ``no_image+text`` (sorted); none off: ``full``.
    """
    off = sorted(set(switchable) - set(on))
    return f"no_{'+'.join(off)}" if off else FULL


def modalities_off(on: Iterable[str], *, switchable: Sequence[str]) -> list[str]:
    """The switchable modalities not in ``on``, sorted."""
    return sorted(set(switchable) - set(on))


def table_metrics(ks: Sequence[int]) -> list[str]:
    """``recall@10, ndcg@10, recall@20, ...``: the columns of the table."""
    return [f"{name}@{k}" for k in ks for name in TABLE_METRICS]


def ablation_table(
    candidate: Mapping[str, float],
    candidate_warm: Mapping[str, float],
    variants: Mapping[str, Mapping[str, float]],
    variants_warm: Mapping[str, Mapping[str, float]],
    *,
    ks: Sequence[int],
) -> dict[str, dict[str, dict[str, float]]]:
    """Per variant: its metrics (all, warm targets) and the drop of each against the candidate.

    Args:
        candidate: The full candidate's metrics on all targets (``recall@K``, ``ndcg@K``, ...).
        candidate_warm: The same on warm targets.
        variants: Variant name -> its metrics on all targets, on the same users.
        variants_warm: Variant name -> its metrics on warm targets.
        ks: Cut-offs of the table.

    Returns:
        ``{variant: {"all": {m: v}, "warm": {m: v}, "drop": {m: candidate - v},
        "drop_warm": {...}}}`` for ``m`` in ``table_metrics(ks)``.

    Raises:
        KeyError: naming a variant or metric missing from the inputs.
    """
    names = table_metrics(ks)
    out = {}
    for variant in sorted(variants):
        if variant not in variants_warm:
            raise KeyError(f"ablation variant {variant!r} has no warm-target metrics")
        ours, warm = variants[variant], variants_warm[variant]
        out[variant] = {
            "all": {m: ours[m] for m in names},
            "warm": {m: warm[m] for m in names},
            "drop": {m: candidate[m] - ours[m] for m in names},
            "drop_warm": {m: candidate_warm[m] - warm[m] for m in names},
        }
    return out


def metric_entries(table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> dict[str, float]:
    """The table as flat kfp Metrics entries.

    Names: ``ablation_no_text_recall@50`` (all targets), ``ablation_no_text_warm_recall@50``
    (warm targets), and ``..._drop`` after each (candidate - variant).
    """
    out = {}
    for variant, row in sorted(table.items()):
        for kind, prefix in (("all", ""), ("warm", "warm_")):
            drops = row["drop" if kind == "all" else "drop_warm"]
            for metric, value in row[kind].items():
                out[f"ablation_{variant}_{prefix}{metric}"] = value
                out[f"ablation_{variant}_{prefix}{metric}_drop"] = drops[metric]
    return out
