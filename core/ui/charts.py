"""Altair chart builders every page draws with: one look, a colour-blind-safe palette, tooltips.

Builders take polars DataFrames and return Altair charts; they never touch Streamlit,
so tests can inspect the Vega-Lite spec. Conventions:

* categorical colours are the Okabe–Ito palette (:data:`PALETTE`), readable by the
  common colour-vision deficiencies and on both light and dark backgrounds; status
  colours (:data:`STATUS_COLORS`) come from the same palette and are always paired
  with a text label, so no state is told by colour alone;
* warning/critical thresholds are dashed horizontal rules labelled at the right edge;
  deployments are dotted vertical rules with the component and version in the tooltip;
* charts that support drill-down carry a point selection named :data:`PICK` on one
  field; ``st.altair_chart(..., on_select="rerun")`` then returns the clicked value.

Long on purpose: every chart builder shares one palette, one axis and legend style and one
tooltip convention; spreading them over files would spread the one look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from core.ui import units
from core.ui.schema_check import with_properties

PICK = "pick"
Chart = alt.Chart | alt.LayerChart  # what the builders return; st.altair_chart draws either
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#999999")
STATUS_COLORS = {
    "ok": "#009E73",
    "healthy": "#009E73",
    "active": "#009E73",
    "excellent": "#009E73",
    "passed": "#009E73",
    "good": "#56B4E9",
    "idle": "#56B4E9",
    "info": "#56B4E9",
    "low": "#56B4E9",
    "in_training": "#CC79A7",
    "warning": "#E69F00",
    "degraded": "#E69F00",
    "overloaded": "#E69F00",
    "medium": "#E69F00",
    "high": "#CC79A7",
    "poor": "#CC79A7",
    "critical": "#D55E00",
    "down": "#D55E00",
    "failed": "#D55E00",
    "error": "#CC79A7",
    "unknown": "#999999",
    "no data": "#999999",
    "late": "#E69F00",  # data feeds (core/query/feeds.py): late → warning, stale → critical colours
    "stale": "#D55E00",
    "never": "#999999",
    "retired": "#BBBBBB",
    "compliant": "#009E73",  # QSE compliance bands and template ratings (core.programmes)
    "not assessed": "#999999",
    "effective": "#56B4E9",
    "needs work": "#E69F00",
    "too few uses": "#999999",
}
WARNING_COLOR, CRITICAL_COLOR = STATUS_COLORS["warning"], STATUS_COLORS["critical"]
TS_TOOLTIP = alt.Tooltip("ts:T", title="time", format="%Y-%m-%d %H:%M")


def status_scale(statuses: Sequence[str]) -> alt.Scale:
    """A colour scale mapping each status name to its fixed colour."""
    domain = list(dict.fromkeys(statuses))
    return alt.Scale(domain=domain, range=[STATUS_COLORS.get(s, "#999999") for s in domain])


def count_axis(**props: Any) -> alt.Axis:
    """An axis for counts: whole-number ticks only (no 0.5 workflows)."""
    return alt.Axis(format="d", tickMinStep=1, **props)


def trend_legend() -> alt.Legend:
    """Series names under the chart: two columns with half the width each, one full-width column on a narrow chart."""
    return alt.Legend(
        orient="bottom",
        columns=alt.ExprRef(expr="width < 520 ? 1 : 2"),
        labelLimit=alt.ExprRef(expr="width < 520 ? max(120, width - 30) : width / 2 - 40"),
    )


def picked_opacity(selection: alt.Parameter, chosen: float = 1.0, other: float = 0.45) -> alt.OpacityValue:
    """Full opacity for the clicked mark, ``other`` for the rest: ``alt.condition`` written as the channel object.

    Encoding with a dict (what ``alt.condition`` and ``alt.value`` return) or a shorthand string
    makes Altair rebuild its table of ~570 schema classes to find the wrapper, ~3 ms each time;
    a channel object skips that, and the spec is the same.
    """
    return alt.OpacityValue(other, condition={"param": selection.name, "value": chosen})


def _layer(*layers: alt.Chart) -> alt.LayerChart:
    return alt.LayerChart(layer=list(layers))


def finite_rows(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame`` without the rows whose ``columns`` hold NaN or ±Infinity (nulls stay: they draw as gaps).

    Ingest refuses such values, but one stored before it did, or computed by a ratio over
    nothing, must not break a chart: Vega-Lite's JSON has no NaN or Infinity, so one such
    point would blank the whole chart (or stretch its axis to nothing useful).
    """
    floats = [c for c in columns if c in frame.columns and frame.schema[c].is_float()]
    if not floats:
        return frame
    return frame.filter(pl.all_horizontal(pl.col(c).is_finite() | pl.col(c).is_null() for c in floats))


