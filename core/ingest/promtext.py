"""Parser for the Prometheus text exposition format (version 0.0.4).

Used by ``POST /api/v1/metrics`` and by the Prometheus scrape collector. It reports
every bad line with its number instead of stopping at the first, so a client can
fix a payload in one round trip. NaN samples (common in empty summaries) carry no
value worth storing and are counted as skipped rather than refused. ``+Inf`` and
``-Inf`` values are refused as bad lines: stored, they would break JSON answers and
charts, and a pushed batch holding one is rejected whole, naming the line. (``+Inf``
as a label value, ``le="+Inf"``, is ordinary text and fine.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from core.model import Labels, Sample, canonical_labels

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
FLOAT = r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn])"

_SAMPLE = re.compile(rf"({METRIC_NAME})[ \t]*(\{{.*\}})?[ \t]*?[ \t]({FLOAT})(?:[ \t]+(-?\d+))?[ \t]*")
_LABEL_PAIR = re.compile(rf'[ \t]*({LABEL_NAME})[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,|$)')
_TYPE = re.compile(rf"#[ \t]+TYPE[ \t]+({METRIC_NAME})[ \t]+(\S+)[ \t]*")
_HELP = re.compile(rf"#[ \t]+HELP[ \t]+({METRIC_NAME})(?:[ \t].*)?")
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}

KINDS = frozenset(
    {"counter", "gauge", "histogram", "summary", "untyped", "unknown", "info", "stateset", "gaugehistogram"}
)
_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("_sum", "_count", "_created"),
    "counter": ("_total", "_created"),
    "info": ("_info",),
}
MAX_TIMESTAMP_MS = 2**63 - 1


@dataclass
class ParseResult:
    """Samples that parsed, ``(line number, problem)`` for those that did not, and NaNs skipped."""

    samples: list[Sample] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    skipped_nan: int = 0


def _unescape_one(match: re.Match[str]) -> str:
    try:
        return _ESCAPES[match.group()]
    except KeyError:
        raise ValueError(f"invalid escape sequence {match.group()!r} in label value") from None


def _unescape(raw: str) -> str:
    return re.sub(r"\\.", _unescape_one, raw, flags=re.DOTALL) if "\\" in raw else raw


def _parse_labels(block: str) -> dict[str, str]:
    inner = block[1:-1].strip()
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        match = _LABEL_PAIR.match(inner, pos)
        if not match:
            raise ValueError(f'malformed label at {inner[pos : pos + 30]!r}; expected name="value"')
        name, raw, sep = match.groups()
        if name in labels:
            raise ValueError(f"label {name!r} appears twice")
        labels[name] = _unescape(raw)
        pos = match.end()
        if sep == "" and pos < len(inner):
            raise ValueError("labels must be separated by commas")
    return labels


def _kind_of(name: str, types: dict[str, str]) -> str:
    if name in types:
        return types[name]
    for kind_name, suffixes in _SUFFIXES.items():
        for suffix in suffixes:
            base = name.removesuffix(suffix)
            if base != name and types.get(base) == kind_name:
                return kind_name
    return "untyped"


def parse_prometheus(text: str, default_ts: int) -> ParseResult:
    """Parse exposition text; samples without a timestamp get ``default_ts`` (epoch ms)."""
    result = ParseResult()
    types: dict[str, str] = {}
    # A series repeats its label block on each of its lines and a name its kind: work each out once per body.
    label_sets: dict[str, Labels] = {"": ()}  # "": a line without a label block
    kinds: dict[str, str] = {}  # emptied whenever a TYPE line adds a type, which may change a name's kind
    # Only "\n" ends a line: str.splitlines() would also split inside label values at \x85 or \u2028.
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip(" \t\r")
        if not stripped or stripped == "# EOF":
            continue
        if stripped.startswith("#"):
            type_match = _TYPE.fullmatch(stripped)
            if type_match:
                name, kind = type_match.groups()
                if kind not in KINDS:
                    result.errors.append(
                        (number, f"unknown metric type {kind!r}; expected one of {', '.join(sorted(KINDS))}")
                    )
                else:
                    types.setdefault(name, kind)
                    kinds.clear()
            elif re.match(r"#[ \t]+(TYPE|HELP)\b", stripped) and not _HELP.fullmatch(stripped):
                result.errors.append(
                    (number, "malformed TYPE/HELP line; expected '# TYPE name type' or '# HELP name text'")
                )
            continue
        match = _SAMPLE.fullmatch(stripped)
        if not match:
            result.errors.append((number, "not a sample line; expected 'name{label=\"value\"} value [timestamp_ms]'"))
            continue
        name, label_block, raw_value, raw_ts = match.groups()
        labels = label_sets.get(label_block or "")
        if labels is None:
            try:
                labels = label_sets[label_block] = canonical_labels(_parse_labels(label_block))
            except ValueError as problem:
                result.errors.append((number, str(problem)))
                continue
        value = float(raw_value)
        if math.isnan(value):
            result.skipped_nan += 1
            continue
        if math.isinf(value):
            result.errors.append((number, f"value {raw_value} is not a finite number; it cannot be stored"))
            continue
        ts = default_ts
        if raw_ts is not None:
            ts = int(raw_ts)
            if abs(ts) > MAX_TIMESTAMP_MS:
                result.errors.append((number, f"timestamp {raw_ts} does not fit in 64 bits"))
                continue
        kind = kinds.get(name)
        if kind is None:
            kind = kinds[name] = _kind_of(name, types)
        result.samples.append(Sample(name, labels, value, ts, kind))
    return result
