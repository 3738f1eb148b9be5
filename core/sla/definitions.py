"""SLA definitions: what each promise measures, its targets, and the defaults of the specification.

A definition is one of four kinds:

* ``step`` — one workflow step (``workflow.step_completed`` events whose ``step`` matches):
  completion time against ``target_s``, ``status`` against ``objective``, optionally the
  queue wait before work starts (``queue_wait_s``) against ``response_s``;
* ``workflow`` — whole workflows (``workflow.workflow_completed`` / ``workflow_failed``);
* ``latency`` — a metric that must stay at or below ``target_s`` (seconds), e.g. a p95;
* ``availability`` — a 0/1 metric (``up``) whose mean is the availability.

``objective`` is the share of items (or of time, for metrics) that must be good; it sets
the error budget ``1 - objective``. Validation refuses a bad edit with the reason.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.query.selectors import SelectorError, as_selector

Kind = Literal["step", "workflow", "latency", "availability"]
KINDS: tuple[Kind, ...] = ("step", "workflow", "latency", "availability")
MIN, HOUR = 60.0, 3600.0


class DefinitionError(ValueError):
    """An SLA definition was refused; the message says which field and why."""


class SlaDefinition(BaseModel):
    """One SLA / SLO as stored in ``sla_definitions`` and edited on the SLA page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$", description="Stable key, snake_case.")
    name: str = Field(min_length=1, max_length=200, description="Shown on the page and in alerts.")
    kind: Kind = Field(description="What is measured: step, workflow, latency or availability.")
    step: str | None = Field(default=None, max_length=128, description="Workflow step name (kind step).")
    selector: str | None = Field(
        default=None, max_length=500, description="Metric selector (kinds latency, availability)."
    )
    target_s: float | None = Field(
        default=None, gt=0, le=30 * 86_400, description="Completion-time or latency target, seconds."
    )
    escalation_s: float | None = Field(
        default=None, gt=0, le=30 * 86_400, description="Items slower than this escalate, seconds."
    )
    response_s: float | None = Field(
        default=None, gt=0, le=30 * 86_400, description="Longest queue wait before work starts, seconds."
    )
    objective: float = Field(gt=0, lt=1, description="Share of items (or time) that must be good, e.g. 0.995.")
    availability_target: float | None = Field(
        default=None, gt=0, le=1, description="Availability objective of the step's agents."
    )
    availability_selector: str | None = Field(
        default=None, max_length=500, description="0/1 metric giving the step's availability."
    )
    period_days: int = Field(default=30, ge=1, le=366, description="Error-budget period, days.")
    enabled: bool = Field(default=True, description="Disabled SLAs are shown but not checked.")

    @model_validator(mode="after")
    def _consistent(self) -> SlaDefinition:
        if self.kind == "step" and not self.step:
            raise ValueError("a step SLA needs the workflow step name")
        if self.kind in ("step", "workflow", "latency") and self.target_s is None:
            raise ValueError(f"a {self.kind} SLA needs a target time")
        if self.kind in ("latency", "availability") and not self.selector:
            raise ValueError(f"a {self.kind} SLA needs a metric selector")
        if self.escalation_s is not None and self.target_s is not None and self.escalation_s <= self.target_s:
            raise ValueError(
                f"escalation threshold ({self.escalation_s:g} s) must be longer than the target ({self.target_s:g} s)"
            )
        if (self.availability_target is None) != (self.availability_selector is None):
            raise ValueError("availability target and availability selector go together")
        for label, text in (("selector", self.selector), ("availability selector", self.availability_selector)):
            if text:
                try:
                    as_selector(text)
                except SelectorError as error:
                    raise ValueError(f"{label}: {error}") from None
        return self

    @property
    def budget(self) -> float:
        """The error budget: the share of items (or time) allowed to be bad."""
        return 1.0 - self.objective


