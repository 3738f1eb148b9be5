"""Time ranges and refresh intervals every page offers, as plain values (no Streamlit).

A page's range is a key (``"24h"``) or ``"custom"`` with two dates; :func:`window`
turns it into epoch-millisecond bounds at a given instant, so a live panel that reruns
every few seconds slides its window forward without the page being redrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.model import now_ms

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
RANGES: dict[str, int] = {
    "1h": HOUR_MS,
    "6h": 6 * HOUR_MS,
    "24h": DAY_MS,
    "7d": 7 * DAY_MS,
    "30d": 30 * DAY_MS,
    "90d": 90 * DAY_MS,
}
# The labels are also the values bound widgets put in the URL (?range=7+d&refresh=10+s).
RANGE_LABELS = {"1h": "1 h", "6h": "6 h", "24h": "24 h", "7d": "7 d", "30d": "30 d", "90d": "90 d", "custom": "Custom"}
REFRESH: dict[str, int | None] = {"off": None, "1s": 1, "5s": 5, "10s": 10, "15s": 15, "30s": 30, "1m": 60, "5m": 300}
REFRESH_LABELS = {
    "off": "Off",
    "1s": "1 s",
    "5s": "5 s",
    "10s": "10 s",
    "15s": "15 s",
    "30s": "30 s",
    "1m": "1 min",
    "5m": "5 min",
}


@dataclass(frozen=True)
class Window:
    """A half-open range ``[start_ms, end_ms)`` and the key it came from."""

    start_ms: int
    end_ms: int
    key: str

    @property
    def span_ms(self) -> int:
        """Length of the window in milliseconds."""
        return self.end_ms - self.start_ms

    def previous(self) -> Window:
        """The window of the same length just before this one (for period-over-period deltas)."""
        return Window(self.start_ms - self.span_ms, self.start_ms, self.key)

    def step_ms(self, points: int = 120) -> int:
        """A bucket width giving about ``points`` buckets, rounded to 1/5/15/60 min, 6 h or 1 d."""
        for step in (60_000, 5 * 60_000, 15 * 60_000, HOUR_MS, 6 * HOUR_MS, DAY_MS):
            if self.span_ms / step <= points:
                return step
        return DAY_MS


def window(key: str, now: int | None = None, custom: tuple[date, date] | None = None) -> Window:
    """Bounds for range ``key`` ending now, or for a custom pair of dates (whole UTC days)."""
    end = now_ms() if now is None else now
    if key == "custom":
        if custom is None:
            raise ValueError("a custom range needs a start and an end date")
        first, last = sorted(custom)
        start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp() * 1000)
        stop = int((datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)).timestamp() * 1000)
        return Window(start, min(stop, end), key)
    if key not in RANGES:
        raise ValueError(f"unknown time range {key!r}; use one of {', '.join(RANGES)} or custom")
    return Window(end - RANGES[key], end, key)


def default_refresh_key(seconds: int | None) -> str:
    """The refresh choice matching a page's default interval from core.auth.catalogue (``None``: off)."""
    for key, value in REFRESH.items():
        if value == seconds:
            return key
    return "off"
