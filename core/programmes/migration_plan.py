"""The migration plan as data: ``migration.yaml`` read, validated and placed in time (docs/migration.md).

Events say what happened; the plan says what was meant to happen — phases with planned dates and
finish-to-start dependencies, milestones, the components and how many datasets there are — so
the page can tell "late" from "busy". A plan is optional: without one the view is built from the
``migration.*`` events alone.

A plan an operator wrote by hand must fail with a message that leads straight to the mistake, so
:func:`load_plan` keeps the YAML node marks and every error (syntax, a wrong type, an unknown
field, a dependency on a phase that does not exist, an end before its start) is a
:class:`PlanError` naming the file, the line and the field.

Phases may be dated (``start: 2025-03-03``) or placed in weeks from the programme start
(``start_week: 4``); a plan in weeks with no ``start`` is anchored on the earliest
``planned_start`` the phase events carry (the demo's plan works this way, since the demo places
its programme relative to its own first start).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
Loc = tuple[str | int, ...]


class PlanError(ValueError):
    """A plan file that cannot be used; ``str()`` is one line naming file, line and field."""

    def __init__(self, file: str, line: int | None, field: str, message: str) -> None:
        self.file, self.line, self.field, self.message = file, line, field, message
        where = f"{file}, line {line}" if line else file
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Milestone(_Model):
    """A dated checkpoint; tied to a phase, it is met when that phase completes."""

    name: str = Field(min_length=1, max_length=200)
    phase: str | None = Field(default=None, description="Phase whose completion meets the milestone.")
    date: dt.date | None = None
    week: float | None = Field(default=None, ge=0, le=520)


class Phase(_Model):
    """One phase: planned span (dates or weeks from the programme start), dependencies, planned risk."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    name: str | None = Field(default=None, max_length=200)
    start: dt.date | None = None
    end: dt.date | None = None
    start_week: float | None = Field(default=None, ge=0, le=520)
    end_week: float | None = Field(default=None, ge=0, le=520)
    depends_on: list[str] = Field(default_factory=list, description="Phases that must finish before this starts.")
    risk: Literal["low", "medium", "high"] = "low"


class Component(_Model):
    """A component being migrated; ``tests_total`` fills the matrix when status events do not carry it."""

    id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=200)
    tests_total: int | None = Field(default=None, ge=0)
    datasets: int | None = Field(default=None, ge=0)


class HealthRules(_Model):
    """The thresholds of the overall health rules (docs/migration.md, "Health"); defaults suit most programmes."""

    success_at_risk_below: float = Field(default=95.0, ge=0, le=100)
    success_critical_below: float = Field(default=90.0, ge=0, le=100)
    phase_late_days: float = Field(default=7.0, ge=0)
    programme_late_critical_days: float = Field(default=14.0, ge=0)
    rollbacks_at_risk: int = Field(default=1, ge=1)
    rollbacks_critical: int = Field(default=3, ge=1)
    regression_percent: float = Field(default=10.0, gt=0)
    significance: float = Field(default=0.05, gt=0, lt=1)


class Plan(_Model):
    """The whole plan file."""

    name: str = Field(default="Migration", min_length=1, max_length=200)
    start: dt.date | None = Field(default=None, description="Programme start; week numbers count from it.")
    datasets_total: int | None = Field(default=None, ge=0)
    records_total: int | None = Field(default=None, ge=0)
    test_component: str = Field(default="migration", description="Test runs of this component are the migration's.")
    performance_selector: str = Field(
        default='{system=~"old|new"}', description="Series compared old vs new (label system=old|new)."
    )
    phases: list[Phase] = Field(min_length=1)
    milestones: list[Milestone] = Field(default_factory=list)
    components: list[Component] = Field(default_factory=list)
    health: HealthRules = Field(default_factory=HealthRules)


# --- reading --------------------------------------------------------------------------------------------------------


