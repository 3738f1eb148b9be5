"""The widget registry: every tile and chart on a page is one widget kind rendered from a config.

A widget kind declares its config schema (a pydantic model: title, data source, range,
aggregation, warning/critical thresholds, display options) and a ``build`` function
that turns config + data into one of three plain outputs — :class:`KpiOut` (a number
with delta and sparkline), :class:`ChartOut` (an Altair chart) or :class:`TableOut`
(a DataFrame) — or :class:`EmptyOut` with the message saying what to send to fill it.
Building is pure and Streamlit-free; ``core.ui.chrome.widget`` draws the output.

The config schemas live in core.dashboards.kinds (validated without Streamlit when a
dashboard is saved or provisioned) and are re-exported here. Role pages pass data they
computed with core.kpis; user dashboards (core.dashboards) let :func:`resolve` fetch it
from ``source``: ``metric:<selector>`` (stored series), ``promql:<query>`` (evaluated
in process) or a name registered with :func:`register_source`, with the dashboard's
variables substituted safely. Adding a kind means one schema and one :func:`register`
call, never editing a switch. :class:`ProgressOut` and :class:`NoteOut` are the
progress bar's and the note's outputs.

Kinds: kpi, trend, gauge, progress, bar, table, heatmap, pipeline, queue, status_grid,
timeline, alert_list, topk, forecast, gantt, roadmap, delta, note.

Long on purpose: every kind's builder sits in one registry, so role pages and user dashboards
draw exactly the same kinds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
from sqlalchemy.engine import Engine

from core.dashboards import sources
from core.dashboards.kinds import (  # noqa: F401  (schemas live beside the dashboard model; re-exported for pages)
    CONFIGS,
    AlertListConfig,
    AnyWidget,
    BarConfig,
    DeltaConfig,
    ForecastConfig,
    GanttConfig,
    GaugeConfig,
    HeatmapConfig,
    KpiConfig,
    NoteConfig,
    PipelineConfig,
    ProgressConfig,
    QueueConfig,
    RangeKey,
    RoadmapConfig,
    StatusGridConfig,
    TableConfig,
    Thresholds,
    TimelineConfig,
    TopKConfig,
    TrendConfig,
    WidgetConfig,
    parse_widget,
)
from core.query import Agg
from core.query.timewindow import Window
from core.ui import charts, migration_charts, programme_charts, units


@dataclass(frozen=True)
class KpiValue:
    """Data for a KPI card: the value, the previous period's value, and an optional trend (ts, value)."""

    value: float | None
    previous: float | None = None
    trend: pl.DataFrame | None = None
    note: str = ""


@dataclass(frozen=True)
class KpiOut:
    """A rendered KPI: text, delta text, delta colour mode, level, sparkline."""

    label: str
    value: str
    delta: str | None
    delta_color: Literal["normal", "inverse", "off"]
    level: str | None
    help: str
    sparkline: list[float] | None = None  # the trend's values, oldest first (drawn inside the card)


@dataclass(frozen=True)
class ChartOut:
    """A rendered chart; ``pick`` is the selection field when it supports drill-down; ``rows`` is what its Data
    menu exports when the chart's own data is drawing geometry (a gauge's arcs) rather than the figures shown."""

    chart: charts.Chart
    pick: str | None = None
    rows: pl.DataFrame | None = None


@dataclass(frozen=True)
class TableOut:
    """A rendered table."""

    frame: pl.DataFrame


@dataclass(frozen=True)
class EmptyOut:
    """No data: the message says what to send to fill the widget."""

    message: str


@dataclass(frozen=True)
class ProgressOut:
    """A progress bar: the fraction filled (0–1), the text beside it and the thresholds' level."""

    label: str
    fraction: float
    text: str
    level: str | None
    help: str


@dataclass(frozen=True)
class NoteOut:
    """Markdown text written by the dashboard's author."""

    text: str


Output = KpiOut | ChartOut | TableOut | EmptyOut | ProgressOut | NoteOut


@dataclass(frozen=True)
class WidgetKind:
    """One registered kind: its name, what it shows, config model and builder."""

    kind: str
    label: str
    config: type[WidgetConfig]
    build: Callable[[Any, Any, pl.DataFrame | None], Output]


WIDGETS: dict[str, WidgetKind] = {}


def register(
    kind: str, label: str, config: type[WidgetConfig]
) -> Callable[[Callable[..., Output]], Callable[..., Output]]:
    """Decorator adding a builder ``build(config, data, deployments) -> Output`` for ``kind``."""

    def add(build: Callable[..., Output]) -> Callable[..., Output]:
        if kind in WIDGETS:
            raise ValueError(f"widget kind {kind!r} is registered twice")
        WIDGETS[kind] = WidgetKind(kind, label, config, build)
        return build

    return add


