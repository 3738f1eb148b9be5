"""A report as plain data: titled sections of headline figures, tables, charts and notes.

The builders (core/reports/content_*.py) fill it from the domain functions; core/reports/html.py
and core/reports/pdf.py only lay it out, so a figure cannot differ between the HTML and the PDF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

MAX_ROWS = 500  # rows a report table shows by default
KINDS = {
    "executive": "Executive report",
    "technical": "Technical report",
    "sla": "SLA report",
    "qse": "QSE compliance report",
    "migration": "Migration report",
}


@dataclass(frozen=True)
class Figure:
    """One headline number: ``value`` is the domain function's value (tests compare it), ``text`` how it reads."""

    label: str
    value: float | int | str | None
    text: str
    note: str = ""


@dataclass(frozen=True)
class Section:
    """A titled part of a report; any of figures, table, chart (an Altair chart's Vega-Lite dict) and notes."""

    title: str
    figures: tuple[Figure, ...] = ()
    table: pl.DataFrame | None = None
    chart: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    empty: str = "No data in this period."
    limit: int = MAX_ROWS  # rows of ``table`` shown; the rest are counted in a note
    more_note: str = ""  # where the rest are, e.g. " (the SLA page's JSON download lists every breach)"

    @property
    def has_content(self) -> bool:
        """False when the section has nothing to show (it then prints :attr:`empty`)."""
        return bool(self.figures or self.notes or self.chart or (self.table is not None and self.table.height))


@dataclass(frozen=True)
class Report:
    """One generated report: what, for which period and scope, when, and its sections."""

    kind: str
    start_ms: int
    end_ms: int
    generated_ms: int
    scope: dict[str, str] = field(default_factory=dict)
    sections: tuple[Section, ...] = ()
    has_data: bool = True

    @property
    def title(self) -> str:
        """The report's name, e.g. 'Executive report'."""
        return KINDS[self.kind]

    @property
    def period(self) -> str:
        """'2026-11-07 00:00 – 2026-12-07 00:00 UTC'."""
        return f"{stamp(self.start_ms)} – {stamp(self.end_ms)} UTC"

    @property
    def scope_text(self) -> str:
        """'team=alpha, component=api', or 'everything'."""
        return ", ".join(f"{k}={v}" for k, v in sorted(self.scope.items())) or "everything"

    def figure(self, section: str, label: str) -> Figure:
        """The figure ``label`` of section ``section`` (KeyError naming both when missing)."""
        for part in self.sections:
            if part.title == section:
                for found in part.figures:
                    if found.label == label:
                        return found
        raise KeyError(f"no figure {label!r} in section {section!r}")

    def section(self, title: str) -> Section:
        """The section titled ``title``."""
        for part in self.sections:
            if part.title == title:
                return part
        raise KeyError(f"no section {title!r}")


def stamp(ms: int, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Epoch ms as UTC text."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)


def num(value: float | int | None, fmt: str = "{:,.1f}", suffix: str = "") -> str:
    """A number as text, '—' for None (no data)."""
    return "—" if value is None else fmt.format(value) + suffix


def pct(value: float | None, digits: int = 1) -> str:
    """A percentage value (already × 100) as text."""
    return num(value, "{:,.%sf}".replace("%s", str(digits)), " %")
