"""Series selectors in Prometheus syntax, so pages, Explore and alert rules name series alike.

``cpu_usage_percent{host="web-1", env!="dev", job=~"api|web", path!~"/health.*"}``

* ``=`` / ``!=`` compare exactly; ``=~`` / ``!~`` match a regular expression anchored at
  both ends (``=~"api"`` does not match ``"api-2"``), as in Prometheus;
* a label a series does not have counts as the empty string, so ``env=""`` selects
  series without ``env`` and ``env!=""`` those that have it;
* the metric name may be written before the braces or as ``__name__="..."``;
* values are quoted with ``"``, ``'`` or backticks; ``\\"``, ``\\\\``, ``\\n``, ``\\t`` escape.

A malformed selector raises :class:`SelectorError` (a ``ValueError``) naming the
position and what was expected.

Regular expressions run on RE2, as in Prometheus, never on Python's backtracking ``re``:
anyone may type a selector (Explore, alert rules, silences, SLAs, widgets) and the server is
one process, so ``=~"(a+)+b"`` must not take exponential time and stall every user. RE2 is
linear in pattern and text; what it cannot do in linear time (back-references,
look-around) is refused with the reason, and a regex written in a selector is capped at
``max_regex_length`` characters (settings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import re2

from core.config import get_settings

Op = Literal["=", "!=", "=~", "!~"]
OPS: tuple[Op, ...] = ("=~", "!~", "!=", "=")  # longest first, for the scanner
NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "`": "`"}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.dot_nl = True  # "." matches a newline too, as Prometheus's (?s:...) does
_RE2_OPTIONS.log_errors = False  # a refused pattern is the user's mistake, reported to them, not a server log line
_RE2_OPTIONS.never_capture = True  # only "does it match" is asked: no groups to record
# RE2's message names the fragment it refused; say why in words rather than leave the user to guess.
_HINTS = {
    "(?=": "look-ahead is not supported",
    "(?!": "negative look-ahead is not supported",
    "(?<=": "look-behind is not supported",
    "(?<!": "negative look-behind is not supported",
    "(?P=": "named back-references are not supported",
}


class SelectorError(ValueError):
    """A selector could not be parsed; the message says where and why."""


def compile_regex(pattern: str, label: str = "value") -> re2._Regexp[str]:
    """``pattern`` compiled by RE2 for full (anchored) matching, as Prometheus does; raises SelectorError.

    The one place a regular expression given by a user is compiled: every selector matcher
    (and so silences, alert rules, SLAs and widgets) comes through here. The error names
    the label, the position in the pattern when RE2 says which part it refused, and why.
    """
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as error:
        detail = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) else ""
        detail = detail or str(error) or "not a valid regular expression"
        raise SelectorError(f"bad regular expression for {label}: {_explain(pattern, detail)}") from None


def _explain(pattern: str, detail: str) -> str:
    """RE2's ``reason: fragment`` as ``reason 'fragment' at position N in 'pattern'; why``."""
    reason, _, fragment = detail.partition(": ")
    if fragment == "(?P" and "(?P=" in pattern:
        fragment = "(?P="
    hint = _HINTS.get(fragment, "")
    if fragment[:1] == "\\" and fragment[1:2].isdigit():
        hint = "back-references are not supported"
    if reason.startswith("missing"):  # "missing ): (ab" quotes the open group, not where the bracket belongs
        fragment = ""
    at = pattern.find(fragment) if fragment else -1
    text = reason + (f" {fragment!r}" if fragment else "") + (f" at position {at}" if at >= 0 else "")
    why = f"; {hint} (RE2 runs in linear time: no back-references or look-around)" if hint else ""
    return f"{text} in {pattern[:200]!r}{why}"


def escape_regex(text: str) -> str:
    """``text`` as a regular expression matching exactly itself (for selectors built from picked values)."""
    return re2.escape(text)


@dataclass(frozen=True)
class Matcher:
    """One ``label op "value"`` condition."""

    label: str
    op: Op
    value: str
    _regex: re2._Regexp[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise SelectorError(f"unknown operator {self.op!r}; use one of = != =~ !~")
        if self.op in ("=~", "!~"):
            object.__setattr__(self, "_regex", compile_regex(self.value, self.label))

    def matches(self, value: str) -> bool:
        """True if a label value (``""`` when the label is absent) satisfies this matcher."""
        if self._regex is not None:
            return (self._regex.fullmatch(value) is not None) == (self.op == "=~")
        return (value == self.value) == (self.op == "=")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.label}{self.op}"{escaped}"'