def _base(chart: Chart, height: int, title: str | None) -> Chart:
    props: dict[str, Any] = {"height": height, "width": "container"}
    if title:
        props["title"] = title
    return with_properties(chart, **props)


def threshold_rules(warning: float | None, critical: float | None, *, field: str = "y") -> list[alt.Chart]:
    """Dashed rules (and labels) at the warning and critical levels; none for missing levels.

    With both levels drawn, the higher level's label sits above (right of) its rule and the
    lower level's below (left of) its rule, so the two labels grow apart and never overlap
    however close the levels are on a narrow chart.
    """
    levels = [
        (n, v, c)
        for n, v, c in (("warning", warning, WARNING_COLOR), ("critical", critical, CRITICAL_COLOR))
        if v is not None
    ]
    top = max((float(v) for _, v, _ in levels), default=None)
    layers: list[alt.Chart] = []
    for name, level, color in levels:
        data = pl.DataFrame({"level": [float(level)], "name": [f"{name} {level:g}"]})
        enc = {field: alt.X("level:Q") if field == "x" else alt.Y("level:Q")}
        rule = (
            alt.Chart(data)
            .mark_rule(color=color, strokeDash=[6, 4], strokeWidth=1.5)
            .encode(tooltip=[alt.Tooltip("name:N", title="threshold")], **enc)
        )
        upper = len(levels) == 1 or float(level) == top
        text_props: dict[str, Any] = (
            ({"align": "right", "dy": -6} if upper else {"align": "right", "dy": 12})
            if field == "y"
            else (
                {"align": "left", "dx": 4, "baseline": "bottom"}
                if upper
                else {"align": "right", "dx": -4, "baseline": "bottom"}
            )
        )
        # vertical rules: the label sits just above the plot, clear of the bars
        at_edge = {"x": alt.XValue("width")} if field == "y" else {"y": alt.YValue(-3)}
        label = (
            alt.Chart(data)
            .mark_text(color=color, fontSize=11, **text_props)
            .encode(text=alt.Text("name:N"), **enc, **at_edge)
        )
        layers += [rule, label]
    return layers


def deployment_rules(deployments: pl.DataFrame | None) -> list[alt.Chart]:
    """Dotted vertical rules at deployments (columns ts, component, version)."""
    if deployments is None or deployments.is_empty():
        return []
    rule = (
        alt.Chart(deployments)
        .mark_rule(color=PALETTE[7], strokeDash=[2, 3], strokeWidth=1.5)
        .encode(x="ts:T", tooltip=[TS_TOOLTIP, alt.Tooltip("component:N", title="deployed"), alt.Tooltip("version:N")])
    )
    return [rule]


