"""The Capacity page's forecast chart: history, forecast, its 80 % and 95 % bands, threshold and "now".

Kept beside core.ui.charts (same palette and conventions) rather than inside it: the two bands, the "now"
rule and the capacity line only make sense for a forecast against a limit. The widget registry's simpler
``forecast`` kind (one band) stays as it is for user dashboards.
"""

from __future__ import annotations

import altair as alt
import polars as pl

from core.ui.charts import CRITICAL_COLOR, PALETTE, TS_TOOLTIP, WARNING_COLOR, finite_rows


def _hline(level: float, label: str, color: str) -> list[alt.Chart]:
    data = pl.DataFrame({"level": [float(level)], "name": [label]})
    rule = (
        alt.Chart(data)
        .mark_rule(color=color, strokeDash=[6, 4], strokeWidth=1.5)
        .encode(y="level:Q", tooltip=[alt.Tooltip("name:N", title="line")])
    )
    text = (
        alt.Chart(data)
        .mark_text(color=color, fontSize=11, align="left", dx=4, dy=-6)
        .encode(y="level:Q", x=alt.value(0), text="name:N")
    )
    return [rule, text]


def forecast_chart(
    frame: pl.DataFrame,
    *,
    now_ms: int,
    threshold: float | None = None,
    capacity: float | None = None,
    y_title: str = "",
    y_format: str = ",.1f",
    height: int = 220,
) -> alt.LayerChart:
    """``frame`` from core.forecasting.view.chart_frame (ts, kind, value, lo80, hi80, lo95, hi95).

    The history is a solid line, the forecast a dashed one inside its 80 % (darker) and 95 % bands; the
    threshold (80 % of capacity) and the capacity are dashed rules labelled at the left; "now" a vertical rule.
    """
    frame = finite_rows(frame, "value", "lo80", "hi80", "lo95", "hi95")
    actual = frame.filter(pl.col("kind") == "actual")
    ahead = frame.filter(pl.col("kind") == "forecast")
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format))
    x = alt.X("ts:T", title=None, axis=alt.Axis(labelOverlap=True, format="%d %b %H:%M"))
    band_tip = [TS_TOOLTIP, alt.Tooltip("lo80:Q", format=y_format), alt.Tooltip("hi80:Q", format=y_format)]
    layers: list[alt.Chart] = [
        alt.Chart(ahead).mark_area(opacity=0.15, color=PALETTE[4]).encode(x=x, y="lo95:Q", y2="hi95:Q"),
        alt.Chart(ahead)
        .mark_area(opacity=0.3, color=PALETTE[4])
        .encode(x=x, y="lo80:Q", y2="hi80:Q", tooltip=band_tip),
        alt.Chart(ahead)
        .mark_line(strokeDash=[5, 3], color=PALETTE[1])
        .encode(x=x, y=y, tooltip=[TS_TOOLTIP, alt.Tooltip("value:Q", title="forecast", format=y_format)]),
        alt.Chart(actual)
        .mark_line(color=PALETTE[0])
        .encode(x=x, y=y, tooltip=[TS_TOOLTIP, alt.Tooltip("value:Q", title="measured", format=y_format)]),
    ]
    if threshold is not None:
        layers += _hline(threshold, f"threshold {threshold:,.4g}", WARNING_COLOR)
    if capacity is not None:
        layers += _hline(capacity, f"capacity {capacity:,.4g}", CRITICAL_COLOR)
    now = pl.DataFrame({"ts": [now_ms]}).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")), name=pl.lit("now"))
    layers += [
        alt.Chart(now).mark_rule(color=PALETTE[7], strokeWidth=1.5).encode(x="ts:T"),
        alt.Chart(now)
        .mark_text(color=PALETTE[7], fontSize=11, align="left", dx=3, baseline="top")
        .encode(x="ts:T", y=alt.value(2), text="name:N"),
    ]
    return alt.LayerChart(layer=layers).properties(height=height, width="container")
