"""The widget registry: every tile and chart on a page is one widget kind rendered from a config.

A widget kind declares its config schema (a pydantic model: title, data source, range,
aggregation, warning/critical thresholds, display options) and a ``build`` function
that turns config + data into one of three plain outputs — :class:`KpiOut` (a number
with delta and sparkline), :class:`ChartOut` (an Altair chart) or :class:`TableOut`
(a DataFrame) — or :class:`EmptyOut` with the message saying what to send to fill it.
Building is pure and Streamlit-free; ``core.ui.chrome.widget`` draws the output.

Role pages pass data they computed with core.kpis; user-built dashboards (saved as
JSON, see :func:`parse`) let :func:`resolve` fetch it from ``source``: either
``metric:<selector>`` (any stored series, through core.query) or a name registered
with :func:`register_source`. Adding a kind means one :func:`register` call, never
editing a switch.

Kinds: kpi, trend, gauge, bar, table, heatmap, pipeline, status_grid, timeline,
alert_list, forecast, gantt, roadmap, delta.

Long on purpose: each widget kind's config schema and builder sit side by side in one registry,
so role pages and user dashboards draw exactly the same kinds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy.engine import Engine

from core.query import Agg, series
from core.query.timewindow import Window
from core.ui import charts, migration_charts, programme_charts

RangeKey = Literal["1h", "6h", "24h", "7d", "30d", "90d"]


class Thresholds(BaseModel):
    """Warning and critical levels; ``higher_is_worse`` says which side is bad."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    warning: float | None = Field(default=None, description="Level at which the value turns to warning.")
    critical: float | None = Field(default=None, description="Level at which the value turns to critical.")
    higher_is_worse: bool = Field(
        default=True, description="True for depths and latencies; False for rates like availability."
    )

    def level(self, value: float | None) -> Literal["ok", "warning", "critical"] | None:
        """The state of ``value``: ok, warning or critical (None for no value)."""
        if value is None:
            return None

        def past(limit: float | None) -> bool:
            return limit is not None and (value >= limit if self.higher_is_worse else value < limit)

        return "critical" if past(self.critical) else "warning" if past(self.warning) else "ok"


class WidgetConfig(BaseModel):
    """What every widget kind has; each kind adds its display options."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str
    title: str = Field(description="Shown above the widget.")
    id: str | None = Field(
        default=None, description="Stable key (Streamlit widget key, saved layouts); defaults to the title."
    )
    source: str = Field(
        default="", description="'metric:<selector>' or a registered source name; empty when the page passes data."
    )
    range: RangeKey | None = Field(default=None, description="Own time range; None follows the page's range picker.")
    agg: Agg = Field(default="avg", description="Aggregation within each bucket for metric sources.")
    thresholds: Thresholds = Field(default_factory=Thresholds)
    unit: str = Field(default="", description="Unit written after values.")
    help: str = Field(default="", description="Tooltip text: how the value is computed.")
    empty: str = Field(
        default="No data in this range.", description="Empty-state text: what to send to fill this widget."
    )
    height: int | None = Field(
        default=None, ge=60, le=2000, description="Chart height in pixels; None picks one from the data."
    )
    sensitive: bool = Field(default=False, description="Holds cost data: hidden from roles that may not see costs.")

    @property
    def key(self) -> str:
        """A stable identifier for this widget on its page."""
        return self.id or self.title.lower().replace(" ", "-")


class KpiConfig(WidgetConfig):
    """A number with its change against the previous period and an optional sparkline."""

    kind: Literal["kpi"] = "kpi"
    format: str = Field(default="{:,.1f}", description="Python format for the value.")
    delta_good: Literal["up", "down", "off"] = Field(
        default="up", description="Which direction of change is good (colours the delta)."
    )


class TrendConfig(WidgetConfig):
    """Values over time, one line per series, with threshold rules and deployment annotations."""

    kind: Literal["trend"] = "trend"
    color: str | None = Field(default="series", description="Column that splits lines.")
    y: str = Field(default="value", description="Value column.")
    y_title: str = ""
    area: bool = Field(default=False, description="Stacked areas instead of lines.")
    integer: bool = Field(default=False, description="The values are counts: whole-number axis ticks.")
    annotations: bool = Field(default=True, description="Mark deployments on the time axis.")
    zero: bool = Field(default=True, description="Start the value axis at 0; False fits it to the data.")


class GaugeConfig(WidgetConfig):
    """One value on a half-circle scale with a target tick."""

    kind: Literal["gauge"] = "gauge"
    target: float | None = None
    lo: float = 0.0
    hi: float = 100.0


class BarConfig(WidgetConfig):
    """One bar per category (clickable for drill-down), threshold rules on the value axis."""

    kind: Literal["bar"] = "bar"
    category: str = "category"
    value: str = "value"
    color: str | None = None
    horizontal: bool = True
    pick: bool = Field(default=False, description="Clicking a bar selects its category (drill-down).")
    sort: list[str] | None = None
    extra_tooltip: list[str] = Field(default_factory=list)
    integer: bool = Field(default=False, description="The values are counts: whole-number axis ticks.")


class TableConfig(WidgetConfig):
    """Rows as a sortable table."""

    kind: Literal["table"] = "table"
    columns: list[str] | None = Field(default=None, description="Columns to show, in order; None shows all.")
    max_rows: int = Field(default=200, ge=1, le=100_000)
    progress: list[str] = Field(default_factory=list, description="Columns (0–100) drawn as progress bars.")
    trend: list[str] = Field(default_factory=list, description="Columns of number lists drawn as sparklines.")


class HeatmapConfig(WidgetConfig):
    """A grid coloured by value (e.g. agent × hour load)."""

    kind: Literal["heatmap"] = "heatmap"
    x: str = "ts"
    y: str = "series"
    value: str = "value"
    x_type: Literal["T", "O", "N", "Q"] = "T"
    pick: bool = False


class PipelineConfig(WidgetConfig):
    """Workflow steps with the count in each state (columns step, state, count), clickable."""

    kind: Literal["pipeline"] = "pipeline"
    order: list[str] = Field(default_factory=list, description="Step order top to bottom.")


class StatusGridConfig(WidgetConfig):
    """One tile per item coloured by status (columns name, status, detail), clickable."""

    kind: Literal["status_grid"] = "status_grid"
    columns: int = Field(default=6, ge=1, le=24)
    note: str | None = Field(
        default=None, description="Column written at each tile's foot instead of the status (e.g. the lag)."
    )
    pick: bool = Field(default=True, description="Clicking a tile selects it (drill-down).")


class TimelineConfig(WidgetConfig):
    """Events over time in lanes (columns ts, kind, label, severity)."""

    kind: Literal["timeline"] = "timeline"
    lane: str = "kind"


class AlertListConfig(WidgetConfig):
    """Alerts as a list, most severe first (columns severity, title, since, state...)."""

    kind: Literal["alert_list"] = "alert_list"
    severities: list[str] = Field(default_factory=lambda: ["critical", "high", "warning", "info"])


class ForecastConfig(WidgetConfig):
    """Actuals and forecast with its interval (columns ts, value, lower, upper, kind)."""

    kind: Literal["forecast"] = "forecast"
    y_title: str = ""


class GanttConfig(WidgetConfig):
    """Planned against actual bars per task (long frame: task, kind planned/actual, start, end, status)."""

    kind: Literal["gantt"] = "gantt"
    task: str = Field(default="task", description="Column naming each row (a phase).")
    start: str = Field(default="start", description="Column with each bar's start time.")
    end: str = Field(default="end", description="Column with each bar's end time.")
    lane: str = Field(default="kind", description="Column telling the planned bar from the actual one.")
    status: str = Field(default="status", description="Column colouring the actual bar (done / running).")
    order: list[str] = Field(default_factory=list, description="Task order top to bottom; empty: as they come.")
    pick: bool = Field(default=False, description="Clicking a task selects it (drill-down).")


class RoadmapConfig(WidgetConfig):
    """A programme's phases: planned outlines, forecast bars by status, milestones, today (core.ui.migration_charts)."""

    kind: Literal["roadmap"] = "roadmap"
    order: list[str] = Field(default_factory=list, description="Phase order top to bottom; empty: as they come.")