def trend(
    frame: pl.DataFrame,
    *,
    y: str = "value",
    color: str | None = "series",
    y_title: str = "",
    title: str | None = None,
    warning: float | None = None,
    critical: float | None = None,
    deployments: pl.DataFrame | None = None,
    area: bool = False,
    height: int | None = None,
    y_format: str = ",.2f",
    integer: bool = False,
    zero: bool = True,
    unit: str = "",
) -> Chart:
    """Lines (or stacked areas) over time from a long frame with ``ts``, ``y`` and ``color`` columns.

    ``integer`` makes the y axis a count axis; ``zero=False`` lets it start near the data (scores
    that move between 80 and 95 % would otherwise be flat lines at the top of a 0–100 axis). A ``unit`` that
    core.ui.units humanises ("B/s", "ms") writes the axis labels and tooltip that way ("1.5 MiB/s").
    """
    frame = finite_rows(frame, y)
    tooltip = [TS_TOOLTIP, _value_tooltip(y, y_title or y, ",.0f" if integer else y_format, unit)]
    encoding: dict[str, Any] = {
        "x": alt.X("ts:T", title=None),
        "y": alt.Y(
            f"{y}:Q",
            title=units.axis_title(unit, y_title) if unit else y_title,
            stack=True if area else None,
            axis=count_axis() if integer else _unit_axis(unit),
            scale=alt.Undefined if zero else alt.Scale(zero=False),
        ),
    }
    if color and color in frame.columns:
        encoding["color"] = alt.Color(
            f"{color}:N", title=None, scale=alt.Scale(range=list(PALETTE)), legend=trend_legend()
        )
        tooltip.insert(1, alt.Tooltip(f"{color}:N"))
    mark = (
        alt.Chart(frame).mark_area(opacity=0.7)
        if area
        else alt.Chart(frame).mark_line(point=len(frame) < 40, strokeWidth=2)
    )
    layers = [
        _with_shown(mark.encode(tooltip=tooltip, **encoding), y, unit),
        *threshold_rules(warning, critical),
        *deployment_rules(deployments),
    ]
    # the chart's height holds its legend too: room for one legend row per series
    # (a narrow chart lists them in one column); Vega lists at most LEGEND_MAX_ENTRIES, then "… N entries"
    legend_px = LEGEND_ROW_PX * min(frame[color].n_unique(), LEGEND_MAX_ENTRIES) if color and "color" in encoding else 0
    return _base(_layer(*layers), (height or 240) + legend_px, title)


LEGEND_ROW_PX = 18
LEGEND_MAX_ENTRIES = 30  # Vega-Lite's default legend symbolLimit: past it the legend ends in "… N entries"
SHOWN = "_shown"  # a tooltip's humanised value, calculated in the browser from the raw one


def _unit_axis(unit: str) -> Any:
    """A value axis whose labels are humanised for ``unit`` (core.ui.units), or the default axis."""
    expr = units.vega_expr(unit)
    return alt.Axis(labelExpr=expr) if expr else alt.Undefined


def _value_tooltip(field: str, title: str, number_format: str, unit: str) -> alt.Tooltip:
    """The value's tooltip: humanised for ``unit`` (the field :func:`_with_shown` calculates), else formatted."""
    if units.vega_expr(unit):
        return alt.Tooltip(f"{SHOWN}:N", title=units.axis_title(unit, title))
    return alt.Tooltip(f"{field}:Q", title=title, format=number_format)


def _with_shown(chart: alt.Chart, field: str, unit: str) -> alt.Chart:
    """``chart`` with the humanised :data:`SHOWN` field its tooltip reads, when ``unit`` is humanised."""
    expr = units.vega_expr(unit, f"datum[{field!r}]")
    return chart.transform_calculate(**{SHOWN: expr}) if expr else chart


