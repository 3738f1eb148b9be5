"""Metric declarations shared by collectors, and the counter-to-rate helper.

Each collector declares its metrics once as :class:`MetricSpec` values (name,
description, unit, whether it is a rate, labels); docs/collectors.md is generated from
those declarations and a test checks that every emitted name is among them. A bad
name raises ``ValueError`` when the spec is created, not when a sample is stored.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

NAME_RE = re.compile(r"[a-z][a-z0-9_]*")

# unit -> the suffix a metric name in that unit must end with ("" = no suffix required)
UNITS: dict[str, str] = {
    "bytes": "_bytes",
    "seconds": "_seconds",
    "percent": "_percent",
    "bytes/s": "_bytes_per_second",
    "1/s": "_per_second",
    "total": "_total",
    "1": "",
}
_UNIT_SUFFIXES = tuple(suffix for suffix in UNITS.values() if suffix)


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric a collector emits: its name, meaning, unit and labels."""

    name: str
    description: str
    unit: str
    rate: bool = False
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise ValueError(f"metric name {self.name!r} must be snake_case: lower-case letters, digits and '_'")
        if self.unit not in UNITS:
            raise ValueError(f"metric {self.name!r}: unit {self.unit!r} is not one of {', '.join(UNITS)}")
        suffix = UNITS[self.unit]
        if suffix and not self.name.endswith(suffix):
            raise ValueError(f"metric {self.name!r} in {self.unit} must end with {suffix!r}")
        if not suffix and self.name.endswith(_UNIT_SUFFIXES):
            raise ValueError(f"metric {self.name!r} is dimensionless but its suffix names a unit")
        if self.rate and self.unit not in ("bytes/s", "1/s", "percent", "seconds"):
            raise ValueError(f"metric {self.name!r}: a rate must be per second, a percentage or a mean time")

    @property
    def kind(self) -> str:
        """The Prometheus-style kind stored with the series."""
        return "counter" if self.unit == "total" else "gauge"


def specs_by_name(specs: Iterable[MetricSpec]) -> dict[str, MetricSpec]:
    """Specs keyed by name; a name declared twice is a programming error."""
    found: dict[str, MetricSpec] = {}
    for spec in specs:
        if spec.name in found:
            raise ValueError(f"metric {spec.name!r} is declared twice")
        found[spec.name] = spec
    return found


def markdown_table(specs: Iterable[MetricSpec]) -> str:
    """The docs table for a set of specs."""
    lines = ["| metric | unit | labels | description |", "|---|---|---|---|"]
    for spec in specs:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "–"
        unit = spec.unit + (" (rate)" if spec.rate else "")
        lines.append(f"| `{spec.name}` | {unit} | {labels} | {spec.description} |")
    return "\n".join(lines)


class CounterRates:
    """Per-second rates of cumulative counters, from the previous snapshot of each.

    A rate is withheld (``None``) on the first reading, when the counter went down
    (a reset: a restarted process, a re-plugged NIC, a wrapped 32-bit counter), when
    the clock went backwards, and when the gap since the last reading is longer than
    ``max_gap`` seconds (sleep/resume, a stalled process): a rate averaged over such
    a gap would be a spike or a dip that never happened.
    """

    def __init__(self, max_gap: float) -> None:
        self.max_gap = max_gap
        self._last: dict[Hashable, tuple[float, float]] = {}

    def rate(self, key: Hashable, value: float, now: float) -> float | None:
        """Increase per second of counter ``key`` since its last reading, or None."""
        previous = self._last.get(key)
        self._last[key] = (value, now)
        if previous is None:
            return None
        old_value, old_time = previous
        elapsed = now - old_time
        if elapsed <= 0 or elapsed > self.max_gap or value < old_value:
            return None
        return (value - old_value) / elapsed

    def forget_except(self, keys: Iterable[Hashable]) -> None:
        """Drop state for counters no longer seen (gone disks, exited processes)."""
        keep = set(keys)
        for key in [k for k in self._last if k not in keep]:
            del self._last[key]
