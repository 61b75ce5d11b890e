"""The HTML stripper keeps every word and no markup, whatever tags surround the words."""

from hypothesis import given
from strategies import INGEST_SETTINGS, marked_up_text

from components.sources.markup import has_markup, strip_html


@INGEST_SETTINGS
@given(marked_up_text())
def test_strip_html_keeps_the_words_and_drops_every_tag(case):
    text, words = case
    plain = strip_html(text)
    assert plain == (" ".join(words) or None)
    assert not has_markup(plain)
