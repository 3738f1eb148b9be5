"""Chart builders for long-running programmes: the planned-vs-actual Gantt of a session's phases.

Kept apart from core.ui.charts (the shared palette and conventions live there and are reused
here) because only programme views draw a schedule; the widget registry exposes it as the
``gantt`` kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import polars as pl

from core.ui.charts import PALETTE, PICK, Chart, picked_opacity

GANTT_COLORS = {"planned": "#A0A0A0", "done": PALETTE[0], "running": PALETTE[1]}  # grey reads on light and dark
GANTT_ROW_PX = 50  # one task: its planned bar above its actual bar (the height holds the axis and legend too)


def gantt(
    frame: pl.DataFrame,
    *,
    task: str = "task",
    start: str = "start",
    end: str = "end",
    lane: str = "kind",
    status: str = "status",
    order: Sequence[str] = (),
    title: str | None = None,
    height: int | None = None,
    pick: bool = False,
) -> Chart:
    """One row per task with a thin planned bar over its actual bar, coloured by status (planned / done / running).

    ``frame`` is long: a row per (task, lane) with ``start`` and ``end`` (Datetime); ``status`` is
    taken as ``planned`` on the planned lane. Tasks run top to bottom in ``order`` (default: as they
    first appear). With ``pick`` a click selects the task (drill-down).
    """
    tasks = list(order) or [str(t) for t in frame[task].unique(maintain_order=True).to_list()]
    shown = frame.with_columns(
        pl.when(pl.col(lane) == "planned").then(pl.lit("planned")).otherwise(pl.col(status)).alias("_bar")
    )
    bars = [b for b in GANTT_COLORS if b in set(shown["_bar"].to_list())]
    tooltip = [
        alt.Tooltip(f"{task}:N", title="phase"),
        alt.Tooltip(f"{lane}:N"),
        alt.Tooltip(f"{start}:T", format="%Y-%m-%d %H:%M"),
        alt.Tooltip(f"{end}:T", format="%Y-%m-%d %H:%M"),
    ] + ([alt.Tooltip("hours:Q", format=",.1f")] if "hours" in frame.columns else [])
    encoding: dict[str, Any] = {
        "y": alt.Y(f"{task}:N", sort=tasks, title=None, axis=alt.Axis(labelLimit=200)),
        "yOffset": alt.YOffset(f"{lane}:N", sort=["planned", "actual"]),
        "x": alt.X(f"{start}:T", title=None),
        "x2": f"{end}:T",
        "color": alt.Color(
            "_bar:N",
            title=None,
            scale=alt.Scale(domain=bars, range=[GANTT_COLORS[b] for b in bars]),
            legend=alt.Legend(orient="bottom"),
        ),
        "tooltip": tooltip,
    }
    chart = alt.Chart(shown).mark_bar(cornerRadius=3).encode(**encoding)
    if pick:
        selection = alt.selection_point(name=PICK, fields=[task], on="click")
        chart = chart.add_params(selection).encode(opacity=picked_opacity(selection, other=0.5))
    props: dict[str, Any] = {"height": height or GANTT_ROW_PX * max(len(tasks), 1) + 90, "width": "container"}
    if title:
        props["title"] = title
    return chart.properties(**props)  # type: ignore[no-any-return]
