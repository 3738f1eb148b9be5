"""Data written into Markdown shows as literal text: no remote image, no link, no formatting (core/ui/text.py).

The helper is checked against a real CommonMark parser (markdown-it-py) with random text, and
pages are run by AppTest with hostile label values to see the escaped text reach the page.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token
from streamlit.testing.v1 import AppTest

from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Sample, now_ms
from core.ui.text import md_escape, md_plain

# Streamlit renders GitHub-flavoured Markdown: CommonMark plus tables and strikethrough (autolinks checked apart)
PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
HOSTILE = [
    "![x](http://evil/x.png)",
    "[click](http://evil)",
    "<http://evil>",
    "<img src=http://evil/x.png>",
    "**bold** _it_ `code` ~~gone~~",
    "# heading",
    "1. list",
    "| a | b |\n|---|---|",
    "[ref]\n\n[ref]: http://evil",
    ":red[colour] :material/bug: $x^2$",
    "a\\",
    "&lt;script&gt;",
]
UNSAFE = {"link_open", "image", "html_inline", "html_block", "code_inline", "strong_open", "em_open", "s_open"}


def nodes(tokens: list[Token]) -> list[Token]:
    """Every token, inline children included."""
    out = []
    for token in tokens:
        out.append(token)
        out.extend(nodes(token.children or []))
    return out


def rendered_text(markdown: str) -> str:
    """What a reader sees: the text of every inline node."""
    return "".join(t.content for t in nodes(PARSER.parse(markdown)) if t.type in ("text", "softbreak"))


def check_literal(value: str) -> None:
    sentence = f"Queue {md_escape(value)} is late"
    found = {t.type for t in nodes(PARSER.parse(sentence))}
    assert not found & UNSAFE, (value, found & UNSAFE)
    assert found <= {"paragraph_open", "paragraph_close", "inline", "text"}, found
    assert rendered_text(sentence) == f"Queue {value.replace(chr(13), ' ').replace(chr(10), ' ')} is late"


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_render_as_their_own_text(value):
    check_literal(value)


@hsettings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=80))
def test_any_text_renders_literally_with_no_link_or_image(value):
    check_literal(value)


def test_autolink_literals_are_broken_by_the_escapes():
    # GitHub's autolinks (http://…, www.…, a@b.c) need their ':', '.' and '@' unescaped
    for value in ("http://evil.example/x", "www.evil.example", "mail@evil.example"):
        escaped = md_escape(value)
        assert "://" not in escaped and "www." not in escaped and "@" not in escaped.replace("\\@", "")


@given(st.text().filter(lambda t: "\n" not in t and "\r" not in t))
def test_md_plain_reads_back_what_md_escape_wrote(value):
    """A chart's text alternative is built from an escaped title; read back, it is the title itself."""
    assert md_plain(md_escape(value)) == value


def test_md_plain_of_a_dashboard_title_with_a_variable():
    assert md_plain("Queue depth: " + md_escape("dod_validation")) == "Queue depth: dod_validation"


def test_plain_words_stay_readable():
    assert md_escape("review queue 3") == "review queue 3"
    assert md_escape(42) == "42"


def hostile_sample(name: str, label: str, value: str) -> Sample:
    return Sample.of(name, {label: value}, 5.0, now_ms() - 60_000)


def run_page(script: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def assert_shown_literally(markdown: str, value: str) -> None:
    assert md_escape(value) in markdown
    assert not {t.type for t in nodes(PARSER.parse(markdown))} & {"link_open", "image", "html_inline"}
    assert value in rendered_text(markdown)


@pytest.mark.parametrize("queue", ["![x](http://evil/x.png)", "[click](http://evil)"])
def test_operations_shows_a_hostile_queue_name_as_text(app_store, queue):
    ingest(app_store, Batch((hostile_sample("qms_queue_depth", "queue", queue),)), origin="test")
    at = run_page("operations.py")
    now_line = next(c.value for c in at.caption if c.value.startswith("Now: "))
    assert_shown_literally(now_line, queue)


def test_explore_caption_shows_a_picked_hostile_value_as_text(app_store):
    value = "![x](http://evil/x.png)"
    ingest(app_store, Batch((hostile_sample("cpu_percent", "host", value),)), origin="test")
    at = run_page("explore.py")
    next(s for s in at.selectbox if s.label == "Range").set_value("Last 1 h")
    next(m for m in at.multiselect if m.label == "host").set_value([value])
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    caption = at.caption[0].value
    assert_shown_literally(caption, 'cpu_percent{host="![x](http://evil/x.png)"}')
