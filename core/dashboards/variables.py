"""Dashboard variables (``$host``, ``$queue``) substituted into selectors and PromQL queries, safely.

A variable's value is a label value somebody picked (or typed into a URL), so it is never
pasted in as raw text: ``cpu{host=$host}`` with ``host = 'x"} or up{a="'`` must still
select ``host`` equal to that whole string and nothing else. :func:`substitute` scans the
query as the selector parser does (quoted strings with their escapes) and writes each value
as a string literal:

* ``$name`` outside quotes becomes ``"value"`` with ``\\``, ``"`` and newlines escaped;
* ``$name`` inside a ``"..."`` or ``'...'`` literal becomes the value escaped for that quote;
* after ``=~`` / ``!~`` the value is first escaped as a regular expression (RE2), so it
  matches exactly itself — a value cannot widen a regex matcher either;
* inside a backtick literal (no escapes exist there) a variable is refused.

An unknown ``$name`` raises :class:`VariableError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.query.selectors import escape_regex

NAME = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class VariableError(ValueError):
    """A query names a variable the dashboard does not define, or uses one where it cannot be escaped."""


def references(text: str) -> list[str]:
    """The variable names ``text`` uses, in order of first use."""
    return list(dict.fromkeys(NAME.findall(text)))


def _escape(value: str, quote: str) -> str:
    return value.replace("\\", "\\\\").replace(quote, "\\" + quote).replace("\n", "\\n")


def _regex_context(text: str, start: int) -> bool:
    """True when the literal starting at ``start`` follows ``=~`` or ``!~``."""
    before = text[:start].rstrip()
    return before.endswith("=~") or before.endswith("!~")


def _value(name: str, values: Mapping[str, str]) -> str:
    if name not in values:
        known = ", ".join(f"${n}" for n in values) or "none"
        raise VariableError(f"unknown variable ${name}; this dashboard defines {known}")
    return values[name]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every ``$name`` replaced by ``values[name]`` written as a string literal (see module doc)."""
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in "\"'`":
            regex = _regex_context(text, pos)
            end = pos + 1
            inner: list[str] = []
            while end < len(text) and text[end] != char:
                if text[end] == "\\" and char != "`" and end + 1 < len(text):
                    inner.append(text[end : end + 2])
                    end += 2
                    continue
                found = NAME.match(text, end)
                if found:
                    if char == "`":
                        raise VariableError(f"${found.group(1)} inside a backtick string cannot be escaped; use quotes")
                    value = _value(found.group(1), values)
                    inner.append(_escape(escape_regex(value) if regex else value, char))
                    end = found.end()
                    continue
                inner.append(text[end])
                end += 1
            out.append(char + "".join(inner) + (char if end < len(text) else ""))
            pos = end + 1
            continue
        found = NAME.match(text, pos)
        if found:
            value = _value(found.group(1), values)
            out.append('"' + _escape(escape_regex(value) if _regex_context(text, pos) else value, '"') + '"')
            pos = found.end()
            continue
        out.append(char)
        pos += 1
    return "".join(out)