def bars(
    frame: pl.DataFrame,
    *,
    category: str,
    value: str = "value",
    color: str | None = None,
    title: str | None = None,
    value_title: str = "",
    warning: float | None = None,
    critical: float | None = None,
    horizontal: bool = True,
    pick: bool = False,
    height: int | None = None,
    sort: Sequence[str] | None = None,
    value_format: str = ",.1f",
    extra_tooltip: Sequence[str] = (),
    integer: bool = False,
    unit: str = "",
) -> Chart:
    """One bar per category (or stacked by ``color``), threshold rules on the value axis, optional click selection.

    ``integer`` marks a count axis: whole-number ticks and tooltip values; a ``unit`` that core.ui.units humanises
    writes the value axis and tooltip that way.
    """
    frame = finite_rows(frame, value)
    order: list[str] | str = list(sort) if sort else "-x" if horizontal else "-y"
    cat = (
        alt.Y(f"{category}:N", title=None, sort=order, axis=alt.Axis(labelLimit=220))
        if horizontal
        else alt.X(f"{category}:N", title=None, sort=order, axis=alt.Axis(labelAngle=-30, labelLimit=160))
    )
    axis = count_axis() if integer else _unit_axis(unit)
    value_title = units.axis_title(unit, value_title) if unit else value_title
    val = (
        alt.X(f"{value}:Q", title=value_title, axis=axis)
        if horizontal
        else alt.Y(f"{value}:Q", title=value_title, axis=axis)
    )
    tooltip = [
        alt.Tooltip(f"{category}:N"),
        _value_tooltip(value, value_title or value, ",.0f" if integer else value_format, unit),
        *[alt.Tooltip(f"{c}") for c in extra_tooltip],
    ]
    encoding: dict[str, Any] = {"x": val, "y": cat} if horizontal else {"x": cat, "y": val}
    if color:
        encoding["color"] = alt.Color(
            f"{color}:N", title=None, scale=_color_scale(frame, color), legend=alt.Legend(orient="bottom")
        )
        tooltip.insert(1, alt.Tooltip(f"{color}:N"))
    else:
        encoding["color"] = alt.ColorValue(PALETTE[0])
    chart = _with_shown(alt.Chart(frame).mark_bar().encode(tooltip=tooltip, **encoding), value, unit)
    if pick:
        selection = alt.selection_point(name=PICK, fields=[category], on="click")
        chart = chart.add_params(selection).encode(opacity=picked_opacity(selection))
    layers = [chart, *threshold_rules(warning, critical, field="x" if horizontal else "y")]
    rows = frame[category].n_unique() if category in frame.columns else 1
    return _base(_layer(*layers), height or (30 * rows + (110 if color else 70) if horizontal else 260), title)


def _color_scale(frame: pl.DataFrame, field: str) -> alt.Scale:
    values = [str(v) for v in frame[field].unique(maintain_order=True).to_list()] if field in frame.columns else []
    if values and all(v in STATUS_COLORS for v in values):
        return status_scale(values)
    return alt.Scale(range=list(PALETTE))


def gauge(
    value: float | None,
    *,
    target: float | None = None,
    lo: float = 0.0,
    hi: float = 100.0,
    unit: str = "%",
    warning: float | None = None,
    critical: float | None = None,
    higher_is_worse: bool = False,
    title: str | None = None,
    height: int | None = None,
    label: str | None = None,
) -> Chart:
    """A half-circle gauge: the value's arc coloured by its level, a tick at ``target``, the number in the middle.

    Under the number: ``label`` if given, else the target, else the level.
    """
    if value is not None and not math.isfinite(value):
        value = None  # no number to draw: shown as "no data" rather than an empty chart
    span = hi - lo or 1.0
    shown = 0.0 if value is None else min(max(value, lo), hi)
    level = "no data" if value is None else _level(value, warning, critical, higher_is_worse)
    filled = (shown - lo) / span
    arcs = pl.DataFrame({"part": ["value", "rest"], "share": [filled, 1.0 - filled], "level": [level, "track"]})
    half = alt.Scale(domain=[0, 1], range=[-1.5708, 1.5708])  # shares of the scale → the upper half circle
    arc = (
        alt.Chart(arcs)
        .mark_arc(innerRadius=55, outerRadius=85)
        .encode(
            theta=alt.Theta("share:Q", stack=True, scale=half),
            color=alt.Color(
                "level:N",
                legend=None,
                scale=alt.Scale(domain=[level, "track"], range=[STATUS_COLORS.get(level, PALETTE[0]), "#bbbbbb55"]),
            ),
            order=alt.Order("part:N", sort="descending"),
            tooltip=[alt.Tooltip("part:N"), alt.Tooltip("share:Q", format=".1%")],
        )
    )
    text = "—" if value is None else f"{value:,.1f}{unit}"
    sub = label or (level if target is None else f"target {target:g}{unit}")
    words = alt.Chart(pl.DataFrame({"t": [text], "sub": [sub]}))
    layers = [
        arc,
        words.mark_text(fontSize=24, fontWeight="bold", dy=-12).encode(text=alt.Text("t:N")),
        words.mark_text(fontSize=12, dy=10).encode(text=alt.Text("sub:N")),
    ]
    if target is not None:
        at = (min(max(target, lo), hi) - lo) / span
        tick = pl.DataFrame({"a": [max(0.0, at - 0.004)], "b": [min(1.0, at + 0.004)], "target": [target]})
        layers.append(
            alt.Chart(tick)
            .mark_arc(innerRadius=48, outerRadius=92, color=PALETTE[7])
            .encode(theta=alt.Theta("a:Q", scale=half), theta2="b:Q", tooltip=[alt.Tooltip("target:Q", title="target")])
        )
    chart = _layer(*layers).properties(height=height or 200, width="container")
    return chart.properties(title=title) if title else chart


