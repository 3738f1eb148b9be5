"""Human wording for times, shared by every page."""

from __future__ import annotations

from core.model import now_ms


def ago(ts_ms: int | None, now: int | None = None) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '2 d ago', or 'never'."""
    if ts_ms is None:
        return "never"
    seconds = max(0, ((now_ms() if now is None else now) - ts_ms) // 1000)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"