def _marks(node: yaml.Node, path: Loc = ()) -> Iterator[tuple[Loc, int]]:
    """(path, 1-based line) of every key and list item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*path, str(key.value))
            yield here, key.start_mark.line + 1
            yield from _marks(value, here)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = (*path, index)
            yield here, item.start_mark.line + 1
            yield from _marks(item, here)


def _line(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of ``loc``, or of its nearest ancestor that is in the file (a missing field: its parent)."""
    for cut in range(len(loc), 0, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return min(lines.values(), default=None)


def field_name(loc: Loc) -> str:
    """``phases[2].end_week`` from ``("phases", 2, "end_week")``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def parse_plan(text: str, file: str = "migration.yaml") -> Plan:
    """Validate plan text; raises :class:`PlanError` naming ``file``, the line and the field of the first problem."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise PlanError(file, mark.line + 1 if mark else None, "", f"not valid YAML: {error.problem}") from None
    except yaml.YAMLError as error:
        raise PlanError(file, None, "", f"not valid YAML: {error}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise PlanError(file, 1, "", "a plan is a mapping with at least `phases:` (see docs/migration.md)")
    lines = dict(_marks(node)) if node is not None else {}
    try:
        plan = Plan.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = tuple(first["loc"])
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field (see docs/migration.md for the fields a plan may have)"
        raise PlanError(file, _line(lines, loc), field_name(loc), message) from None
    for loc, message in problems(plan):
        raise PlanError(file, _line(lines, loc), field_name(loc), message)
    return plan


def load_plan(path: Path | None) -> Plan | None:
    """The plan at ``path``; None when no path is set or the file does not exist (the view then uses events only)."""
    if path is None or not path.is_file():
        return None
    return parse_plan(path.read_text(encoding="utf-8"), str(path))


def problems(plan: Plan) -> Iterator[tuple[Loc, str]]:
    """What the schema cannot see: duplicate ids, unknown or circular dependencies, spans that end before they start."""
    ids: dict[str, int] = {}
    for index, phase in enumerate(plan.phases):
        if phase.id in ids:
            yield ("phases", index, "id"), f"phase id {phase.id!r} is used twice (also phases[{ids[phase.id]}])"
        ids.setdefault(phase.id, index)
    cycle = _cycle({p.id: p.depends_on for p in plan.phases})
    if cycle:  # before the dates: every cycle also breaks finish-to-start, but the cycle is the mistake to name
        yield ("phases", ids[cycle[0]], "depends_on"), "circular dependencies: " + " → ".join([*cycle, cycle[0]])
    for index, phase in enumerate(plan.phases):
        here: Loc = ("phases", index)
        for side in ("start", "end"):
            dated, weeks = getattr(phase, side), getattr(phase, f"{side}_week")
            if (dated is None) == (weeks is None):
                yield (*here, side), f"give exactly one of {side} (a date) or {side}_week (weeks from the start)"
        bounds = _weeks(plan, phase)
        if bounds and bounds[2] <= bounds[1]:
            yield (*here, "end" if phase.end else "end_week"), "the phase must end after it starts"
        for n, dep in enumerate(phase.depends_on):
            if dep not in ids:
                yield (*here, "depends_on", n), f"no phase has id {dep!r}"
            elif dep == phase.id:
                yield (*here, "depends_on", n), "a phase cannot depend on itself"
            else:
                before = _weeks(plan, plan.phases[ids[dep]])
                if bounds and before and bounds[0] == before[0] and bounds[1] < before[2]:
                    yield (
                        (*here, "depends_on", n),
                        f"starts before {dep!r} ends (dependencies are finish-to-start)",
                    )
    for index, milestone in enumerate(plan.milestones):
        here = ("milestones", index)
        if milestone.phase is not None and milestone.phase not in ids:
            yield (*here, "phase"), f"no phase has id {milestone.phase!r}"
        if milestone.date is not None and milestone.week is not None:
            yield (*here, "date"), "give a date or a week, not both"
        if milestone.date is None and milestone.week is None and milestone.phase is None:
            yield (*here, "date"), "give a date, a week or the phase whose end it marks"
    seen: set[str] = set()
    for index, component in enumerate(plan.components):
        if component.id in seen:
            yield ("components", index, "id"), f"component id {component.id!r} is used twice"
        seen.add(component.id)
    if plan.health.success_critical_below > plan.health.success_at_risk_below:
        yield ("health", "success_critical_below"), "must not be above success_at_risk_below"
    if plan.health.rollbacks_critical < plan.health.rollbacks_at_risk:
        yield ("health", "rollbacks_critical"), "must not be below rollbacks_at_risk"


def _weeks(plan: Plan, phase: Phase) -> tuple[str, float, float] | None:
    """A phase's span in weeks, tagged with what the weeks count from, when both ends can be placed without events.

    With a programme start everything counts from it; without one, phases in weeks count from the (yet
    unknown) start and dated phases from the calendar, so only spans with the same tag are comparable.
    """

    def week(dated: dt.date | None, weeks: float | None) -> tuple[str, float] | None:
        if weeks is not None:
            return "start", weeks
        if dated is not None:
            return ("start", (dated - plan.start).days / 7) if plan.start else ("calendar", dated.toordinal() / 7)
        return None

    start, end = week(phase.start, phase.start_week), week(phase.end, phase.end_week)
    if start is None or end is None or start[0] != end[0]:
        return None
    return start[0], start[1], end[1]


def _cycle(graph: dict[str, list[str]]) -> list[str]:
    """One dependency cycle (phase ids in order), or [] when there is none."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :]
            if dep in graph and dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return []

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return []


# --- placing in time -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedPhase:
    """A phase of the plan with epoch-ms bounds."""

    id: str
    name: str
    start_ms: int
    end_ms: int
    depends_on: tuple[str, ...]
    risk: str


@dataclass(frozen=True)
class PlannedMilestone:
    """A milestone with its due time."""

    name: str
    phase: str | None
    due_ms: int


def day_ms(day: dt.date) -> int:
    """Midnight UTC of ``day`` in epoch milliseconds."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def place(plan: Plan, anchor_ms: int) -> tuple[list[PlannedPhase], list[PlannedMilestone]]:
    """Phases and milestones in epoch ms; weeks count from ``plan.start``, else from ``anchor_ms`` (a UTC midnight)."""
    origin = day_ms(plan.start) if plan.start is not None else anchor_ms - anchor_ms % DAY_MS

    def at(dated: dt.date | None, weeks: float | None) -> int:
        return day_ms(dated) if dated is not None else origin + round((weeks or 0.0) * WEEK_MS)

    phases = [
        PlannedPhase(
            p.id,
            p.name or p.id.replace("_", " ").capitalize(),
            at(p.start, p.start_week),
            at(p.end, p.end_week),
            tuple(p.depends_on),
            p.risk,
        )
        for p in plan.phases
    ]
    ends = {p.id: p.end_ms for p in phases}
    milestones = [
        PlannedMilestone(
            m.name,
            m.phase,
            at(m.date, m.week) if m.date is not None or m.week is not None else ends[m.phase or ""],
        )
        for m in plan.milestones
    ]
    return phases, milestones


def needs_anchor(plan: Plan) -> bool:
    """True when some phase or milestone is placed in weeks and the plan has no start date."""
    weeks = any(p.start_week is not None or p.end_week is not None for p in plan.phases) or any(
        m.week is not None for m in plan.milestones
    )
    return weeks and plan.start is None


def as_dict(plan: Plan) -> dict[str, Any]:
    """The plan as plain data (for the JSON summary)."""
    return plan.model_dump(mode="json")