def _level(value: float, warning: float | None, critical: float | None, higher_is_worse: bool) -> str:
    def past(limit: float | None) -> bool:
        return limit is not None and (value >= limit if higher_is_worse else value < limit)

    return "critical" if past(critical) else "warning" if past(warning) else "ok"


def heatmap(
    frame: pl.DataFrame,
    *,
    x: str,
    y: str,
    value: str = "value",
    title: str | None = None,
    value_title: str = "",
    x_type: str = "T",
    height: int | None = None,
    pick: bool = False,
) -> Chart:
    """A grid of cells coloured by ``value``, one labelled row per ``y`` value.

    The colour scale is sequential, colour-blind-safe viridis.
    """
    frame = finite_rows(frame, value)
    tooltip = [
        alt.Tooltip(f"{y}:N"),
        alt.Tooltip(f"{x}:{x_type}", format="%Y-%m-%d %H:%M") if x_type == "T" else alt.Tooltip(f"{x}:{x_type}"),
        alt.Tooltip(f"{value}:Q", title=value_title or value, format=",.1f"),
    ]
    # category names on x are written slanted and whole (as on vertical bars), not cut to fit a vertical label
    axis = alt.Undefined if x_type == "T" else alt.Axis(labelAngle=-30, labelLimit=160)
    encoding: dict[str, Any] = {"x": alt.X(f"{x}:{x_type}", title=None, axis=axis)}
    if x_type == "T" and x in frame.columns and frame[x].n_unique() > 1:
        # temporal cells need an explicit end, or every rect is drawn a few pixels wide
        step = frame.select(pl.col(x).unique().sort().diff().min()).item()
        frame = frame.with_columns((pl.col(x) + step).alias("_x_end"))
        encoding["x2"] = "_x_end:T"
    chart = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            # every row keeps its name: rows are ROW_PX tall (room for an 11 px label) and labels are never thinned out
            y=alt.Y(f"{y}:N", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False, labelFontSize=11)),
            color=alt.Color(
                f"{value}:Q", title=value_title, scale=alt.Scale(scheme="viridis"), legend=fitted_gradient_legend()
            ),
            tooltip=tooltip,
            **encoding,
        )
    )
    if pick:
        selection = alt.selection_point(name=PICK, fields=[y], on="click")
        chart = chart.add_params(selection)
    rows = frame[y].n_unique() if y in frame.columns else 1
    return _base(chart, height or ROW_PX * rows + 110, title)  # the height holds the time axis and legend too


ROW_PX = 22


def fitted_gradient_legend(**props: Any) -> alt.Legend:
    """A horizontal colour-ramp legend under the chart, its title above the ramp and the ramp no wider than the
    chart, so a phone-width chart does not clip its ends."""
    return alt.Legend(
        orient="bottom",
        direction="horizontal",
        titleOrient="top",
        gradientLength=alt.ExprRef(expr="clamp(width - 40, 80, 240)"),
        **props,
    )


