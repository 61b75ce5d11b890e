"""The analyst page as one self-contained HTML document (pure: prepared values in, text out).

Everything the page needs is inside it: CSS inline, charts and thumbnails as ``data:`` URIs, no
script, no font, no link to anything but its own sections, so opening it makes no request.
Every value from the data (titles, ids, reasons) is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

from components.report.privacy import Suppressed

SECTIONS = (
    ("data", "Data"),
    ("training", "Training"),
    ("quality", "Quality"),
    ("users", "Users"),
    ("recommendations", "Recommendations"),
    ("privacy", "Privacy"),
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#f6f7f9}
header{background:#233047;color:#fff;padding:14px 28px}
header h1{margin:0;font-size:20px} header p{margin:4px 0 0;color:#cfd6e4}
nav{background:#fff;border-bottom:1px solid #dde;padding:8px 28px;position:sticky;top:0}
nav a{margin-right:16px;color:#233047;text-decoration:none;font-weight:600}
main{padding:8px 28px 40px;max-width:1180px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:6px;padding:6px 20px 16px;
margin:16px 0}
h2{font-size:18px;border-bottom:2px solid #233047;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border:1px solid #e1e4ea;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f6} td.n{text-align:right;font-variant-numeric:tabular-nums}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.kpi{border:1px solid #e1e4ea;border-radius:6px;padding:6px 12px;min-width:120px}
.kpi b{display:block;font-size:18px} .kpi span{color:#667;font-size:12px}
.grid{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
img.chart{max-width:100%;border:1px solid #eef}
.verdict{display:inline-block;padding:4px 12px;border-radius:4px;font-weight:700;color:#fff}
.ok{background:#2e7d32} .no{background:#c62828}
.sup{color:#8a6d00;background:#fff6d6;font-style:italic}
.muted{color:#667;font-size:12px}
.user{border:1px solid #e1e4ea;border-radius:6px;padding:8px 12px;margin:12px 0}
.strip{display:flex;flex-wrap:wrap;gap:8px}
.it{width:112px;font-size:11px;line-height:1.25}
.it img,.ph{width:48px;height:48px;display:block;border:1px solid #dde;margin-bottom:2px}
img.th,.ph.th{width:40px;height:40px;margin:0;line-height:40px;font-size:8px;white-space:nowrap;overflow:hidden}
.ph{background:repeating-linear-gradient(45deg,#eee,#eee 4px,#ddd 4px,#ddd 8px);color:#889;
font-size:9px;text-align:center;line-height:48px}
.mod{display:inline-block;border-radius:3px;padding:0 4px;color:#fff;font-size:10px}
.m-id{background:#555} .m-profile{background:#1f77b4} .m-text{background:#2ca02c}
.m-image{background:#9467bd} .m-behavior{background:#ff7f0e} .m-relation{background:#d62728}
.m-none{background:#aaa}
ul.gate{list-style:none;padding-left:8px}
.gate .mark{display:inline-block;width:62px;font-weight:700}
.g-pass .mark{color:#2e7d32} .g-fail .mark{color:#c62828} .g-note .mark{color:#889}
.warn{color:#8a4b00}
"""


def esc(value: object) -> str:
    """``value`` as escaped text (``Suppressed`` cells as a marked span)."""
    if isinstance(value, Suppressed):
        return f'<span class="sup">{html.escape(str(value))}</span>'
    return html.escape(str(value))


def num(value: object, digits: int = 4) -> str:
    """A number for a table cell (ints with separators, floats with ``digits``)."""
    if isinstance(value, Suppressed):
        return esc(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return esc(value)


def table(
    header: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = ()
) -> str:
    """An HTML table; cells are already-escaped HTML; columns in ``numeric`` right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def chart(uri: str, alt: str) -> str:
    """An inline chart image."""
    return f'<img class="chart" src="{uri}" alt="{esc(alt)}">'


def kpis(items: Iterable[tuple[str, str]]) -> str:
    """A row of headline figures: ``(value, label)``."""
    cells = "".join(
        f'<div class="kpi"><b>{v}</b><span>{esc(label)}</span></div>' for v, label in items
    )
    return f'<div class="kpis">{cells}</div>'


def modality_badge(name: str | None) -> str:
    """A coloured label for a modality name (None: no modality raised the score)."""
    label = name or "none"
    return f'<span class="mod m-{esc(label)}">{esc(label)}</span>'


def item_tile(*, item_id: str, title: str, thumbnail: str | None, lines: Sequence[str]) -> str:
    """One item: thumbnail (or placeholder), title, id and extra escaped lines."""
    if thumbnail:
        picture = f'<img src="{thumbnail}" alt="{esc(title or item_id)}">'
    else:
        picture = '<div class="ph">no image</div>'
    extra = "".join(f"<br>{line}" for line in lines)
    return (
        f'<div class="it">{picture}<b>{esc(title or "(no title)")}</b>'
        f'<br><span class="muted">{esc(item_id)}</span>{extra}</div>'
    )


def render_page(*, title: str, subtitle: str, sections: Mapping[str, str]) -> str:
    """The whole document: header, section links, then each section's body (HTML) in order.

    Args:
        title: The page title.
        subtitle: One line under it (run, date, verdict).
        sections: Section id (see ``SECTIONS``) -> body HTML; every section must be given.

    Raises:
        KeyError: a section is missing.
    """
    missing = [s for s, _ in SECTIONS if s not in sections]
    if missing:
        raise KeyError(f"page sections missing: {missing}")
    nav = "".join(f'<a href="#{sid}">{esc(name)}</a>' for sid, name in SECTIONS)
    body = "".join(
        f'<section id="{sid}"><h2>{esc(name)}</h2>{sections[sid]}</section>'
        for sid, name in SECTIONS
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Belt and braces: even if a URL slipped in, the browser would not fetch it.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "img-src data:; style-src 'unsafe-inline'\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
