"""I/O shell of the report stage."""

from __future__ import annotations

import json
import os

from components.ingest import layout
from components.report.page import render_markdown


def run(
    *,
    data_dir: str,
    metrics_path: str,
    blessing_path: str,
    out_path: str,
    pushed_version: str | None = None,
) -> str:
    """Write the run's Markdown summary to ``out_path``; returns the text."""
    docs = []
    for path in (os.path.join(data_dir, layout.MANIFEST), metrics_path, blessing_path):
        with open(path) as f:
            docs.append(json.load(f))
    data, metrics, blessing = docs
    text = render_markdown(
        data=data, metrics=metrics, blessing=blessing, pushed_version=pushed_version
    )
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    return text