class DeltaConfig(WidgetConfig):
    """Change per item as diverging bars coloured by verdict, with a threshold rule (old vs new performance)."""

    kind: Literal["delta"] = "delta"
    category: str = "operation"
    value: str = "delta_pct"
    verdict: str = "verdict"
    extra_tooltip: list[str] = Field(default_factory=list)


AnyWidget = Annotated[
    KpiConfig
    | TrendConfig
    | GaugeConfig
    | BarConfig
    | TableConfig
    | HeatmapConfig
    | PipelineConfig
    | StatusGridConfig
    | TimelineConfig
    | AlertListConfig
    | ForecastConfig
    | GanttConfig
    | RoadmapConfig
    | DeltaConfig,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyWidget)


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
    """A rendered chart; ``pick`` is the selection field when it supports drill-down."""

    chart: charts.Chart
    pick: str | None = None


@dataclass(frozen=True)
class TableOut:
    """A rendered table."""

    frame: pl.DataFrame


@dataclass(frozen=True)
class EmptyOut:
    """No data: the message says what to send to fill the widget."""

    message: str


Output = KpiOut | ChartOut | TableOut | EmptyOut


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
    config: WidgetConfig = _ADAPTER.validate_python(spec)
    return config


def build(config: WidgetConfig, data: Any, *, deployments: pl.DataFrame | None = None) -> Output:
    """Render ``data`` as ``config`` says; empty data gives :class:`EmptyOut`."""
    if config.kind not in WIDGETS:
        raise ValueError(f"unknown widget kind {config.kind!r}; registered: {', '.join(WIDGETS)}")
    if config.kind != "kpi" and (data is None or (isinstance(data, pl.DataFrame) and data.is_empty())):
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
        )
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


@dataclass(frozen=True)
class SourceContext:
    """What a data source gets: the store, the window, the page filters and the viewer."""

    engine: Engine
    window: Window
    filters: dict[str, str] = field(default_factory=dict)
    viewer: Any = None


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
    """The data for ``config.source``: a metric selector through core.query, or a registered source."""
    if config.source.startswith("metric:"):
        frame = series(
            ctx.engine,
            config.source.removeprefix("metric:"),
            ctx.window.start_ms,
            ctx.window.end_ms,
            step_ms=ctx.window.step_ms(),
            agg=config.agg,
        )
        if config.kind == "kpi":
            return KpiValue(_over(frame, config.agg), trend=frame.group_by("ts").agg(pl.col("value").mean()).sort("ts"))
        if config.kind == "gauge":
            return None if frame.is_empty() else float(frame.sort("ts")["value"][-1])
        return frame
    if config.source in SOURCES:
        return SOURCES[config.source](ctx, config)
    if config.source:
        known = ", ".join(SOURCES) or "none"
        raise ValueError(
            f"unknown data source {config.source!r} for widget {config.title!r}; "
            f"use metric:<selector> or one of {known}"
        )
    return None


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