def pipeline(
    frame: pl.DataFrame,
    *,
    step: str = "step",
    order: Sequence[str] = (),
    title: str | None = None,
    height: int | None = None,
) -> Chart:
    """Workflow steps left to right (top to bottom), each bar split into its states, clickable.

    The states come from the ``state`` and ``count`` columns.
    """
    selection = alt.selection_point(name=PICK, fields=[step], on="click")
    states = [str(s) for s in frame["state"].unique(maintain_order=True).to_list()] if "state" in frame.columns else []
    base = alt.Chart(frame).encode(
        y=alt.Y(f"{step}:N", sort=list(order) or None, title=None, axis=alt.Axis(labelLimit=220)),
        x=alt.X("count:Q", stack=True, title="workflows", axis=count_axis()),
        tooltip=[alt.Tooltip(f"{step}:N"), alt.Tooltip("state:N"), alt.Tooltip("count:Q")],
    )
    bar = (
        base.mark_bar()
        .encode(
            color=alt.Color(
                "state:N",
                title=None,
                scale=alt.Scale(domain=states, range=list(PALETTE[: len(states)])),
                legend=alt.Legend(orient="bottom"),
            ),
            opacity=picked_opacity(selection),
        )
        .add_params(selection)
    )
    steps = frame[step].n_unique() if step in frame.columns else 1
    return _base(bar, height or 36 * steps + 110, title)


TILE_MIN_PX = 130  # narrowest tile that holds a wrapped agent name ("qms-compliance-" / "officer-1") at 11 px
TILE_ROW_PX = 58


