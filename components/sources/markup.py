"""Plain text of source strings that may hold HTML, with the standard library's HTML parser.

A regular expression over ``<...>`` missed unclosed tags: on an Amazon 2018 category 93% of
the catalog kept ``<span class="a-size-medium a-color-secondary"`` (a tag cut off before its
``>``) as its title (issue #16). ``html.parser`` tokenizes tags, comments, declarations and
character references the way a browser's tokenizer does; what it leaves unparsed at the end of
the input is an unfinished tag, which is dropped here rather than kept as text (Python 3.11's
``close()`` would emit it as data).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content is code or styling, never text a shopper reads.
_SKIPPED = frozenset({"script", "style", "template", "noscript"})
_SPACE = re.compile(r"\s+")
# A tag, end tag, comment or declaration opening: what ``html.parser`` would treat as markup.
_OPENING = re.compile(r"<[A-Za-z!/?]")
# Markup in a string: a tag or end tag (closed or cut off), a comment, or a character
# reference. The same test the data-quality report uses (``ingest.quality.MARKUP``).
MARKUP = re.compile(
    r"</?[A-Za-z][A-Za-z0-9-]*(?:[\s/>]|$)|<!--|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);"
)


class _TextCollector(HTMLParser):
    """Collects character data outside skipped elements; every tag becomes a word break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skipping:
            self._skipping -= 1
        self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)

    def text(self, source: str) -> str:
        """The text of ``source`` (an unfinished tag at its end is dropped)."""
        self.feed(source)
        # ``feed`` keeps back what it could not finish; starting with "<x" that is a tag cut
        # off before its ">" (anything else, e.g. a trailing "&", is text ``close`` flushes).
        if _OPENING.match(self.rawdata):
            self.rawdata = ""
        self.close()
        return "".join(self.parts)


def has_markup(text: str | None) -> bool:
    """Whether ``text`` holds a tag (closed or not), a comment or a character reference."""
    return bool(text) and MARKUP.search(text) is not None


def strip_html(text: str | None) -> str | None:
    """Plain text of a possibly-HTML string, whitespace collapsed; None when nothing is left.

    Text escaped twice (``&lt;b&gt;``) is parsed a second time, so its tags go too.
    """
    if text is None:
        return None
    plain = _TextCollector().text(text)
    if has_markup(plain):
        plain = _TextCollector().text(plain)
    plain = _SPACE.sub(" ", plain).strip()
    return plain or None
