"""Alert rules: the validated model, summary templates, and YAML import/export.

A rule says *what* to watch (a selector over series or events, aggregated over a
window), *when* it is a problem (operator and threshold, an anomaly detector, or a
forecast crossing), *how long* it must hold (``for``), and *what to tell people*
(severity, labels, summary template, runbook, channels). The same model validates
the rule editor, YAML import and the stored rows, so a bad rule is refused with the
same reason everywhere (docs/alerting.md lists every field).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from core.alerts.kinds import kind
from core.analytics.anomaly import parse_sensitivity
from core.query.selectors import SelectorError, parse_selector
from core.query.series import AGGS

SEVERITIES = ("info", "warning", "error", "critical")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}
OPERATORS = (">", ">=", "<", "<=", "==", "!=")
NO_DATA_MODES = ("ok", "alerting", "keep")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_TOKEN = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_.]*)\s*\}\}")
TEMPLATE_FIELDS = ("rule", "value", "threshold", "severity", "op", "expected", "observed", "score")


def parse_duration(text: object) -> float:
    """Seconds from ``"90s"``, ``"5m"``, ``"1h30m"``, ``"7d"`` or a plain number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return float(text)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a duration like 30s, 5m, 1h or 7d, got {text!r}")
    compact = text.strip().replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"expected a duration like 30s, 5m, 1h or 7d, got {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """The shortest exact text form of a duration: 300 → ``"5m"``."""
    if seconds == 0:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def render(template: str, context: dict[str, Any], labels: dict[str, str]) -> str:
    """Fill ``{{ value }}``, ``{{ threshold }}``, ``{{ labels.endpoint }}`` … in a summary."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("labels."):
            return labels.get(key.removeprefix("labels."), "")
        value = context.get(key)
        if isinstance(value, float):
            return f"{value:.4g}"
        return "" if value is None else str(value)

    return _TOKEN.sub(one, template)


