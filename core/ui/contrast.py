"""The viewer's display preferences — high contrast and text size — as CSS for the page and config for charts.

Streamlit's own theming offers light and dark (the settings menu) but neither a high-contrast mode nor a text
size, so both are made here: :func:`css` is the style sheet core.ui.accessibility injects into every page (black
on white, 2 px borders, underlined links, a thick focus ring; the root font size scaled, which every rem-sized
Streamlit element follows), and :func:`style_chart` gives an Altair chart the same look (black axes and text,
thicker lines, larger labels). A visible keyboard focus ring is in the sheet for every viewer, high contrast or
not. Pure functions (no Streamlit), so tests read the CSS and the chart spec directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import altair as alt

TEXT_SIZES = (100, 115, 130, 150)  # % of the browser's default text size
BLACK, WHITE, FOCUS = "#000000", "#ffffff", "#0b57d0"
THICK_MARKS = ("line", "rule", "trail")
BASE_LABEL_PX, BASE_TITLE_PX = 12, 13


@dataclass(frozen=True)
class Prefs:
    """One viewer's display preferences: high contrast on or off, text size in % of the default."""

    high_contrast: bool = False
    text_size: int = 100

    def __post_init__(self) -> None:
        if self.text_size not in TEXT_SIZES:
            raise ValueError(f"text size {self.text_size} % is not one of {', '.join(map(str, TEXT_SIZES))} %")

    @property
    def is_default(self) -> bool:
        """True when nothing differs from Streamlit's own look (charts are then drawn untouched)."""
        return not self.high_contrast and self.text_size == 100


# Every viewer: a focus ring that keyboard users can see on every control (Streamlit's own is faint or absent on
# some widgets); and captions dark enough to read (Streamlit's grey fails WCAG AA contrast on white).
FOCUS_CSS = f"""
:is(a, button, input, textarea, select, summary, [role="button"], [role="tab"], [role="radio"], [role="option"],
    [role="switch"], [role="checkbox"], [role="combobox"], [role="slider"], [tabindex]):focus-visible {{
  outline: 3px solid {FOCUS} !important;
  outline-offset: 2px !important;
}}
.stApp [data-testid="stCaptionContainer"], .stApp [data-testid="stExpander"] summary {{
  color: inherit !important;
  opacity: 0.8;
}}
"""

HIGH_CONTRAST_CSS = f"""
/* pulseboard: high contrast */
.stApp, .stApp [data-testid="stHeader"], .stApp [data-testid="stSidebar"], .stApp [data-testid="stSidebarContent"],
.stApp [data-testid="stMain"], .stApp [data-testid="stBottomBlockContainer"], div[data-baseweb="popover"] *,
div[role="dialog"], div[data-testid="stPopoverBody"] {{
  background-color: {WHITE} !important;
  color: {BLACK} !important;
}}
.stApp *:not(svg *):not(canvas) {{
  color: {BLACK} !important;
  border-color: {BLACK} !important;
}}
.stApp a, .stApp a * {{ text-decoration: underline !important; color: #0000c8 !important; }}
.stApp [data-testid="stSidebarNav"] a[aria-current="page"] {{
  outline: 2px solid {BLACK}; background: #e6e6e6 !important;
}}
.stApp button, .stApp input, .stApp textarea, .stApp [data-baseweb="select"] > div, .stApp [data-baseweb="input"],
.stApp [data-testid="stMetric"], .stApp [data-testid="stExpander"] details, .stApp [data-testid="stAlert"] > div,
.stApp [data-testid="stVerticalBlockBorderWrapper"] {{
  border: 2px solid {BLACK} !important;
  background-color: {WHITE} !important;
}}
.stApp button[kind="primary"], .stApp button[data-testid="stBaseButton-primary"] {{
  background-color: {BLACK} !important;
}}
.stApp button[kind="primary"] *, .stApp button[data-testid="stBaseButton-primary"] * {{ color: {WHITE} !important; }}
.stApp [data-testid="stCaptionContainer"], .stApp small {{ opacity: 1 !important; }}
.stApp [data-testid="stExpander"] summary {{ padding-left: 0.5rem; }}
{FOCUS_CSS.replace(FOCUS, BLACK).replace("3px", "4px")}
"""


def css(prefs: Prefs) -> str:
    """The style sheet for ``prefs``: the focus ring always; the root font size and high contrast when chosen."""
    parts = [FOCUS_CSS]
    if prefs.text_size != 100:
        parts.append(f"html {{ font-size: {prefs.text_size}% !important; }}")
    if prefs.high_contrast:
        parts.append(HIGH_CONTRAST_CSS)
    return "\n".join(parts)


def _marks(chart: Any) -> list[Any]:
    """Every single-view chart inside ``chart``, itself included."""
    found = [chart] if getattr(chart, "mark", alt.Undefined) is not alt.Undefined else []
    for attr in ("layer", "hconcat", "vconcat", "concat"):
        parts = getattr(chart, attr, None)
        if isinstance(parts, list):
            for part in parts:
                found.extend(_marks(part))
    return found


def _thicker(chart: Any) -> None:
    """Lines and rules at least 3 px, bars, areas and arcs outlined in black (in place, on a copy)."""
    for part in _marks(chart):
        mark = part.mark
        kind = mark if isinstance(mark, str) else str(getattr(mark, "type", "") or "")
        props = {} if isinstance(mark, str) else {k: v for k, v in mark.to_dict().items() if k != "type"}
        if kind in THICK_MARKS:
            props["strokeWidth"] = max(3.0, float(props.get("strokeWidth", 0) or 0))
        elif kind in ("bar", "area", "arc") and "stroke" not in props:  # not rect: heatmap cells would drown
            props |= {"stroke": BLACK, "strokeWidth": 1}
        else:
            continue
        part.mark = alt.MarkDef(type=kind, **props)  # type: ignore[arg-type]


def style_chart(chart: Any, prefs: Prefs) -> Any:
    """``chart`` drawn for ``prefs``: labels scaled with the text size; with high contrast a white background,
    black axes, text and legend, 3 px lines and outlined bars. The chart given is not changed (its data is
    shared, not copied); with default preferences it is returned as it is."""
    if prefs.is_default:
        return chart
    scale = prefs.text_size / 100
    label, title = round(BASE_LABEL_PX * scale), round(BASE_TITLE_PX * scale)
    axis: dict[str, Any] = {"labelFontSize": label, "titleFontSize": title}
    legend: dict[str, Any] = {"labelFontSize": label, "titleFontSize": title}
    heading: dict[str, Any] = {"fontSize": round(14 * scale)}
    config: dict[str, Any] = {}
    styled = chart.copy(deep=True, ignore=["data"])
    if prefs.high_contrast:
        ink = {"labelColor": BLACK, "titleColor": BLACK}
        axis |= ink | {"domainColor": BLACK, "tickColor": BLACK, "domainWidth": 2, "tickWidth": 2}
        axis |= {"gridColor": "#767676", "gridOpacity": 0.6}
        legend |= ink
        heading |= {"color": BLACK}
        config |= {"background": WHITE, "view": {"stroke": BLACK, "strokeWidth": 2}, "text": {"color": BLACK}}
        _thicker(styled)
    existing = styled.config.to_dict() if styled.config is not alt.Undefined else {}
    merged = existing | config | {"axis": axis, "legend": legend, "title": heading}
    styled.config = alt.Config(**merged)
    return styled


__all__ = ["FOCUS_CSS", "TEXT_SIZES", "Prefs", "css", "style_chart"]
