from html.parser import HTMLParser

import pytest

from assistant.transcript.rendering import ALLOWED_TAGS, render_markdown


class Elements(HTMLParser):
    """The real elements and attributes in a piece of HTML (text is ignored)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    "![x](javascript:alert(1))",
    '<iframe src="https://evil.example"></iframe>',
]


@pytest.mark.parametrize("payload", XSS)
def test_no_script_handler_or_javascript_url_survives(payload):
    for tag, attrs in Elements(render_markdown(payload)).found:
        assert tag in ALLOWED_TAGS
        assert not any(name.startswith("on") for name in attrs)
        for value in attrs.values():
            assert not (value or "").strip().lower().startswith("javascript:")


def test_markdown_is_rendered_to_html():
    html = render_markdown("**bold** and `code`\n\n- one\n- two")
    assert "<strong>bold</strong>" in html
    assert "<code>code</code>" in html
    assert "<li>one</li>" in html


def test_safe_links_keep_their_href_and_get_a_safe_rel():
    html = render_markdown("[docs](https://example.com/a?b=1)")
    assert 'href="https://example.com/a?b=1"' in html
    assert "noopener" in html


def test_raw_html_is_shown_as_text_not_markup():
    assert "&lt;b&gt;" in render_markdown("<b>hi</b>")


def test_links_open_in_a_new_tab_so_the_chat_stays_open():
    html = render_markdown("[docs](https://example.com/docs) and <https://example.org>")
    assert html.count('target="_blank"') == 2
    assert html.count('rel="noopener noreferrer nofollow"') == 2
