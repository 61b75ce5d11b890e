"""Precomputed item embeddings (``items.image_embedding``) as fixed-width feature columns.

Pure pyarrow. A missing embedding (null or empty list) becomes zeros, which the transform graph
flags as missing (``components.transform.image.unit_embeddings``). An embedding of any other
width than the declared one is refused, naming every width found: padding or cutting a vector
changes what it means, silently, so the shop must declare its encoder's width instead
(``schemas.features.IMAGE_EMBEDDING_LEN``).
"""

from __future__ import annotations

import collections

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EXAMPLES_PER_WIDTH = 3  # item ids named per offending width


class EmbeddingWidthError(ValueError):
    """Embeddings whose width is not the declared one; the message names each width found."""


def embedding_widths(vectors: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``[rows]`` int64: each row's number of values (0 for null or empty)."""
    lengths = pc.fill_null(pc.list_value_length(vectors), 0)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), dtype=np.int64)


def check_embedding_widths(
    vectors: pa.Array | pa.ChunkedArray,
    item_ids: pa.Array | pa.ChunkedArray,
    *,
    width: int,
    column: str,
) -> None:
    """Raise unless every present embedding has ``width`` values.

    Args:
        vectors: list<float> per item (null or empty: no embedding).
        item_ids: The item of each row (named in the error).
        width: The declared width.
        column: ``table.column`` named in the error.

    Raises:
        EmbeddingWidthError: every other width, how many items have it and the first of them.
    """
    widths = embedding_widths(vectors)
    bad = (widths != 0) & (widths != width)
    if not bad.any():
        return
    ids = item_ids.to_pylist()
    by_width: dict[int, list[str]] = collections.defaultdict(list)
    for row in np.flatnonzero(bad):
        by_width[int(widths[row])].append(str(ids[row]))
    found = "; ".join(
        f"{len(items)} of {len(widths)} items have width {w} (e.g. "
        f"{', '.join(repr(i) for i in items[:EXAMPLES_PER_WIDTH])})"
        for w, items in sorted(by_width.items())
    )
    raise EmbeddingWidthError(
        f"{column}: {found}; the feature contract declares width {width} "
        "(schemas/features.py IMAGE_EMBEDDING_LEN): set it to your encoder's width, or leave "
        "the column empty; vectors are never padded or cut"
    )


def fixed_width_embeddings(
    vectors: pa.Array | pa.ChunkedArray,
    item_ids: pa.Array | pa.ChunkedArray,
    *,
    width: int,
    column: str,
) -> pa.Array:
    """``[rows]`` list<float32> of exactly ``width`` values: missing embeddings become zeros.

    Raises:
        EmbeddingWidthError: see ``check_embedding_widths``.
    """
    check_embedding_widths(vectors, item_ids, width=width, column=column)
    widths = embedding_widths(vectors)
    out = np.zeros((len(widths), width), dtype=np.float32)
    flat = pc.list_flatten(vectors).to_numpy(zero_copy_only=False)
    out[widths == width] = np.asarray(flat, dtype=np.float32).reshape(-1, width)
    offsets = pa.array(np.arange(0, out.size + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(out.reshape(-1), pa.float32()))


def missing_embeddings(vectors: np.ndarray) -> int:
    """Rows of ``[rows, width]`` that carry no embedding (all zeros)."""
    return int(np.sum(~np.any(vectors != 0, axis=1))) if len(vectors) else 0
