import pytest

from components.sources.markup import has_markup, strip_html


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        # An unclosed tag (cut off before its ">"): the title 93% of one category's items had.
        ('<span class="a-size-medium a-color-secondary"', None),
        ('Gift Card <span class="a-size-medium a-color-secondary"', "Gift Card"),
        ("<b>Gift</b>&amp;<br/>card  ", "Gift & card"),
        ("</span></span>", None),
        ("&lt;b&gt;Bold&lt;/b&gt; card", "Bold card"),  # escaped twice
        ("<style>.a{color:red}</style><script>x()</script>Mug", "Mug"),
        ("<!-- note -->Mug", "Mug"),
        ("5 < 6 and 7 > 2", "5 < 6 and 7 > 2"),  # not a tag: kept
        ("AT&T 5<6", "AT&T 5<6"),
        (None, None),
    ],
)
def test_strip_html(text, plain):
    assert strip_html(text) == plain


@pytest.mark.parametrize(
    ("text", "markup"),
    [
        ('<span class="a-size-medium a-color-secondary"', True),
        ("<p>x</p>", True),
        ("Tom &amp; Jerry", True),
        ("5 < 6 and 7 > 2", False),
        ("AT&T", False),
        ("", False),
        (None, False),
    ],
)
def test_has_markup(text, markup):
    assert has_markup(text) is markup
