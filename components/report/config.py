"""ReportConfig: what the analyst page shows and how much it hides."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Settings of the report stage.

    Attributes:
        k_anonymity: No cluster, slice or cell is shown for fewer than this many users.
        clusters: k-means clusters asked for in the user-embedding space (fewer when there are
            not ``k_anonymity`` users per cluster).
        users_per_cluster: Users sampled per shown cluster for the recommendations section.
        recommendations: Items shown per sampled user.
        history: Recent history items shown per sampled user.
        top_values: Categories, words and brands listed per persona.
        thumbnail_px: Side of the inline PNG thumbnails.
        max_map_users: Users drawn on the embedding map (a deterministic sample above it).
        seed: PCA/k-means and user-sampling seed.
    """

    k_anonymity: int = 10
    clusters: int = 6
    users_per_cluster: int = 1
    recommendations: int = 10
    history: int = 5
    top_values: int = 5
    thumbnail_px: int = 48
    max_map_users: int = 20_000
    seed: int = 7

    def __post_init__(self) -> None:
        for name in (
            "k_anonymity",
            "clusters",
            "users_per_cluster",
            "recommendations",
            "history",
            "top_values",
            "thumbnail_px",
            "max_map_users",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"ReportConfig.{name} must be >= 1, got {getattr(self, name)}")
