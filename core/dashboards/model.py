"""A dashboard definition: title, time range, variables and widgets on a 12-column grid.

This is the JSON a user saves, exports, imports and provisions from a folder
(docs/dashboards.md). Every widget's ``config`` is validated against its kind's schema
(core.dashboards.kinds), grid positions must fit in 12 columns, widget ids and variable
names are unique, and a widget may only use variables the dashboard defines. Anything
wrong raises :class:`DashboardError`, whose problems name the field path
(``widgets[1].config.thresholds.warning``) and say what is wrong.

``schema_version`` says which layout of the JSON a document uses; :func:`upgrade` lifts
older documents to :data:`SCHEMA_VERSION` before validation, so an exported file keeps
importing after the format changes.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.dashboards.kinds import CONFIGS, AnyWidget, RangeKey, WidgetConfig
from core.dashboards.variables import VARIABLE_NAME, references, substitute
from core.query import promql
from core.query.selectors import LABEL_RE, NAME_RE, parse_selector

SCHEMA_VERSION: Literal[2] = 2
COLUMNS = 12
_KINDS = frozenset(CONFIGS)
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class DashboardError(ValueError):
    """A dashboard document is invalid; ``problems`` holds (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {message}" if path else message for path, message in problems))


class Grid(BaseModel):
    """Where a widget sits: column ``x`` (0–11) and row ``y``, ``w`` columns wide and ``h`` rows tall."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    x: int = Field(default=0, ge=0, lt=COLUMNS, description="First column, 0–11.")
    y: int = Field(default=0, ge=0, le=1000, description="Row; widgets in the same row sit side by side.")
    w: int = Field(default=6, ge=1, le=COLUMNS, description="Width in columns, 1–12.")
    h: int = Field(default=4, ge=1, le=24, description="Height in grid rows of 80 px.")

    @model_validator(mode="after")
    def _fits(self) -> Grid:
        if self.x + self.w > COLUMNS:
            raise ValueError(f"x + w = {self.x + self.w} does not fit in {COLUMNS} columns")
        return self


class Variable(BaseModel):
    """``$name``: one value picked from the values ``label`` takes on the metric ``metric``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(description="Used as $name in selectors and queries.")
    label: str = Field(description="The label whose values are offered (host, queue, ...).")
    metric: str = Field(description="The metric whose series' label values are offered.")
    default: str | None = Field(default=None, description="Picked when the viewer has not chosen; None: the first.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not VARIABLE_NAME.match(value):
            raise ValueError("a variable name is letters, digits and '_' and does not start with a digit")
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if not LABEL_RE.fullmatch(value):
            raise ValueError("a label name is letters, digits and '_' and does not start with a digit")
        return value

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not NAME_RE.fullmatch(value):
            raise ValueError("a metric name is letters, digits, '_' and ':' and does not start with a digit")
        return value


class TimeRange(BaseModel):
    """The dashboard's default time range and refresh; the viewer may change both while looking."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    range: RangeKey = Field(default="24h", description="Default time range.")
    refresh_s: int | None = Field(default=None, ge=5, le=3600, description="Refresh every N seconds; None: manual.")


class Panel(BaseModel):
    """One widget on the dashboard: its config (validated by kind) and its grid place."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    config: AnyWidget
    grid: Grid = Field(default_factory=Grid)

    @property
    def widget(self) -> WidgetConfig:
        """The widget config (typed as the base class for callers that need only the common fields)."""
        config: WidgetConfig = self.config
        return config


class Dashboard(BaseModel):
    """A whole dashboard document (the JSON of export, import and provisioning)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: Literal[2] = SCHEMA_VERSION
    slug: str = Field(description="URL name: lower-case letters, digits, '-' and '_'.")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    time: TimeRange = Field(default_factory=TimeRange)
    variables: list[Variable] = Field(default_factory=list, max_length=20)
    widgets: list[Panel] = Field(default_factory=list, max_length=100)

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError("use 1-64 lower-case letters, digits, '-' or '_' (starting with a letter or digit)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Dashboard:
        problems: list[tuple[str, str]] = []
        names = [v.name for v in self.variables]
        for index, name in enumerate(names):
            if name in names[:index]:
                problems.append((f"variables[{index}].name", f"${name} is defined twice"))
        ids = [panel.widget.key for panel in self.widgets]
        for index, panel in enumerate(self.widgets):
            if not panel.widget.title.strip() and panel.widget.kind != "note":
                problems.append((f"widgets[{index}].config.title", "give the widget a title"))
            if panel.widget.key in ids[:index]:
                problems.append((f"widgets[{index}].config.id", f"widget id {panel.widget.key!r} is used twice"))
            missing = [name for name in references(panel.widget.source) if name not in names]
            for name in missing:
                problems.append((f"widgets[{index}].config.source", f"${name} is not a variable of this dashboard"))
            if not missing and (wrong := source_problem(panel.widget.source, names)):
                problems.append((f"widgets[{index}].config.source", wrong))
        if problems:
            raise DashboardError(problems)
        return self


def source_problem(source: str, variables: list[str]) -> str | None:
    """Why a ``metric:`` selector or ``promql:`` query cannot be parsed (variables stand in as a plain value)."""
    stand_in = dict.fromkeys(variables, "value")
    try:
        if source.startswith("metric:"):
            parse_selector(substitute(source.removeprefix("metric:"), stand_in))
        elif source.startswith("promql:"):
            promql.parse(substitute(source.removeprefix("promql:"), stand_in))
    except ValueError as error:
        return str(error)
    return None


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's error location as a path: ``widgets[1].config.thresholds.warning`` (no union tag)."""
    parts: list[str] = []
    previous: int | str | None = None
    for item in loc:
        if previous == "config" and isinstance(item, str) and item in _KINDS:
            previous = item
            continue  # the discriminated union's tag: the kind, already said by config.kind
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + item)
        previous = item
    return "".join(parts)


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in error.errors():
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, DashboardError):
            out.extend(cause.problems)
            continue
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "union_tag_invalid":
            message = f"unknown widget kind; use one of {', '.join(sorted(_KINDS))}"
            out.append((field_path(tuple(item["loc"])) + ".kind", message))
            continue
        if item["type"] == "union_tag_not_found":
            out.append((field_path(tuple(item["loc"])) + ".kind", "missing: say which widget kind this is"))
            continue
        out.append((field_path(tuple(item["loc"])), message))
    return out