def parse(spec: dict[str, Any]) -> WidgetConfig:
    """A widget config from its JSON form (``{"kind": "trend", "title": ..., ...}``); ValueError names what is wrong."""
    return parse_widget(spec)


NO_DATA_NEEDED = ("kpi", "note")  # a KPI card says "—" itself; a note is its own content


def build(config: WidgetConfig, data: Any, *, deployments: pl.DataFrame | None = None) -> Output:
    """Render ``data`` as ``config`` says; empty data gives :class:`EmptyOut`."""
    if config.kind not in WIDGETS:
        raise ValueError(f"unknown widget kind {config.kind!r}; registered: {', '.join(WIDGETS)}")
    if config.kind not in NO_DATA_NEEDED and (data is None or (isinstance(data, pl.DataFrame) and data.is_empty())):
        return EmptyOut(config.empty)
    return WIDGETS[config.kind].build(config, data, deployments)


def format_delta(current: float | None, previous: float | None, unit: str = "") -> str | None:
    """'+1.2 pts' style change for percentages, '+12%' relative change otherwise; None without both."""
    if current is None or previous is None:
        return None
    if unit == "%":
        return f"{current - previous:+.1f} pts vs previous period"
    if previous == 0:
        return None
    return f"{(current - previous) / abs(previous) * 100:+.1f}% vs previous period"


@register("kpi", "KPI card with trend", KpiConfig)
def _kpi(config: KpiConfig, data: KpiValue | float | None, _deployments: pl.DataFrame | None) -> Output:
    kpi = data if isinstance(data, KpiValue) else KpiValue(None if data is None else float(data))
    text = (
        "—"
        if kpi.value is None
        else units.humanise(kpi.value, config.unit)  # "1.5 MiB/s", "2 min 5 s" (core.ui.units)
        if units.kind_of(config.unit)
        else config.format.format(kpi.value) + (config.unit if config.unit in ("%", "") else f" {config.unit}")
    )
    spark = None
    if kpi.trend is not None and len(kpi.trend) > 1 and "value" in kpi.trend.columns:
        spark = (
            # a NaN or infinity would break the card's JSON: such a point is left out, as charts.finite_rows does
            [
                float(v)
                for v in kpi.trend.sort("ts")["value"].fill_null(strategy="forward").drop_nulls().to_list()
                if math.isfinite(v)
            ]
            if "ts" in kpi.trend.columns
            else None
        )
    color: Literal["normal", "inverse", "off"] = {"up": "normal", "down": "inverse", "off": "off"}[config.delta_good]  # type: ignore[assignment]
    help_text = config.help if kpi.value is not None else f"{config.help}\n\n{config.empty}".strip()
    if kpi.note:
        help_text = f"{help_text}\n\n{kpi.note}".strip()
    return KpiOut(
        config.title,
        text,
        format_delta(kpi.value, kpi.previous, config.unit),
        color,
        config.thresholds.level(kpi.value),
        help_text,
        spark,
    )


@register("trend", "Trend line", TrendConfig)
def _trend(config: TrendConfig, data: pl.DataFrame, deployments: pl.DataFrame | None) -> Output:
    t = config.thresholds
    return ChartOut(
        charts.trend(
            data,
            y=config.y,
            color=config.color,
            y_title=config.y_title or config.unit,
            warning=t.warning,
            critical=t.critical,
            deployments=deployments if config.annotations else None,
            area=config.area,
            height=config.height,
            integer=config.integer,
            zero=config.zero,
            unit=config.unit,
        )
    )


@register("gauge", "Gauge", GaugeConfig)
def _gauge(
    config: GaugeConfig, data: float | tuple[float | None, str] | None, _deployments: pl.DataFrame | None
) -> Output:
    """``data`` is the value, or (value, text to write under it)."""
    t = config.thresholds
    value, label = data if isinstance(data, tuple) else (data, None)
    return ChartOut(
        charts.gauge(
            value,
            label=label,
            target=config.target,
            lo=config.lo,
            hi=config.hi,
            unit=config.unit,
            warning=t.warning,
            critical=t.critical,
            higher_is_worse=t.higher_is_worse,
            height=config.height,
        ),
        rows=pl.DataFrame(
            {"value": [value], "target": [config.target], "unit": [config.unit], "note": [label]},
            schema={"value": pl.Float64, "target": pl.Float64, "unit": pl.String, "note": pl.String},
        ),
    )


