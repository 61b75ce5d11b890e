"""Configuration of the transform stage."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TransformConfig:
    """What the transform computes and how Beam runs it.

    Attributes:
        max_text_tokens: Tokens kept per text feature (longer texts are cut, shorter padded).
        text_vocab_size: Most frequent tokens kept in the text vocabulary (rest are OOV).
        id_vocab_size: Most frequent ids kept in the user and item vocabularies (0 = all).
        oov_buckets: Out-of-vocabulary buckets for every vocabulary.
        beam_args: Beam pipeline flags passed through unchanged (``--runner=DataflowRunner`` ...).
        cache_dir: Analyzer cache directory, or None (default: analyze everything, no cache).
            When set, the train-window examples are also written as one Parquet span per UTC
            day of their event, analyzer results are cached per span there, and a span found
            in the cache is not analyzed again (nightly retrains analyze only new days).
        span_days: UTC days per cached span. Every span adds its own analyzer stages to the
            Beam graph: 89 one-day spans of the bundled sample did not finish in 10 min on
            DirectRunner (2 cores), so a long train window wants several days per span.
        shards: Key shards of the Beam feature build (users and items are hashed into this
            many groups; one group's rows are in one worker at a time). 0 = one per 4 MiB of
            Parquet events, at least 2.
        in_process_features: Build the feature rows in this process from whole tables (the
            pure reference the Beam build is tested against; small data only) instead of Beam.
    """

    max_text_tokens: int = 32
    text_vocab_size: int = 20_000
    id_vocab_size: int = 0
    oov_buckets: int = 1
    beam_args: tuple[str, ...] = ()
    cache_dir: str | None = None
    span_days: int = 1
    shards: int = 0
    in_process_features: bool = False

    def __post_init__(self) -> None:
        for name in ("max_text_tokens", "text_vocab_size", "oov_buckets", "span_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"TransformConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.shards < 0:
            raise ValueError(f"TransformConfig.shards must be >= 0 (0 = auto), got {self.shards}")
        if self.id_vocab_size < 0:
            raise ValueError(
                f"TransformConfig.id_vocab_size must be >= 0, got {self.id_vocab_size}"
            )
        if self.cache_dir == "":
            raise ValueError("TransformConfig.cache_dir must be a path or None, got ''")
