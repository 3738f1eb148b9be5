"""Build a report of one kind for a period and scope: the dispatcher every caller uses (page, CLI, schedules).

``progress`` is called with (fraction done, what is happening) so the Reports page can show a progress bar
while the background generation runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.model import now_ms as clock_ms
from core.reports import content_business, content_programmes, content_technical
from core.reports.model import KINDS, Report, Section

Progress = Callable[[float, str], None]
FORMATS = ("html", "pdf")


class ReportError(ValueError):
    """A request that cannot make a report (unknown kind or format, an empty or inverted period)."""


def check(kind: str, fmt: str, start_ms: int, end_ms: int) -> None:
    """Raise :class:`ReportError` naming what is wrong with a request."""
    if kind not in KINDS:
        raise ReportError(f"unknown report type {kind!r}: use one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ReportError(f"unknown format {fmt!r}: use html or pdf")
    if end_ms <= start_ms:
        raise ReportError("the period's end must be after its start")


def build(
    engine: Engine,
    kind: str,
    start_ms: int,
    end_ms: int,
    scope: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
    now_ms: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """The report ``kind`` for ``[start_ms, end_ms)`` and ``scope`` (filters such as team or component)."""
    check(kind, "html", start_ms, end_ms)
    settings = settings or get_settings()
    now = clock_ms() if now_ms is None else now_ms
    scope = {k: v for k, v in (scope or {}).items() if v}
    if progress:
        progress(0.1, f"reading {KINDS[kind].lower()} data")
    sections: list[Section]
    if kind == "executive":
        sections, has_data = content_business.executive(engine, settings, start_ms, end_ms, now, scope)
    elif kind == "sla":
        sections, has_data = content_business.sla(engine, settings, start_ms, end_ms, now)
    elif kind == "technical":
        sections, has_data = content_technical.technical(engine, settings, start_ms, end_ms, now, scope)
    elif kind == "qse":
        sections, has_data = content_programmes.qse(engine, settings, start_ms, end_ms, scope)
    else:
        sections, has_data = content_programmes.migration(engine, settings, start_ms, end_ms)
    if progress:
        progress(0.6, "laying out")
    return Report(kind, start_ms, end_ms, clock_ms(), dict(scope), tuple(sections), has_data)


def render(report: Report, fmt: str) -> bytes:
    """The report as ``fmt`` (html or pdf) bytes."""
    if fmt == "pdf":
        from core.reports.pdf import render as pdf

        return pdf(report)
    from core.reports.html import render as html

    return html(report).encode()