class Rule(BaseModel):
    """One alert rule as stored, edited and written to YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[a-z0-9][a-z0-9_.-]*$",
        description="Unique id: lower-case letters, digits, _ . -",
    )
    kind: str = Field(default="threshold", description="Rule kind from the registry: threshold, anomaly or forecast.")
    source: Literal["series", "events"] = Field(default="series", description="Watch metric series, or count events.")
    selector: str = Field(
        description=(
            'Series selector (cpu_percent{host="a"}); for events, matchers on type and data fields '
            '({type="qa.defect_found", severity="critical"}).'
        )
    )
    agg: Literal["avg", "min", "max", "sum", "count", "last"] = Field(
        default="avg", description="How the values within the window become one value per series."
    )
    window: Duration = Field(default=300.0, gt=0, description="How far back each evaluation looks.")
    by: list[str] = Field(
        default_factory=list, description="Events only: data fields that split the count into one alert each."
    )
    op: Literal[">", ">=", "<", "<=", "==", "!="] = Field(
        default=">", description="Comparison of the value with the threshold."
    )
    threshold: float | None = Field(default=None, description="The limit (threshold and forecast rules).")
    hysteresis: float = Field(
        default=0.0,
        ge=0,
        description="A firing alert resolves only once the value is this far on the good side of the threshold.",
    )
    for_: Duration = Field(
        default=0.0, alias="for", description="How long the condition must hold continuously before the alert fires."
    )
    keep_firing_for: Duration = Field(
        default=0.0,
        description="How long a firing alert stays firing after the condition stops, to ride out brief recoveries.",
    )
    severity: Literal["info", "warning", "error", "critical"] = Field(
        default="warning", description="info, warning, error or critical."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels on every alert of the rule (component, team, alertgroup …)."
    )
    summary: str = Field(
        default="{{ rule }}: value {{ value }} {{ op }} {{ threshold }}",
        max_length=1000,
        description=(
            "Text of the alert, with {{ value }}, {{ threshold }}, {{ op }}, {{ rule }}, {{ severity }} "
            "and {{ labels.NAME }}; anomaly rules also {{ expected }} (the band), {{ observed }} and {{ score }}."
        ),
    )
    runbook: str = Field(default="", max_length=1000, description="Link to what to do.")
    no_data: Literal["ok", "alerting", "keep"] = Field(
        default="ok",
        description=(
            "When the selector returns nothing: ok (resolve), alerting (treat as failing) "
            "or keep (leave the state as it is)."
        ),
    )
    channels: list[str] = Field(
        default_factory=list, description="Channels to notify; empty: every channel routed for the severity."
    )
    enabled: bool = Field(default=True, description="Disabled rules are kept but not evaluated.")
    detector: str = Field(default="auto", description="Anomaly rules: zscore, iqr, seasonal or auto.")
    sensitivity: Annotated[float | str, BeforeValidator(parse_sensitivity)] = Field(
        default="medium",
        description=(
            "Anomaly rules: low, medium or high (thresholds calibrated on labelled data, medium the default), "
            "or a number from 0 (only extreme points) to 1 (mild ones); 0.5 is medium."
        ),
    )
    lookback: Duration = Field(
        default=86_400.0,
        gt=0,
        description="Anomaly and forecast rules: history used to learn what is normal or to fit the trend.",
    )
    horizon: Duration = Field(
        default=3600.0,
        gt=0,
        description="Forecast rules: alert when the series is projected to cross the threshold within this time.",
    )
    probability: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description=(
            "Forecast rules: how likely the crossing within the horizon must be (share of simulated futures past "
            "the threshold) before the rule fires."
        ),
    )
    description: str = Field(default="", max_length=2000, description="Free text shown in the rule list.")

    @field_validator("selector")
    @classmethod
    def _selector(cls, text: str) -> str:
        try:
            parse_selector(text)
        except SelectorError as error:
            raise ValueError(str(error)) from None
        return text

    @field_validator("summary")
    @classmethod
    def _template(cls, text: str) -> str:
        for key in _TOKEN.findall(text):
            if key not in TEMPLATE_FIELDS and not key.startswith("labels."):
                raise ValueError(
                    f"unknown template field {{{{ {key} }}}}; use {', '.join(TEMPLATE_FIELDS)} or labels.NAME"
                )
        return text

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key) or key in ("alertname", "severity"):
                raise ValueError(
                    f"bad label name {key!r} (letters, digits, _; alertname and severity are set by Pulseboard)"
                )
        return labels

    @model_validator(mode="after")
    def _kind_rules(self) -> Rule:
        if self.agg not in AGGS:
            raise ValueError(f"unknown aggregation {self.agg!r}")
        if self.source == "events" and parse_selector(self.selector).name is not None:
            raise ValueError('an events selector has no metric name; write {type="qa.defect_found", ...}')
        kind(self.kind).check(self)
        return self

    def dump(self) -> dict[str, Any]:
        """The rule as plain data with only the fields that differ from the defaults (YAML and the store)."""
        data = self.model_dump(by_alias=True, exclude_defaults=True, mode="json")
        return {"name": self.name, "selector": self.selector, **data}


def reason(error: ValidationError) -> str:
    """One line per problem, naming the field, for the UI and import reports."""
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "rule"
        lines.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(lines)


def parse_rule(data: dict[str, Any]) -> Rule:
    """Validate one rule from plain data; raises ValueError with :func:`reason` text."""
    try:
        return Rule.model_validate(data)
    except ValidationError as error:
        name = data.get("name", "?") if isinstance(data, dict) else "?"
        raise ValueError(f"rule {name!r}: {reason(error)}") from None


def load_yaml(text: str) -> list[Rule]:
    """Rules from ``rules: [...]`` YAML; the whole file is refused, listing every bad rule, if any is bad."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"not valid YAML: {error}") from None
    items = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise ValueError("expected a YAML mapping with a list under 'rules:'")
    rules, problems, seen = [], [], set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"item {index + 1}: expected a mapping, got {type(item).__name__}")
            continue
        try:
            rule = parse_rule(item)
        except ValueError as error:
            problems.append(str(error))
            continue
        if rule.name in seen:
            problems.append(f"rule {rule.name!r}: the name is used twice")
        seen.add(rule.name)
        rules.append(rule)
    if problems:
        raise ValueError("refused, nothing imported:\n" + "\n".join(problems))
    return rules


def dump_yaml(rules: list[Rule]) -> str:
    """YAML for ``rules``, loadable by :func:`load_yaml`."""
    return yaml.safe_dump({"rules": [r.dump() for r in rules]}, sort_keys=False, allow_unicode=True, width=120)
