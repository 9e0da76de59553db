"""Code blocks are highlighted server-side, inside the sanitised HTML, in light and dark."""

from __future__ import annotations

from pathlib import Path

from assistant.transcript.highlight import stylesheet
from assistant.transcript.rendering import render_markdown, sanitise

ROOT = Path(__file__).resolve().parents[3]


def test_a_fenced_block_with_a_language_gets_pygments_tokens():
    html = render_markdown('```python\ndef f():\n    return "<b>"\n```')
    assert '<span class="k">def</span>' in html and '<span class="nf">f</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html  # the code itself stays text


def test_blocks_without_a_known_language_stay_plain_text():
    for fence in ("```\nx = 1\n```", "```nosuchlang\nx = 1\n```"):
        html = render_markdown(fence)
        assert "<span" not in html and "x = 1" in html


def test_a_hostile_language_name_cannot_inject_markup():
    html = render_markdown('```"><img src=x onerror=alert(1)>\ncode\n```')
    assert "<img" not in html and "onerror" not in html.replace("&quot;", "")


def test_only_pygments_token_classes_survive_the_sanitiser():
    html = sanitise('<span class="k evil" style="color:red" onclick="x()">x</span>'
                    '<span class="bg-red">y</span>')
    assert html == '<span class="k">x</span><span class="">y</span>'


def test_the_committed_stylesheet_is_what_the_generator_writes():
    committed = (ROOT / "static" / "css" / "highlight.css").read_text()
    assert committed == stylesheet()
    assert ':root[data-theme="dark"] .markdown pre .k' in committed  # an explicit dark choice
    assert "@media (prefers-color-scheme: dark)" in committed  # and the system setting