def wrap_label(text: str, width: int = 18) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken after a hyphen, underscore, slash or space.

    Of the possible breaks the most balanced one is taken ("qms-code-" / "reviewer-1", not
    "qms-code-reviewer-" / "1"); a word longer than ``width`` is cut.
    """
    if len(text) <= width:
        return [text]
    cuts = [i + 1 for i, c in enumerate(text[:width]) if c in "-_/ "]
    cut = min(cuts, key=lambda i: max(i, len(text) - i)) if cuts else width
    return [text[:cut], *wrap_label(text[cut:], width)]


def _first_lines(lines: list[str], most: int) -> list[str]:
    """At most ``most`` lines, the last ending in "…" when some were left out (the tooltip has the whole name)."""
    return lines if len(lines) <= most else [*lines[: most - 1], lines[most - 1][:-1] + "…"]


def status_grid(
    frame: pl.DataFrame,
    *,
    name: str = "name",
    status: str = "status",
    detail: str = "detail",
    columns: int = 6,
    title: str | None = None,
    pick: bool = True,
    note: str | None = None,
) -> Chart:
    """Tiles in a grid, one per item, coloured by status with the (wrapped) name and the status written in the tile.

    At most ``columns`` tiles to a row, fewer when the chart is narrow (every tile at least
    :data:`TILE_MIN_PX` wide), so a phone shows two full-width names a row instead of six cut ones.
    ``note`` names a column written at the tile's foot instead of the bare status ("late · 4 min"),
    for tiles whose colour says the status and whose text should say how much.
    """
    per_row = f"max(1, min({columns}, floor(width / {TILE_MIN_PX})))"
    names = [str(v) for v in frame[name].to_list()] if name in frame.columns else []
    # a note is longer than a bare status, so the name gets two lines (wider ones: feed names have few break points)
    width, most = (24, 2) if note is not None else (18, 3)
    indexed = frame.with_row_index("i").with_columns(
        pl.Series("_lines", ["\n".join(_first_lines(wrap_label(v, width), most)) for v in names], dtype=pl.String)
    )
    statuses = [str(s) for s in frame[status].unique(maintain_order=True).to_list()] if status in frame.columns else []
    tooltip = [alt.Tooltip(f"{name}:N"), alt.Tooltip(f"{status}:N")] + (
        [alt.Tooltip(f"{detail}:N")] if detail in frame.columns else []
    )
    base = (
        alt.Chart(indexed)
        .transform_calculate(col=f"datum.i % {per_row}", row=f"floor(datum.i / {per_row})")
        .encode(x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None), tooltip=tooltip)
    )
    tile = base.mark_rect(cornerRadius=6, stroke="#80808040", strokeWidth=2).encode(
        color=alt.Color(f"{status}:N", title=None, scale=status_scale(statuses), legend=alt.Legend(orient="bottom"))
    )
    if pick:
        selection = alt.selection_point(name=PICK, fields=[name], on="click")
        tile = tile.add_params(selection).encode(opacity=picked_opacity(selection, other=0.5))
    fit = alt.ExprRef(
        expr=f"max(20, width / {per_row} - 8)"
    )  # a name too long even when wrapped ends in an ellipsis; the tooltip has it all
    # the name's lines run down from the tile's top edge, the status sits on its bottom edge: they cannot meet
    label = base.mark_text(
        fontSize=11, lineHeight=12, lineBreak="\n", baseline="top", dy=-TILE_ROW_PX // 2 + 7, color="black", limit=fit
    ).encode(text=alt.Text("_lines:N"))
    foot = note if note is not None and note in frame.columns else status
    state = base.mark_text(fontSize=10, baseline="bottom", dy=TILE_ROW_PX // 2 - 7, color="black", limit=fit).encode(
        text=alt.Text(f"{foot}:N")
    )
    chart = _layer(tile, label, state).properties(height=alt.Step(TILE_ROW_PX), width="container")
    return chart.properties(title=title) if title else chart


def timeline(
    frame: pl.DataFrame,
    *,
    lane: str = "kind",
    label: str = "label",
    severity: str = "severity",
    title: str | None = None,
    height: int | None = None,
) -> Chart:
    """Events over time, one lane per ``lane`` value, points coloured by ``severity``."""
    severities = (
        [str(s) for s in frame[severity].unique(maintain_order=True).to_list()] if severity in frame.columns else []
    )
    chart = (
        alt.Chart(frame)
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("ts:T", title=None),
            y=alt.Y(f"{lane}:N", title=None, axis=alt.Axis(labelLimit=200)),
            color=alt.Color(
                f"{severity}:N",
                title=None,
                scale=_color_scale(frame, severity) if severities else alt.Undefined,
                legend=alt.Legend(orient="bottom"),
            ),
            shape=alt.Shape(f"{severity}:N", legend=None),
            tooltip=[TS_TOOLTIP, alt.Tooltip(f"{lane}:N"), alt.Tooltip(f"{label}:N"), alt.Tooltip(f"{severity}:N")],
        )
    )
    lanes = frame[lane].n_unique() if lane in frame.columns else 1
    return _base(chart, height or 30 * lanes + 110, title)


def forecast_band(
    frame: pl.DataFrame,
    *,
    y_title: str = "",
    title: str | None = None,
    height: int | None = None,
    warning: float | None = None,
    critical: float | None = None,
) -> Chart:
    """Actuals as a line, the forecast as a dashed line inside its shaded interval (ts, value, lower, upper, kind)."""
    frame = finite_rows(frame, "value", "lower", "upper")
    actual = frame.filter(pl.col("kind") == "actual")
    predicted = frame.filter(pl.col("kind") == "forecast")
    layers = [
        alt.Chart(predicted)
        .mark_area(opacity=0.25, color=PALETTE[4])
        .encode(x="ts:T", y=alt.Y("lower:Q", title=y_title), y2="upper:Q", tooltip=[TS_TOOLTIP, "lower:Q", "upper:Q"]),
        alt.Chart(predicted)
        .mark_line(strokeDash=[5, 3], color=PALETTE[1])
        .encode(x="ts:T", y="value:Q", tooltip=[TS_TOOLTIP, "value:Q"]),
        alt.Chart(actual)
        .mark_line(color=PALETTE[0])
        .encode(x=alt.X("ts:T", title=None), y="value:Q", tooltip=[TS_TOOLTIP, "value:Q"]),
        *threshold_rules(warning, critical),
    ]
    return _base(_layer(*layers), height or 240, title)


def sparkline(frame: pl.DataFrame, *, y: str = "value", height: int = 48) -> Chart:
    """A small axis-less line for KPI cards."""
    return (
        alt.Chart(finite_rows(frame, y))
        .mark_area(line={"color": PALETTE[0]}, color=PALETTE[0], opacity=0.25)
        .encode(
            x=alt.X("ts:T", axis=None),
            y=alt.Y(f"{y}:Q", axis=None, scale=alt.Scale(zero=False)),
            tooltip=[TS_TOOLTIP, alt.Tooltip(f"{y}:Q", format=",.2f")],
        )
        .properties(height=height, width="container")
    )
