"""Why an alert is not notified right now: a silence, a recurring mute timing, or inhibition.

* A **silence** matches alerts by label matchers (selector syntax without a name,
  ``{alertname="high_queue_depth", queue=~"dor.*"}``) between two instants, with a reason.
* A **mute timing** matches alerts the same way on a weekly schedule in a time zone
  (every Sunday 02:00–04:00 Europe/Berlin; weekdays outside 08:00–18:00).
* **Inhibition**: a firing alert suppresses lower-severity firing alerts of the same
  ``component``; when the rules carry an ``alertgroup`` label, only those of the same
  group on the same series (so a critical error rate on /a leaves the warning on /b).

Suppressed alerts are still evaluated and shown; only their notifications wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.alerts.rules import SEVERITY_RANK
from core.query.selectors import Selector, SelectorError, parse_selector

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def parse_matchers(text: str) -> Selector:
    """Label matchers in selector syntax; at least one matcher, no metric name."""
    try:
        selector = parse_selector(text)
    except SelectorError as error:
        raise ValueError(str(error)) from None
    if selector.name is not None or not selector.matchers:
        raise ValueError('give label matchers in braces, e.g. {alertname="high_queue_depth"}')
    return selector


@dataclass(frozen=True)
class Silence:
    """Mute matching alerts from ``starts_ms`` until ``ends_ms``."""

    id: int
    matchers: str
    starts_ms: int
    ends_ms: int
    reason: str
    created_by: str

    def active(self, now_ms: int) -> bool:
        return self.starts_ms <= now_ms < self.ends_ms

    def matches(self, labels: Mapping[str, str]) -> bool:
        return parse_matchers(self.matchers).matches("", labels)


def _weekday_set(items: list[str]) -> set[int]:
    days: set[int] = set()
    for item in items:
        first, _, last = item.lower().partition(":")
        for name in (first, last or first):
            if name not in WEEKDAYS:
                raise ValueError(f"unknown weekday {name!r}; use monday … sunday or ranges like monday:friday")
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return days


def _clock(text: str) -> int:
    hours, _, minutes = text.partition(":")
    if (
        not (hours.isdigit() and minutes.isdigit())
        or not (0 <= int(hours) <= 24 and 0 <= int(minutes) < 60)
        or (int(hours) == 24 and int(minutes))
    ):
        raise ValueError(f"bad time {text!r}; use HH:MM between 00:00 and 24:00")
    return int(hours) * 60 + int(minutes)


class TimeInterval(BaseModel):
    """Weekdays (all when empty) and clock ranges ``[start, end)`` (all day when empty)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekdays: list[str] = Field(default_factory=list, description="monday … sunday, or ranges like monday:friday.")
    times: list[tuple[str, str]] = Field(
        default_factory=list, description='Clock ranges ["02:00", "04:00"], end exclusive; "24:00" is midnight.'
    )

    @field_validator("weekdays")
    @classmethod
    def _days(cls, items: list[str]) -> list[str]:
        _weekday_set(items)
        return items

    @field_validator("times")
    @classmethod
    def _times(cls, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for start, end in items:
            if _clock(start) >= _clock(end):
                raise ValueError(f"time range {start}–{end} ends before it starts; split ranges that cross midnight")
        return items

    def contains(self, local: datetime) -> bool:
        if self.weekdays and local.weekday() not in _weekday_set(self.weekdays):
            return False
        minute = local.hour * 60 + local.minute
        return not self.times or any(_clock(a) <= minute < _clock(b) for a, b in self.times)


class MuteTiming(BaseModel):
    """A named recurring mute window for matching alerts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    matchers: str = Field(description="Which alerts it mutes, as label matchers.")
    timezone: str = Field(default="UTC", description="IANA time zone of the clock times, e.g. Europe/Berlin.")
    intervals: list[TimeInterval] = Field(min_length=1)
    enabled: bool = True

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, text: str) -> str:
        parse_matchers(text)
        return text

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r}; use an IANA name like Europe/Berlin") from None
        return name

    def active(self, now_ms: int) -> bool:
        local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(self.timezone))
        return self.enabled and any(interval.contains(local) for interval in self.intervals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return parse_matchers(self.matchers).matches("", labels)


@dataclass(frozen=True)
class Candidate:
    """What inhibition needs to know about one alert."""

    fingerprint: str
    labels: Mapping[str, str]
    severity: str
    firing: bool
    series_labels: frozenset[tuple[str, str]]


def _inhibit_key(alert: Candidate) -> tuple[str, str, frozenset[tuple[str, str]]] | None:
    component, group = alert.labels.get("component", ""), alert.labels.get("alertgroup", "")
    if not component and not group:
        return None
    return component, group, alert.series_labels if group else frozenset()


def inhibited(alerts: Iterable[Candidate]) -> dict[str, str]:
    """Fingerprint of each inhibited firing alert → fingerprint of the higher-severity alert inhibiting it."""
    firing = [a for a in alerts if a.firing]
    strongest: dict[tuple[str, str, frozenset[tuple[str, str]]], Candidate] = {}
    for alert in firing:
        key = _inhibit_key(alert)
        if key is not None and (
            key not in strongest or SEVERITY_RANK[alert.severity] > SEVERITY_RANK[strongest[key].severity]
        ):
            strongest[key] = alert
    out = {}
    for alert in firing:
        key = _inhibit_key(alert)
        source = strongest.get(key) if key is not None else None
        if source is not None and SEVERITY_RANK[source.severity] > SEVERITY_RANK[alert.severity]:
            out[alert.fingerprint] = source.fingerprint
    return out


def suppression(
    labels: Mapping[str, str], now_ms: int, silences: Iterable[Silence], timings: Iterable[MuteTiming]
) -> str | None:
    """``"silence:<id>"`` or ``"mute:<name>"`` when a silence or mute timing holds the alert now, else None."""
    for silence in silences:
        if silence.active(now_ms) and silence.matches(labels):
            return f"silence:{silence.id}"
    for timing in timings:
        if timing.active(now_ms) and timing.matches(labels):
            return f"mute:{timing.name}"
    return None
