"""The one set of rules every sample and event must pass before it is stored.

The API, the file watchers and the collectors all call :func:`check_batch`, so a
limit changed in settings applies to every writer alike. Problems are collected
for the whole batch, because a client fixing a batch wants the full list at once.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from core.config import Settings
from core.model import Batch, Event, Labels, Sample, now_ms

DEFAULT_METRIC_NAME = Settings.model_fields["metric_name_pattern"].default
DEFAULT_LABEL_NAME = Settings.model_fields["label_name_pattern"].default
METRIC_NAME_RE = re.compile(DEFAULT_METRIC_NAME)  # the defaults; settings may narrow them (Limits)
LABEL_NAME_RE = re.compile(DEFAULT_LABEL_NAME)
EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
MAX_ID_LENGTH = 128
MAX_SOURCE_LENGTH = 128
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class Limits:
    """The ingest limits from settings, copied so hot loops avoid attribute lookups."""

    max_batch_items: int
    max_labels: int
    max_label_value_length: int
    max_name_length: int
    max_future_skew_ms: int
    metric_name: re.Pattern[str] = METRIC_NAME_RE
    label_name: re.Pattern[str] = LABEL_NAME_RE

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """Limits as configured."""
        return cls(
            settings.max_batch_items,
            settings.max_labels,
            settings.max_label_value_length,
            settings.max_name_length,
            settings.max_future_skew_s * 1000,
            _compiled(settings.metric_name_pattern),
            _compiled(settings.label_name_pattern),
        )


@functools.lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _name_rule(pattern: re.Pattern[str], default: str, hint: str, key: str) -> str:
    """What a refused name should have looked like: the plain-words hint, or the configured pattern."""
    return hint if pattern.pattern == default else f"it must match {pattern.pattern!r} ({key})"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one item of a batch."""

    kind: str  # "sample" or "event"
    index: int
    field: str
    message: str

    def as_dict(self) -> dict[str, object]:
        """JSON form used in API error bodies."""
        return {"kind": self.kind, "index": self.index, "field": self.field, "message": self.message}


def series_problems(name: str, labels: Labels, limits: Limits) -> list[tuple[str, str]]:
    """(field, message) pairs for everything wrong with a series name and label set."""
    problems = []
    if len(name) > limits.max_name_length:
        problems.append(("name", f"longer than {limits.max_name_length} characters"))
    elif not limits.metric_name.fullmatch(name):
        rule = _name_rule(
            limits.metric_name,
            DEFAULT_METRIC_NAME,
            "use letters, digits, '_' and ':', not starting with a digit",
            "PULSEBOARD_METRIC_NAME_PATTERN",
        )
        problems.append(("name", f"{name[:60]!r} is not a metric name; {rule}"))
    if len(labels) > limits.max_labels:
        problems.append(("labels", f"{len(labels)} labels, at most {limits.max_labels} allowed"))
    for key, value in labels:
        if len(key) > limits.max_name_length or not limits.label_name.fullmatch(key):
            rule = _name_rule(
                limits.label_name,
                DEFAULT_LABEL_NAME,
                "use letters, digits and '_', not starting with a digit",
                "PULSEBOARD_LABEL_NAME_PATTERN",
            )
            problems.append((f"labels.{key[:60]}", f"not a label name; {rule}"))
        elif key.startswith("__"):
            problems.append((f"labels.{key}", "label names starting with '__' are reserved"))
        if "\x00" in value:
            problems.append((f"labels.{key[:60]}", "value contains a NUL character"))
        if len(value) > limits.max_label_value_length:
            problems.append((f"labels.{key[:60]}", f"value longer than {limits.max_label_value_length} characters"))
    return problems


def non_finite_word(value: float) -> str:
    """NaN, +Inf or -Inf, as Prometheus writes them."""
    return "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"


