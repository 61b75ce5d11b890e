"""Item images as small inline PNG thumbnails (``data:`` URIs), re-encoded from raw bytes."""

from __future__ import annotations

import base64
import io

from PIL import Image, UnidentifiedImageError


def thumbnail_uri(image: bytes | None, *, size: int) -> str | None:
    """A PNG data URI of ``image`` fitted in ``size`` x ``size`` (aspect kept).

    Returns None when there is no image or it does not decode (the page shows a placeholder).
    """
    if not image:
        return None
    try:
        with Image.open(io.BytesIO(image)) as img:
            img = img.convert("RGB")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.save(buf, format="PNG", optimize=True)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
