"""How SLA times are written, shared by the page's tables (core.sla.view) and the report's Markdown.

A module of its own so the report and the view both use it without importing each other.
"""

from __future__ import annotations

UNITS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))


def duration(seconds: float | None) -> str:
    """'15 min', '2 h', '1.5 h', '200 ms' — the way targets are written in the specification."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    for size, unit in UNITS:
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f} {unit}" if abs(value - round(value)) < 0.05 else f"{value:.1f} {unit}"
    return f"{seconds:.1f} s"