def parse_definition(values: dict[str, object]) -> SlaDefinition:
    """Validate ``values`` into a definition, or raise :class:`DefinitionError` naming what is wrong."""
    try:
        return SlaDefinition.model_validate(values)
    except ValidationError as error:
        reasons = []
        for item in error.errors():
            where = ".".join(str(p) for p in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            reasons.append(f"{where}: {message}" if where else message)
        raise DefinitionError("; ".join(reasons)) from None


# The unit the SLA page uses for a kind's times, in seconds: minutes for workflow work, seconds for metrics.
FORM_UNIT_S: dict[str, float] = {"step": MIN, "workflow": MIN, "latency": 1.0, "availability": 1.0}


def form_values(
    kind: str,
    *,
    sla_id: str,
    name: str,
    source: str = "",
    target: float | None = None,
    objective_pct: float | None = None,
    escalation: float | None = None,
    period_days: int = 30,
) -> dict[str, object]:
    """A new SLA's fields as the SLA page's form gives them, ready for :func:`parse_definition`.

    ``source`` is the step name (kind step) or the metric selector (latency,
    availability); times are in the kind's :data:`FORM_UNIT_S`, the objective in percent;
    blank text and empty numbers mean "not set", so validation names what is missing.
    """
    unit = FORM_UNIT_S.get(kind, 1.0)
    source = source.strip()
    return {
        "id": sla_id.strip(),
        "name": name.strip(),
        "kind": kind,
        "step": (source or None) if kind == "step" else None,
        "selector": (source or None) if kind in ("latency", "availability") else None,
        "target_s": None if target is None else target * unit,
        "escalation_s": escalation * unit if escalation else None,
        "objective": None if objective_pct is None else objective_pct / 100,
        "period_days": period_days,
    }


def _step(sid: str, name: str, target: float, objective: float, escalation: float, **extra: object) -> SlaDefinition:
    return SlaDefinition(
        id=sid,
        name=name,
        kind="step",
        step=sid,
        target_s=target,
        objective=objective,
        escalation_s=escalation,
        **extra,  # type: ignore[arg-type]
    )


# The specification's values (seed §3.1). The step names are those the workflow emits.
DEFAULTS: tuple[SlaDefinition, ...] = (
    _step(
        "dor_validation",
        "DoR validation",
        15 * MIN,
        0.995,
        20 * MIN,
        availability_target=0.999,
        availability_selector='qms_agent_up{agent=~"qms-dor-validator-.*"}',
    ),
    SlaDefinition(
        id="progress_reviews",
        name="Progress reviews",
        kind="step",
        step="progress_review",
        target_s=2 * HOUR,
        objective=0.99,
        escalation_s=4 * HOUR,
        response_s=30 * MIN,
    ),
    _step("dod_validation", "DoD validation", 10 * MIN, 0.995, 15 * MIN),
    _step("final_qms_review", "Final QMS review", 30 * MIN, 0.998, 45 * MIN, response_s=15 * MIN),
    SlaDefinition(
        id="end_to_end_workflow",
        name="End-to-end workflow",
        kind="workflow",
        target_s=4 * HOUR,
        objective=0.985,
        escalation_s=6 * HOUR,
    ),
    SlaDefinition(
        id="api_p50",
        name="API response time p50",
        kind="latency",
        target_s=0.2,
        objective=0.99,
        selector='api_request_duration_seconds{quantile="0.5"}',
    ),
    SlaDefinition(
        id="api_p95",
        name="API response time p95",
        kind="latency",
        target_s=0.5,
        objective=0.99,
        selector='api_request_duration_seconds{quantile="0.95"}',
    ),
    SlaDefinition(
        id="api_p99",
        name="API response time p99",
        kind="latency",
        target_s=1.0,
        objective=0.99,
        selector='api_request_duration_seconds{quantile="0.99"}',
    ),
    SlaDefinition(
        id="dashboard_page_load",
        name="Dashboard page load",
        kind="latency",
        target_s=2.0,
        objective=0.99,
        selector="pulseboard_page_load_seconds",
    ),
    SlaDefinition(id="uptime", name="System uptime", kind="availability", objective=0.9995, selector="up"),
    SlaDefinition(
        id="data_freshness",
        name="Data freshness",
        kind="latency",
        target_s=5.0,
        objective=0.99,
        selector='pulseboard_data_freshness_seconds{feed=""}',  # the store-wide series, not one per feed (0009)
    ),
)