def point_problems(sample: Sample, limits: Limits, latest_ts: int) -> list[tuple[str, str]]:
    """(field, message) pairs for a bad value or timestamp."""
    problems = []
    if not math.isfinite(sample.value):
        problems.append(("value", f"{non_finite_word(sample.value)} cannot be stored; send a finite number"))
    if sample.ts > latest_ts:
        problems.append(
            ("timestamp", f"{sample.ts} ms is more than {limits.max_future_skew_ms // 1000} s in the future")
        )
    elif sample.ts < 0:
        problems.append(("timestamp", "before 1970"))
    return problems


def _holds_non_finite(document: object) -> bool:
    """True if a NaN or ±Infinity is anywhere in ``document``; the fast check every event's data passes."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if item - item != 0.0:  # inf - inf and nan - nan are NaN; any finite x - x is 0
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def non_finite_path(document: object, root: str) -> tuple[str, float] | None:
    """Where the first NaN or ±Infinity inside ``document`` is (``data.metrics.score``), and the number; or None.

    JSON has no such numbers: stored, they would break every reader (Postgres refuses them in
    JSONB, browsers and polars refuse the text ``NaN``). Loops, not recursion, so a deeply
    nested document cannot exhaust the stack; paths are built only once one is known to be there.
    """
    if not _holds_non_finite(document):
        return None
    stack: list[tuple[str, object]] = [(root, document)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path, item
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}", child) for key, child in reversed(item.items()))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return None


def event_problems(event: Event, latest_ts: int, limits: Limits) -> list[tuple[str, str]]:
    """(field, message) pairs for everything wrong with one event."""
    problems = []
    if not event.id or len(event.id) > MAX_ID_LENGTH or not event.id.isprintable():
        problems.append(("id", f"must be 1 to {MAX_ID_LENGTH} printable characters"))
    if len(event.type) > MAX_ID_LENGTH or not EVENT_TYPE_RE.fullmatch(event.type):
        problems.append(
            (
                "type",
                f"{event.type[:60]!r} is not an event type; use dotted lower-case words like 'workflow.pr_created'",
            )
        )
    if not event.source or len(event.source) > MAX_SOURCE_LENGTH or not event.source.isprintable():
        problems.append(("source", f"must be 1 to {MAX_SOURCE_LENGTH} printable characters"))
    if event.ts > latest_ts:
        problems.append(("timestamp", f"more than {limits.max_future_skew_ms // 1000} s in the future"))
    elif event.ts < 0:
        problems.append(("timestamp", "before 1970"))
    for root, document in (("data", event.data), ("metadata", event.metadata)):
        if found := non_finite_path(document, root):
            problems.append(
                (found[0], f"{non_finite_word(found[1])} cannot be stored (JSON has no such number); send a finite one")
            )
    return problems


def check_batch(batch: Batch, limits: Limits) -> list[Problem]:
    """Every problem in ``batch`` (capped at MAX_PROBLEMS); empty means it may be stored."""
    problems: list[Problem] = []
    if len(batch) > limits.max_batch_items:
        return [Problem("batch", -1, "", f"{len(batch)} items, at most {limits.max_batch_items} per batch")]
    latest_ts = now_ms() + limits.max_future_skew_ms
    isfinite = math.isfinite  # bound once: this loop runs for every sample
    checked: dict[tuple[str, Labels], list[tuple[str, str]]] = {}
    for index, sample in enumerate(batch.samples):
        # Series are few and samples many: judge each name and label set once per batch.
        key = (sample.name, sample.labels)
        bad_series = checked.get(key)
        if bad_series is None:
            bad_series = checked[key] = series_problems(sample.name, sample.labels, limits)
        value, ts = sample.value, sample.ts
        if bad_series or not isfinite(value) or ts > latest_ts or ts < 0:
            found = bad_series + point_problems(sample, limits, latest_ts)
            problems.extend(Problem("sample", index, f, m) for f, m in found)
            if len(problems) >= MAX_PROBLEMS:
                return problems[:MAX_PROBLEMS]
    for index, event in enumerate(batch.events):
        problems.extend(Problem("event", index, f, m) for f, m in event_problems(event, latest_ts, limits))
        if len(problems) >= MAX_PROBLEMS:
            return problems[:MAX_PROBLEMS]
    return problems
