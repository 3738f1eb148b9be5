"""Prometheus-style selectors: parsing, matching semantics and error messages."""

from __future__ import annotations

import pytest

from core.query.selectors import Matcher, Selector, SelectorError, parse_selector

LABELS = {"host": "web-1", "env": "prod", "path": "/api/v1"}


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        ("cpu_percent", True),
        ("mem_bytes", False),
        ('cpu_percent{host="web-1"}', True),
        ('cpu_percent{host="web-2"}', False),
        ('cpu_percent{host!="web-2"}', True),
        ('cpu_percent{host=~"web-.*"}', True),
        ('cpu_percent{host=~"web"}', False),  # anchored at both ends
        ('cpu_percent{host!~"db-.*"}', True),
        ('cpu_percent{env=~"prod|staging", host!~"web-[2-9]"}', True),
        ('cpu_percent{missing=""}', True),  # an absent label is the empty string
        ('cpu_percent{missing!=""}', False),
        ('cpu_percent{env!=""}', True),
        ('{__name__="cpu_percent"}', True),
        ('{__name__=~"cpu_.*", env="prod"}', True),
        ('{__name__!~"cpu_.*"}', False),
        ("cpu_percent{path='/api/v1'}", True),
        ("cpu_percent{path=`/api/v1`}", True),
        (' cpu_percent { host = "web-1" , } ', True),  # spaces and a trailing comma
        ("cpu_percent{}", True),
    ],
)
def test_selection(text: str, selected: bool) -> None:
    assert parse_selector(text).matches("cpu_percent", LABELS) is selected


def test_escapes_and_regex_backslashes() -> None:
    sel = parse_selector(r'm{a="say \"hi\"\n", b=~"\d+"}')
    assert sel.matchers[0].value == 'say "hi"\n'
    assert sel.matches("m", {"a": 'say "hi"\n', "b": "123"})
    assert not sel.matches("m", {"a": 'say "hi"\n', "b": "12a"})


def test_text_form_round_trips() -> None:
    sel = parse_selector('up{job=~"a|b", env!="dev"}')
    assert parse_selector(str(sel)) == sel
    assert str(Selector("up")) == "up"


def test_exact_name_narrows_only_when_fixed() -> None:
    assert parse_selector('{__name__="up"}').exact_name == "up"
    assert parse_selector('{__name__=~"up"}').exact_name is None
    assert parse_selector("up{a='1'}").exact_name == "up"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty selector"),
        ("{}", "empty selector"),
        ("cpu{host=web}", "quoted value"),
        ('cpu{host~"x"}', "one of = != =~ !~"),
        ('cpu{host="x"', "',' or '}'"),
        ('cpu{host="x}', "unterminated"),
        ('cpu{host=~"("}', "bad regular expression"),
        ('cpu{1host="x"}', "label name"),
        ('cpu{host="x"} extra', "end of the selector"),
        ("9cpu", "metric name"),
    ],
)
def test_errors_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert fragment in str(caught.value)


def test_matcher_rejects_unknown_operator() -> None:
    with pytest.raises(SelectorError):
        Matcher("a", "==", "b")  # type: ignore[arg-type]


def test_built_selectors_escape_values_and_parse_back() -> None:
    from core.query.selectors import build_selector

    sel = build_selector("up", {"job": ["a.b", "c|d"], "env": ["prod"], "host": []})
    assert str(sel) == 'up{env="prod", job=~"a\\\\.b|c\\\\|d"}'
    assert parse_selector(str(sel)) == sel
    assert sel.matches("up", {"env": "prod", "job": "c|d"}) and not sel.matches("up", {"env": "prod", "job": "aXb"})
