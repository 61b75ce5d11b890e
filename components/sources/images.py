"""Tiny item images whose colour and pattern encode the item's category.

A model that decodes the pixels can recover the category even when the item's text and category
fields are blank (the generator's "plain" items), which is what makes image an ablatable signal.
"""

from __future__ import annotations

import colorsys
import io

import numpy as np
from PIL import Image

SIZE = 32
PATTERNS = 4
EMBEDDING_DIM = 8
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def category_colour(category: int, categories: int) -> np.ndarray:
    """The RGB colour (uint8 ``[3]``) of ``category``: hues spread evenly round the wheel."""
    r, g, b = colorsys.hsv_to_rgb(category / max(categories, 1), 0.85, 0.9)
    return np.array([r * 255, g * 255, b * 255], dtype=np.uint8)


def render_pixels(category: int, categories: int, rng: np.random.Generator) -> np.ndarray:
    """Pixels ``[SIZE, SIZE, 3]`` uint8 for one item of ``category``.

    The foreground colour is the category's; the pattern (horizontal or vertical stripes, checks,
    dots) is ``category % PATTERNS``; the phase and a few speckles vary per item.
    """
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    phase = int(rng.integers(0, 4))
    pattern = category % PATTERNS
    if pattern == 0:
        mask = ((y + phase) // 4) % 2 == 0
    elif pattern == 1:
        mask = ((x + phase) // 4) % 2 == 0
    elif pattern == 2:
        mask = (((x + phase) // 8) + (y // 8)) % 2 == 0
    else:
        mask = ((x + phase) % 8 < 3) & (y % 8 < 3)
    pixels = np.full((SIZE, SIZE, 3), 245, dtype=np.uint8)
    pixels[mask] = category_colour(category, categories)
    speckles = rng.integers(0, SIZE, size=(6, 2))
    pixels[speckles[:, 0], speckles[:, 1]] = rng.integers(0, 256, size=(6, 3), dtype=np.uint8)
    return pixels


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of ``pixels`` (``[h, w, 3]`` uint8); deterministic for a given Pillow build."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def render_png(category: int, categories: int, rng: np.random.Generator) -> bytes:
    """PNG bytes of one item image of ``category``."""
    return encode_png(render_pixels(category, categories, rng))


def corrupt_image(png: bytes, rng: np.random.Generator) -> bytes:
    """Bytes that no image decoder accepts: a truncated PNG, or random garbage.

    Args:
        png: A valid PNG to truncate.
        rng: Picks truncation or garbage.

    Returns:
        Half of ``png`` (still starting with the PNG magic) or 64 random bytes that do not.
    """
    if rng.random() < 0.5:
        return png[: max(len(PNG_MAGIC) + 4, len(png) // 2)]
    garbage = rng.integers(0, 256, size=64, dtype=np.uint8).tobytes()
    return b"\x00junk" + garbage


def category_prototypes(categories: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors ``[categories, EMBEDDING_DIM]`` float32; item embeddings scatter round them."""
    protos = rng.normal(size=(categories, EMBEDDING_DIM))
    return (protos / np.linalg.norm(protos, axis=1, keepdims=True)).astype(np.float32)
