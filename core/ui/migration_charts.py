"""Chart builders of the Migration page: the programme roadmap and the old-vs-new change per operation.

Kept apart from core.ui.charts (whose palette and conventions they reuse) because only the
migration view draws them; the widget registry exposes them as the ``roadmap`` and ``delta``
kinds. Like every builder they take polars frames and return Altair charts, never Streamlit.

Status is never told by colour alone: the roadmap's row labels carry the status and progress, and
the change chart writes each verdict in its tooltip and legend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from core.ui.charts import PALETTE, Chart, finite_rows

# Okabe–Ito, as core.ui.charts.STATUS_COLORS: done green, running blue, late orange, blocked vermillion
ROADMAP_COLORS = {
    "completed": "#009E73",
    "in progress": PALETTE[0],
    "late": "#E69F00",
    "blocked": "#D55E00",
    "planned": "#A0A0A0",
}
VERDICT_COLORS = {
    "improved": "#009E73",
    "no significant change": "#A0A0A0",
    "slower": "#E69F00",
    "regression": "#D55E00",
    "too few samples": "#CCCCCC",
}
MILESTONE_COLOR = "#CC79A7"
LINK_COLOR = "#6B6B6B"  # dependency connectors: a neutral grey that reads on light and dark backgrounds
ROW_PX = 34
ROW_AXIS = alt.Axis(labelLimit=260)


def roadmap(frame: pl.DataFrame, *, order: Sequence[str] = (), height: int | None = None) -> Chart:
    """Phases as a Gantt: a dashed outline from planned start to planned end, a bar from the (forecast) start to
    the forecast end coloured by status, milestones as diamonds on their phase's row, a "today" rule, and an
    arrow from each prerequisite's end to its dependent's start (:func:`dependency_arrows`).

    ``frame`` is long, one row per mark: ``task``, ``kind`` (``planned``, ``forecast``, ``milestone`` or
    ``today`` or ``link``), ``start`` and ``end`` (Datetime; a milestone's and today's are equal), ``status`` and
    ``detail`` (tooltip text); a ``link`` row also has ``from_task``.
    """
    tasks = list(order) or [
        str(t) for t in frame.filter(pl.col("kind") != "today")["task"].unique(maintain_order=True).to_list()
    ]
    y = alt.Y("task:N", sort=tasks, title=None, axis=ROW_AXIS)
    x = alt.X("start:T", title=None, axis=alt.Axis(labelOverlap=True, labelFlush=True))
    tooltip = [
        alt.Tooltip("task:N", title="phase"),
        alt.Tooltip("status:N"),
        alt.Tooltip("start:T", format="%Y-%m-%d"),
        alt.Tooltip("end:T", format="%Y-%m-%d"),
        alt.Tooltip("detail:N", title=" "),
    ]
    statuses = [s for s in ROADMAP_COLORS if s in set(frame.filter(pl.col("kind") == "forecast")["status"].to_list())]
    planned = (
        alt.Chart(frame.filter(pl.col("kind") == "planned"))
        .mark_bar(fillOpacity=0, stroke="#888888", strokeDash=[4, 2], strokeWidth=1.5, cornerRadius=2)
        .encode(y=y, x=x, x2="end:T", tooltip=tooltip)
    )
    actual = (
        alt.Chart(frame.filter(pl.col("kind") == "forecast"))
        .mark_bar(cornerRadius=3, height=12)
        .encode(
            y=y,
            x=x,
            x2="end:T",
            color=alt.Color(
                "status:N",
                title=None,
                scale=alt.Scale(domain=statuses, range=[ROADMAP_COLORS[s] for s in statuses]),
                legend=alt.Legend(orient="bottom", columns=alt.ExprRef(expr="width < 520 ? 3 : 5")),
            ),
            tooltip=tooltip,
        )
    )
    marks = (
        alt.Chart(frame.filter(pl.col("kind") == "milestone"))
        .mark_point(shape="diamond", filled=True, size=140, color=MILESTONE_COLOR, stroke="#FFFFFF", strokeWidth=1)
        .encode(
            y=y,
            x="start:T",
            tooltip=[
                alt.Tooltip("detail:N", title="milestone"),
                alt.Tooltip("status:N"),
                alt.Tooltip("start:T", title="due", format="%Y-%m-%d"),
            ],
        )
    )
    today = frame.filter(pl.col("kind") == "today")
    rule = (
        alt.Chart(today)
        .mark_rule(color="#D55E00", strokeWidth=2)
        .encode(x="start:T", tooltip=[alt.Tooltip("start:T", title="today", format="%Y-%m-%d %H:%M")])
    )
    label = (
        alt.Chart(today)
        .mark_text(text="today", align="left", baseline="top", dx=4, dy=2, color="#D55E00", fontWeight="bold")
        .encode(x="start:T", y=alt.value(0))
    )
    layers: list[Any] = [planned, *dependency_arrows(frame.filter(pl.col("kind") == "link"), tasks), actual]
    layers += [marks, rule, label]
    chart = alt.LayerChart(layer=layers).properties(
        height=height or ROW_PX * max(len(tasks), 1) + 70, width="container"
    )
    return chart  # type: ignore[no-any-return]


def dependency_arrows(links: pl.DataFrame, tasks: Sequence[str]) -> list[alt.Chart]:
    """Finish-to-start connectors: from the prerequisite's end along its row, then across to the dependent's row at
    its start, with an arrowhead on the dependent bar's edge. Grey when the order holds; vermillion and dashed
    when the dependent started before its prerequisite ended (``status`` ``overlap``).

    ``links`` has ``task`` (the dependent), ``from_task`` (the prerequisite), ``start`` (the prerequisite's end),
    ``end`` (the dependent's start), ``status`` and ``detail``; drawn under the bars, so a line meets a bar at
    its edge. Colours are fixed per mark (no colour scale), so the bars' status legend stays theirs alone.
    """
    if links.is_empty() or "from_task" not in links.columns:
        return []
    row = {t: n for n, t in enumerate(tasks)}
    links = links.filter(pl.col("task").is_in(list(row)) & pl.col("from_task").is_in(list(row))).with_row_index("link")
    if links.is_empty():
        return []
    corners = [(0, "start", "from_task"), (1, "end", "from_task"), (2, "end", "task")]
    points = pl.concat(
        [
            links.select(
                "link", pl.lit(n).alias("n"), pl.col(x).alias("at"), pl.col(r).alias("task"), "status", "detail"
            )
            for n, x, r in corners
        ]
    )
    place = {"down": pl.col("task").replace_strict(row, return_dtype=pl.Int64) > pl.col("from_task").replace_strict(
        row, return_dtype=pl.Int64
    )}  # fmt: skip
    heads = links.with_columns(place["down"].alias("down"))
    y = alt.Y("task:N", sort=list(tasks), title=None, axis=ROW_AXIS)  # the bars' field and order: one shared axis
    tooltip = [alt.Tooltip("detail:N", title="dependency")]
    layers: list[alt.Chart] = []
    for status, color, dash in (("ok", LINK_COLOR, [1, 0]), ("overlap", "#D55E00", [4, 3])):
        mine = points.filter(pl.col("status") == status)
        if mine.is_empty():
            continue
        layers.append(
            alt.Chart(mine)
            .mark_line(strokeWidth=1.5, color=color, strokeDash=dash)
            .encode(x=alt.X("at:T"), y=y, detail="link:N", order="n:Q", tooltip=tooltip)
        )
        for going_down, shape, offset in ((True, "triangle-down", -9), (False, "triangle-up", 9)):
            tips = heads.filter((pl.col("status") == status) & (pl.col("down") == going_down))
            if tips.height:
                layers.append(
                    alt.Chart(tips)
                    .mark_point(shape=shape, filled=True, size=45, opacity=1, color=color, yOffset=offset)
                    .encode(x=alt.X("end:T"), y=y, tooltip=tooltip)
                )
    return layers


def delta_bars(
    frame: pl.DataFrame,
    *,
    category: str = "operation",
    value: str = "delta_pct",
    verdict: str = "verdict",
    threshold: float | None = 10.0,
    value_title: str = "",
    extra_tooltip: Sequence[str] = (),
    height: int | None = None,
) -> Chart:
    """One diverging bar per ``category``: left of zero the new system is faster, right slower, coloured by
    ``verdict``, with a dashed rule at ``threshold`` (the regression line)."""
    frame = finite_rows(frame, value)
    verdicts = [v for v in VERDICT_COLORS if v in set(frame[verdict].to_list())] if verdict in frame.columns else []
    tooltip = [
        alt.Tooltip(f"{category}:N"),
        alt.Tooltip(f"{value}:Q", title=value_title or value, format="+.1f"),
        alt.Tooltip(f"{verdict}:N"),
        *[alt.Tooltip(c) for c in extra_tooltip],
    ]
    values = [v for v in frame[value].to_list() if v is not None] if value in frame.columns else []
    # the axis always reaches past the threshold, so its rule and label show even when every change is small
    reach = [*values, 0.0, *([threshold * 1.5, -threshold * 0.5] if threshold is not None else [])]
    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2)
        .encode(
            y=alt.Y(f"{category}:N", title=None, sort="-x", axis=alt.Axis(labelLimit=220)),
            x=alt.X(f"{value}:Q", title=value_title, scale=alt.Scale(domain=[min(reach), max(reach)], nice=True)),
            color=alt.Color(
                f"{verdict}:N",
                title=None,
                scale=alt.Scale(domain=verdicts, range=[VERDICT_COLORS[v] for v in verdicts]),
                legend=alt.Legend(orient="bottom", columns=alt.ExprRef(expr="width < 520 ? 2 : 4")),
            ),
            tooltip=tooltip,
        )
    )
    zero = alt.Chart(pl.DataFrame({"x": [0.0]})).mark_rule(color="#888888").encode(x="x:Q")
    layers: list[Any] = [bars, zero]
    if threshold is not None:
        line = pl.DataFrame({"x": [threshold], "label": [f"+{threshold:g} % regression"]})
        layers += [
            alt.Chart(line).mark_rule(color="#D55E00", strokeDash=[5, 3]).encode(x="x:Q"),
            alt.Chart(line)
            .mark_text(align="right", baseline="top", dx=-4, dy=2, color="#D55E00")
            .encode(x="x:Q", y=alt.value(0), text="label:N"),
        ]
    rows = frame[category].n_unique() if category in frame.columns else 1
    return alt.LayerChart(layer=layers).properties(height=height or 34 * rows + 90, width="container")  # type: ignore[no-any-return]