@dataclass(frozen=True)
class Selector:
    """A metric name (or None for any) and label matchers, all of which must hold."""

    name: str | None = None
    matchers: tuple[Matcher, ...] = ()

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """True if the series ``name{labels}`` is selected."""
        if self.name is not None and name != self.name:
            return False
        for matcher in self.matchers:
            value = name if matcher.label == "__name__" else labels.get(matcher.label, "")
            if not matcher.matches(value):
                return False
        return True

    @property
    def exact_name(self) -> str | None:
        """The one metric name this selector can match, if it fixes one (used to narrow the SQL)."""
        if self.name is not None:
            return self.name
        for matcher in self.matchers:
            if matcher.label == "__name__" and matcher.op == "=":
                return matcher.value
        return None

    def __str__(self) -> str:
        inner = ", ".join(str(m) for m in self.matchers)
        return f"{self.name or ''}{{{inner}}}" if inner or not self.name else self.name


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> SelectorError:
        found = repr(self.text[self.pos]) if self.pos < len(self.text) else "the end"
        return SelectorError(f"bad selector {self.text!r}: expected {expected} at position {self.pos}, found {found}")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def take(self, token: str) -> bool:
        self.skip_space()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def pattern(self, regex: re.Pattern[str], expected: str) -> str:
        self.skip_space()
        found = regex.match(self.text, self.pos)
        if not found:
            raise self.fail(expected)
        self.pos = found.end()
        return found.group()

    def string(self) -> str:
        self.skip_space()
        if self.pos >= len(self.text) or self.text[self.pos] not in "\"'`":
            raise self.fail("a quoted value")
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == quote:
                return "".join(out)
            if char == "\\" and quote != "`" and self.pos < len(self.text):
                nxt = self.text[self.pos]
                self.pos += 1
                out.append(_ESCAPES.get(nxt, "\\" + nxt))  # unknown escapes stay literal (regex \d etc.)
            else:
                out.append(char)
        raise SelectorError(f"bad selector {self.text!r}: unterminated string starting with {quote}")


def parse_selector(text: str) -> Selector:
    """Parse ``name{label op "value", ...}``, ``name`` or ``{...}``; raises SelectorError."""
    scanner = _Scanner(text)
    scanner.skip_space()
    name = None
    if scanner.pos < len(text) and text[scanner.pos] != "{":
        name = scanner.pattern(NAME_RE, "a metric name or '{'")
    matchers: list[Matcher] = []
    if scanner.take("{"):
        while not scanner.take("}"):
            label = scanner.pattern(LABEL_RE, "a label name or '}'")
            scanner.skip_space()
            op = next((o for o in OPS if scanner.take(o)), None)
            if op is None:
                raise scanner.fail("one of = != =~ !~")
            start = scanner.pos
            value = scanner.string()
            if op in ("=~", "!~") and len(value) > (cap := get_settings().max_regex_length):
                raise SelectorError(
                    f"bad selector: the regular expression for {label} at position {start} is {len(value):,} "
                    f"characters, at most {cap:,} allowed (max_regex_length)"
                )
            matchers.append(Matcher(label, op, value))
            if not scanner.take(","):
                if not scanner.take("}"):
                    raise scanner.fail("',' or '}'")
                break
    scanner.skip_space()
    if scanner.pos != len(text):
        raise scanner.fail("the end of the selector")
    if name is None and not matchers:
        raise SelectorError("empty selector: give a metric name or at least one matcher")
    return Selector(name, tuple(matchers))


def as_selector(selector: str | Selector) -> Selector:
    """Accept either form wherever a selector is taken."""
    return selector if isinstance(selector, Selector) else parse_selector(selector)


def build_selector(name: str, choices: Mapping[str, list[str] | tuple[str, ...]]) -> Selector:
    """``name{key=~"a|b", other="c"}`` from picked label values; keys with no values picked match anything."""
    matchers = []
    for key, values in sorted(choices.items()):
        if len(values) == 1:
            matchers.append(Matcher(key, "=", values[0]))
        elif values:
            matchers.append(Matcher(key, "=~", "|".join(escape_regex(v) for v in sorted(values))))
    return Selector(name, tuple(matchers))


__all__ = [
    "Matcher",
    "Selector",
    "SelectorError",
    "as_selector",
    "build_selector",
    "compile_regex",
    "escape_regex",
    "parse_selector",
]
