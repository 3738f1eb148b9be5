"""Widget kinds' config schemas: what a widget of each kind may be told, validated by pydantic.

Every kind in the widget registry (core.ui.widgets, which draws them) declares its config
here, so a saved or provisioned dashboard is validated without Streamlit or charts:
:func:`parse_widget` turns ``{"kind": "trend", "title": ..., ...}`` into the kind's model
and a wrong field raises a ``ValidationError`` whose location names it. A kind's
``title``/``source``/``thresholds``/display options are the widget configuration schema
of a dashboard definition (docs/dashboards.md).

Long on purpose: one model per kind, side by side, so the list of kinds is read in one place.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from core.query import Agg

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
        default="",
        description=(
            "'metric:<selector>', 'promql:<query>' or a registered source name; empty when the page passes data. "
            "Dashboard variables ($host) may appear in selectors and queries."
        ),
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


class ProgressConfig(WidgetConfig):
    """Progress towards a target: a bar filled to value / target (e.g. tests passed of planned)."""

    kind: Literal["progress"] = "progress"
    target: float = Field(default=100.0, gt=0, description="The value that fills the bar.")
    format: str = Field(default="{:,.0f}", description="Python format for the value and the target.")


class QueueConfig(WidgetConfig):
    """Queue depths right now, one bar per queue coloured by the thresholds (columns queue, depth)."""

    kind: Literal["queue"] = "queue"
    queue: str = Field(default="series", description="Column naming each queue.")
    depth: str = Field(default="value", description="Column with the number waiting.")


class TopKConfig(WidgetConfig):
    """The k largest (or smallest) items by value over the range, as bars."""

    kind: Literal["topk"] = "topk"
    k: int = Field(default=10, ge=1, le=100, description="How many items to show.")
    category: str = Field(default="series", description="Column naming each item.")
    value: str = Field(default="value", description="Column with the values to rank.")
    bottom: bool = Field(default=False, description="Show the smallest instead of the largest.")


class NoteConfig(WidgetConfig):
    """A text note in Markdown (a heading, a runbook link, what the dashboard is for); needs no data."""

    kind: Literal["note"] = "note"
    text: str = Field(default="", max_length=20_000, description="Markdown shown in the widget.")


AnyWidget = Annotated[
    KpiConfig
    | TrendConfig
    | GaugeConfig
    | ProgressConfig
    | BarConfig
    | TableConfig
    | HeatmapConfig
    | PipelineConfig
    | QueueConfig
    | StatusGridConfig
    | TimelineConfig
    | AlertListConfig
    | TopKConfig
    | ForecastConfig
    | GanttConfig
    | RoadmapConfig
    | DeltaConfig
    | NoteConfig,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyWidget)

CONFIGS: dict[str, type[WidgetConfig]] = {
    str(model.model_fields["kind"].default): model
    for model in (
        KpiConfig,
        TrendConfig,
        GaugeConfig,
        ProgressConfig,
        BarConfig,
        TableConfig,
        HeatmapConfig,
        PipelineConfig,
        QueueConfig,
        StatusGridConfig,
        TimelineConfig,
        AlertListConfig,
        TopKConfig,
        ForecastConfig,
        GanttConfig,
        RoadmapConfig,
        DeltaConfig,
        NoteConfig,
    )
}


def parse_widget(spec: dict[str, Any]) -> WidgetConfig:
    """A widget config from its JSON form; raises pydantic's ValidationError naming the bad field."""
    config: WidgetConfig = _ADAPTER.validate_python(spec)
    return config
