"""Charts for reports: small Altair specs rendered to inline SVG by vl-convert (no browser, no network).

The SVG is put straight into the HTML, so the file opens anywhere with its charts. vl-convert writes the
SVG and XLink namespace declarations; an SVG inside HTML needs neither (the HTML parser puts it in the SVG
namespace), and the report is meant to hold no URL at all, so they are dropped. Colours are the Okabe–Ito
palette the pages use.
"""

from __future__ import annotations

import re
from typing import Any

import altair as alt
import polars as pl
import vl_convert as vlc

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
WIDTH, HEIGHT = 620, 200
FONT = "DejaVu Sans"  # the font the PDF has (fonts-dejavu-core), so label widths are measured right
_NAMESPACES = re.compile(r'\s+xmlns(:\w+)?="[^"]*"')


def _base(frame: pl.DataFrame) -> alt.Chart:
    return alt.Chart(frame).properties(width=WIDTH, height=HEIGHT)


def lines(frame: pl.DataFrame, x: str, y: str, colour: str | None = None, y_title: str = "") -> dict[str, Any]:
    """A line per ``colour`` over time ``x`` (a Datetime column): the Vega-Lite dict of the Altair chart."""
    enc: dict[str, Any] = {
        "x": alt.X(f"{x}:T", title=None),
        "y": alt.Y(f"{y}:Q", title=y_title or y),
    }
    if colour:
        enc["color"] = alt.Color(
            f"{colour}:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom")
        )
    return _base(frame).mark_line(point=frame.height < 40).encode(**enc).to_dict()


def bars(
    frame: pl.DataFrame, category: str, value: str, x_title: str = "", colour: str | None = None
) -> dict[str, Any]:
    """Horizontal bars of ``value`` per ``category``, longest first."""
    enc: dict[str, Any] = {
        "y": alt.Y(f"{category}:N", sort="-x", title=None),
        "x": alt.X(f"{value}:Q", title=x_title or value),
        "color": alt.value(PALETTE[0])
        if colour is None
        else alt.Color(f"{colour}:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom")),
    }
    height = max(60, min(18 * frame.height, 400))
    return _base(frame).mark_bar().encode(**enc).properties(height=height).to_dict()


def svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG element for inline use: no namespace URLs; it scales to the text width keeping its
    aspect ratio (the fixed width and height go, the viewBox stays), so HTML and PDF lay it out alike."""
    spec = spec | {"padding": 8, "config": {**spec.get("config", {}), "font": FONT}}
    drawn = _NAMESPACES.sub("", vlc.vegalite_to_svg(spec))
    head, rest = drawn.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    return head + ' role="img" style="width:100%;height:auto">' + rest
