"""Display preferences (core.ui.contrast): the page's style sheet and the charts' look follow them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.ui import charts
from core.ui.contrast import FOCUS_CSS, Prefs, css, style_chart

FRAME = pl.DataFrame(
    {"ts": [datetime(2026, 12, 6, tzinfo=UTC) + timedelta(hours=i) for i in range(3)], "value": [1.0, 3.0, 2.0]}
)


def test_every_viewer_gets_a_visible_focus_ring_and_nothing_else_by_default():
    sheet = css(Prefs())
    assert sheet.strip() == FOCUS_CSS.strip()
    assert ":focus-visible" in sheet and "outline: 3px solid" in sheet


def test_text_size_scales_the_root_font_and_high_contrast_adds_black_on_white():
    sheet = css(Prefs(high_contrast=True, text_size=130))
    assert "html { font-size: 130% !important; }" in sheet
    assert "background-color: #ffffff !important" in sheet and "color: #000000 !important" in sheet
    assert "border: 2px solid #000000 !important" in sheet
    assert "outline: 4px solid #000000" in sheet  # the focus ring turns black and thicker


def test_an_unknown_text_size_is_refused_naming_the_sizes_offered():
    with pytest.raises(ValueError, match=r"text size 120 % is not one of 100, 115, 130, 150 %"):
        Prefs(text_size=120)


def test_default_preferences_leave_a_chart_untouched():
    chart = charts.trend(FRAME, color=None, warning=2.5)
    assert style_chart(chart, Prefs()) is chart


def test_high_contrast_charts_have_black_axes_thick_lines_and_keep_the_original():
    chart = charts.trend(FRAME, color=None, warning=2.5)
    before = chart.to_dict()
    styled = style_chart(chart, Prefs(high_contrast=True, text_size=150)).to_dict()
    assert chart.to_dict() == before  # the caller's chart is not changed
    axis = styled["config"]["axis"]
    assert axis["labelColor"] == axis["domainColor"] == "#000000"
    assert axis["labelFontSize"] == 18 and axis["titleFontSize"] == 20  # 12 and 13 px at 150 %
    assert styled["config"]["background"] == "#ffffff"
    widths = [
        layer["mark"].get("strokeWidth") for layer in styled["layer"] if layer["mark"]["type"] in ("line", "rule")
    ]
    assert widths and all(width >= 3 for width in widths)


def test_high_contrast_outlines_bars_and_text_size_alone_only_scales_labels():
    bars = charts.bars(pl.DataFrame({"c": ["a", "b"], "value": [1.0, 2.0]}), category="c")
    styled = style_chart(bars, Prefs(high_contrast=True)).to_dict()
    assert styled["layer"][0]["mark"]["stroke"] == "#000000"
    larger = style_chart(bars, Prefs(text_size=115)).to_dict()
    assert larger["config"]["axis"] == {"labelFontSize": 14, "titleFontSize": 15}
    assert "background" not in larger["config"] and "stroke" not in larger["layer"][0]["mark"]