def upgrade(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` lifted to :data:`SCHEMA_VERSION` (a copy); a version from the future is refused.

    Version 1 (the first export format) kept each widget flat — the kind's config keys with
    ``x``/``y``/``w``/``h`` among them — and the time range as a top-level ``range``.
    """
    version = document.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        raise DashboardError([("schema_version", f"must be a whole number, not {version!r}")])
    if version > SCHEMA_VERSION:
        raise DashboardError(
            [("schema_version", f"{version} is newer than this Pulseboard understands ({SCHEMA_VERSION})")]
        )
    out = dict(document)
    if version < 2:
        widgets = []
        for item in out.get("widgets", []):
            if isinstance(item, dict):
                config = {k: v for k, v in item.items() if k not in ("x", "y", "w", "h")}
                widgets.append({"config": config, "grid": {k: item[k] for k in ("x", "y", "w", "h") if k in item}})
            else:
                widgets.append(item)
        out["widgets"] = widgets
        if "range" in out:
            out["time"] = {"range": out.pop("range")}
        out["schema_version"] = 2
    return out


def validate(document: Any) -> Dashboard:
    """A :class:`Dashboard` from its JSON form (any supported schema_version); raises DashboardError."""
    if not isinstance(document, dict):
        raise DashboardError([("", "a dashboard is a JSON object")])
    try:
        return Dashboard.model_validate(upgrade(document))
    except ValidationError as error:
        raise DashboardError(_problems(error)) from None


def export(dashboard: Dashboard) -> str:
    """The dashboard as JSON text (stable key order, defaults included), for download and files."""
    return json.dumps(dashboard.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load(text: str) -> Dashboard:
    """A dashboard from JSON text (an export, an upload, a provisioned file); raises DashboardError."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise DashboardError([("", f"not JSON: {error.msg} at line {error.lineno}, column {error.colno}")]) from None
    return validate(document)