@register("bar", "Bar / comparison", BarConfig)
def _bar(config: BarConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    t = config.thresholds
    chart = charts.bars(
        data,
        category=config.category,
        value=config.value,
        color=config.color,
        value_title=config.unit,
        warning=t.warning,
        critical=t.critical,
        horizontal=config.horizontal,
        pick=config.pick,
        sort=config.sort,
        extra_tooltip=config.extra_tooltip,
        height=config.height,
        integer=config.integer,
        unit=config.unit,
    )
    return ChartOut(chart, config.category if config.pick else None)


@register("table", "Table", TableConfig)
def _table(config: TableConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    columns = [c for c in (config.columns or data.columns) if c in data.columns]
    return TableOut(data.select(columns).head(config.max_rows))


@register("heatmap", "Heatmap", HeatmapConfig)
def _heatmap(config: HeatmapConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    chart = charts.heatmap(
        data,
        x=config.x,
        y=config.y,
        value=config.value,
        value_title=config.unit,
        x_type=config.x_type,
        pick=config.pick,
        height=config.height,
    )
    return ChartOut(chart, config.y if config.pick else None)


@register("pipeline", "Workflow pipeline", PipelineConfig)
def _pipeline(config: PipelineConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    return ChartOut(charts.pipeline(data, order=config.order, height=config.height), "step")


@register("status_grid", "Status grid", StatusGridConfig)
def _status_grid(config: StatusGridConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    return ChartOut(
        charts.status_grid(data, columns=config.columns, note=config.note, pick=config.pick),
        "name" if config.pick else None,
    )


@register("timeline", "Timeline", TimelineConfig)
def _timeline(config: TimelineConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    return ChartOut(charts.timeline(data, lane=config.lane, height=config.height))


@register("alert_list", "Alert list", AlertListConfig)
def _alert_list(config: AlertListConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    if "severity" in data.columns:
        rank = {s: n for n, s in enumerate(config.severities)}
        data = data.filter(pl.col("severity").is_in(config.severities)).sort(
            pl.col("severity").replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
        )
    return TableOut(data) if not data.is_empty() else EmptyOut(config.empty)


@register("forecast", "Forecast band", ForecastConfig)
def _forecast(config: ForecastConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    t = config.thresholds
    return ChartOut(
        charts.forecast_band(
            data, y_title=config.y_title or config.unit, warning=t.warning, critical=t.critical, height=config.height
        )
    )


@register("gantt", "Schedule (planned vs actual)", GanttConfig)
def _gantt(config: GanttConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    chart = programme_charts.gantt(
        data,
        task=config.task,
        start=config.start,
        end=config.end,
        lane=config.lane,
        status=config.status,
        order=config.order,
        height=config.height,
        pick=config.pick,
    )
    return ChartOut(chart, config.task if config.pick else None)


@register("roadmap", "Programme roadmap", RoadmapConfig)
def _roadmap(config: RoadmapConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    return ChartOut(migration_charts.roadmap(data, order=config.order, height=config.height))


@register("delta", "Change per item (old vs new)", DeltaConfig)
def _delta(config: DeltaConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    chart = migration_charts.delta_bars(
        data,
        category=config.category,
        value=config.value,
        verdict=config.verdict,
        threshold=config.thresholds.warning,
        value_title=config.unit,
        extra_tooltip=config.extra_tooltip,
        height=config.height,
    )
    return ChartOut(chart)


def _latest(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """A series result reduced to each series' newest value (for "right now" widgets); other frames unchanged."""
    if "ts" not in frame.columns or name not in frame.columns:
        return frame
    return frame.sort("ts").group_by(name, maintain_order=True).last()


@register("progress", "Progress bar", ProgressConfig)
def _progress(config: ProgressConfig, data: KpiValue | float | None, _deployments: pl.DataFrame | None) -> Output:
    value = data.value if isinstance(data, KpiValue) else data
    if value is None:
        return EmptyOut(config.empty)
    share = float(value) / config.target
    unit = f" {config.unit}" if config.unit else ""
    text = f"{config.format.format(value)} of {config.format.format(config.target)}{unit}"
    return ProgressOut(
        config.title, min(max(share, 0.0), 1.0), f"{text} ({share:.0%})", config.thresholds.level(value), config.help
    )


@register("queue", "Queue monitor", QueueConfig)
def _queue(config: QueueConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    t = config.thresholds
    now = _latest(data, config.queue)
    if config.queue not in now.columns or config.depth not in now.columns:
        return EmptyOut(f"{config.empty} (expected columns {config.queue!r} and {config.depth!r})")
    chart = charts.bars(
        now.select(config.queue, config.depth),
        category=config.queue,
        value=config.depth,
        value_title=config.unit or "waiting",
        warning=t.warning,
        critical=t.critical,
        height=config.height,
        integer=True,
    )
    return ChartOut(chart)


@register("topk", "Top-k", TopKConfig)
def _topk(config: TopKConfig, data: pl.DataFrame, _deployments: pl.DataFrame | None) -> Output:
    if config.category not in data.columns or config.value not in data.columns:
        return EmptyOut(f"{config.empty} (expected columns {config.category!r} and {config.value!r})")
    per = data.group_by(config.category).agg(
        {
            "avg": pl.col(config.value).mean(),
            "min": pl.col(config.value).min(),
            "max": pl.col(config.value).max(),
            "sum": pl.col(config.value).sum(),
            "count": pl.col(config.value).count().cast(pl.Float64),
            "last": pl.col(config.value).last(),
        }[config.agg]
    )
    ranked = per.drop_nulls(config.value).sort(config.value, descending=not config.bottom).head(config.k)
    t = config.thresholds
    chart = charts.bars(
        ranked,
        category=config.category,
        value=config.value,
        value_title=config.unit,
        warning=t.warning,
        critical=t.critical,
        sort=ranked[config.category].cast(pl.String).to_list(),
        height=config.height,
    )
    return ChartOut(chart)


@register("note", "Text / Markdown note", NoteConfig)
def _note(config: NoteConfig, _data: Any, _deployments: pl.DataFrame | None) -> Output:
    return NoteOut(config.text) if config.text.strip() else EmptyOut(config.empty)


@dataclass(frozen=True)
class SourceContext:
    """What a data source gets: the store, the window, the page filters and the viewer."""

    engine: Engine
    window: Window
    filters: dict[str, str] = field(default_factory=dict)
    viewer: Any = None
    variables: Mapping[str, str] = field(default_factory=dict)  # a dashboard's $name values


SOURCES: dict[str, Callable[[SourceContext, WidgetConfig], Any]] = {}


def register_source(
    name: str,
) -> Callable[[Callable[[SourceContext, WidgetConfig], Any]], Callable[[SourceContext, WidgetConfig], Any]]:
    """Decorator naming a data source (``fn(ctx, config) -> data``) that saved dashboards may use."""

    def add(fn: Callable[[SourceContext, WidgetConfig], Any]) -> Callable[[SourceContext, WidgetConfig], Any]:
        SOURCES[name] = fn
        return fn

    return add


def resolve(config: WidgetConfig, ctx: SourceContext) -> Any:
    """The data for ``config.source`` as ``ctx.viewer`` may see it (core.dashboards.sources).

    ``metric:<selector>`` reads stored series, ``promql:<query>`` evaluates PromQL in process, both with
    ``ctx.variables`` substituted as escaped literals; any other name is a registered source.
    """
    if config.source.startswith(("metric:", "promql:")):
        start, end, step = ctx.window.start_ms, ctx.window.end_ms, ctx.window.step_ms()
        if config.source.startswith("metric:"):
            frame = sources.metric_frame(
                ctx.engine,
                config.source.removeprefix("metric:"),
                start,
                end,
                step,
                config.agg,
                ctx.viewer,
                ctx.variables,
            )
        else:
            query = config.source.removeprefix("promql:")
            frame = sources.promql_frame(ctx.engine, query, start, end, step, ctx.viewer, ctx.variables)
        return shaped(config, frame)
    if config.source in SOURCES:
        return SOURCES[config.source](ctx, config)
    if config.source:
        known = ", ".join(SOURCES) or "none"
        raise ValueError(
            f"unknown data source {config.source!r} for widget {config.title!r}; "
            f"use metric:<selector>, promql:<query> or one of {known}"
        )
    return None


def shaped(config: WidgetConfig, frame: pl.DataFrame) -> Any:
    """A series result frame as ``config``'s kind takes its data: one number for cards and gauges, else the frame."""
    if config.kind == "kpi":
        return KpiValue(_over(frame, config.agg), trend=frame.group_by("ts").agg(pl.col("value").mean()).sort("ts"))
    if config.kind in ("gauge", "progress"):
        return None if frame.is_empty() else float(frame.sort("ts")["value"][-1])
    return frame


def _over(frame: pl.DataFrame, agg: Agg) -> float | None:
    """One number from a result frame's values: the ``agg`` over every series and bucket."""
    if frame.is_empty():
        return None
    values = frame.sort("ts")["value"]
    value = {
        "avg": values.mean,
        "min": values.min,
        "max": values.max,
        "sum": values.sum,
        "count": values.count,
        "last": values.last,
    }[agg]()
    return None if value is None else float(value)  # type: ignore[arg-type]
