"""Assistant Markdown to HTML that is safe to put in the page.

Two layers, because model and tool output is attacker-controlled: the Markdown renderer
runs with raw HTML disabled, and its output is then sanitised with an allowlist (nh3),
which also drops event handlers and any URL scheme but http, https and mailto.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

from assistant.transcript.highlight import TOKEN_CLASSES, highlight_code

# Fenced code with a language is highlighted server-side (Pygments); the sanitiser below
# keeps only its <span class="…"> tokens (issue 14).
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False,
                                "highlight": highlight_code}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del", "span",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}}


def render_markdown(text: str) -> str:
    return sanitise(_md.render(text or ""))


def sanitise(html: str) -> str:
    """The allowlist every piece of rendered HTML passes before it reaches a page."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        allowed_classes={"span": set(TOKEN_CLASSES)},
        link_rel="noopener noreferrer nofollow",
        # Links open in a new tab: following one must not leave the chat (issue 14).
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
