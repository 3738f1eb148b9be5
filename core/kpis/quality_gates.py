"""Judging quality gate runs against managed thresholds: which thresholds apply, and did a run meet them.

A gate event (``workflow.quality_gate_*``, docs/events.md) carries ``metrics``; four of them are
criteria with a threshold each (:data:`CRITERIA`). Thresholds are kept per scope — ``*`` (the
default), ``project:<org/repo>`` (the event's ``repository``) or ``team:<name>`` (its ``team``) — in
core.kpis.gate_thresholds; the most specific scope in force decides, as a whole set: a criterion left
empty there is not checked. Everything here is pure, so the QA page, reports and tests judge alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from core.kpis.records import fields

DEFAULT_SCOPE = "*"
SCOPE_KINDS = ("project", "team")


@dataclass(frozen=True)
class Criterion:
    """One judged metric: the threshold column, the metric paths read (first present wins), its bound and range."""

    key: str  # column of quality_gate_thresholds and key of a Thresholds
    label: str
    metrics: tuple[str, ...]  # keys inside the event's ``metrics``
    minimum: bool  # True: the value must be >= the threshold; False: <=
    low: float
    high: float  # math.inf: no upper bound
    unit: str


CRITERIA: tuple[Criterion, ...] = (
    Criterion("coverage_min", "coverage", ("coverage_percentage",), True, 0.0, 100.0, "%"),
    Criterion("pass_rate_min", "pass rate", ("pass_rate_percentage",), True, 0.0, 100.0, "%"),
    Criterion("defect_density_max", "defect density", ("defect_density",), False, 0.0, math.inf, "defects/KLOC"),
    Criterion("review_score_min", "review score", ("review_score", "score"), True, 0.0, 1.0, ""),
)
BY_KEY = {c.key: c for c in CRITERIA}


@dataclass(frozen=True)
class Thresholds:
    """One scope's thresholds; None means the criterion is not checked there."""

    scope: str = DEFAULT_SCOPE
    coverage_min: float | None = None
    pass_rate_min: float | None = None
    defect_density_max: float | None = None
    review_score_min: float | None = None
    version: int = 0  # 0: the built-in default, never saved
    changed_by: str = "built-in"
    changed_ms: int | None = None
    note: str = ""

    @classmethod
    def of(cls, scope: str, values: Mapping[str, float | None], **meta: Any) -> Thresholds:
        """Thresholds for ``scope`` from a threshold key → value map (missing keys: not checked)."""
        return cls(
            scope,
            values.get("coverage_min"),
            values.get("pass_rate_min"),
            values.get("defect_density_max"),
            values.get("review_score_min"),
            **meta,
        )

    def value(self, key: str) -> float | None:
        return getattr(self, key)  # type: ignore[no-any-return]

    def values(self) -> dict[str, float | None]:
        return {c.key: self.value(c.key) for c in CRITERIA}


BUILT_IN = Thresholds(DEFAULT_SCOPE, 80.0, 95.0, 1.0, 0.8)
"""In force for ``*`` until someone saves a default of their own."""


def parse_scope(text: str) -> str:
    """The canonical scope for ``text`` (``*``, ``project:<name>``, ``team:<name>``); ValueError names the problem."""
    scope = text.strip()
    if scope == DEFAULT_SCOPE:
        return scope
    kind, _, name = scope.partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if kind not in SCOPE_KINDS or not _:
        raise ValueError(f"scope: use * (every project), project:<org/repo> or team:<name>, not {text!r}")
    if not name or len(name) > 190 or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise ValueError(f"scope: the {kind} name must be 1–190 printable characters without spaces, not {name!r}")
    return f"{kind}:{name}"


def check_value(key: str, raw: object) -> float | None:
    """One threshold from a form or API: empty → None (not checked); ValueError names the field and its range."""
    criterion = BY_KEY.get(key)
    if criterion is None:
        raise ValueError(f"{key}: not a threshold; use one of {', '.join(BY_KEY)}")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    span = f"{criterion.low:g}–{criterion.high:g}" if math.isfinite(criterion.high) else f"at least {criterion.low:g}"
    try:
        value = float(str(raw).strip()) if isinstance(raw, str) else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{key}: {criterion.label} must be a number ({span}), not {raw!r}") from None
    if not math.isfinite(value) or not criterion.low <= value <= criterion.high:
        raise ValueError(f"{key}: {criterion.label} must be {span}{criterion.unit and ' ' + criterion.unit}, not {raw}")
    return value


def thresholds_for(current: Mapping[str, Thresholds], project: str | None, team: str | None) -> Thresholds:
    """The set in force for a run of ``project`` by ``team``: the project's, else the team's, else the default."""
    for scope in (f"project:{project}" if project else None, f"team:{team}" if team else None):
        if scope and scope in current:
            return current[scope]
    return current.get(DEFAULT_SCOPE, BUILT_IN)


@dataclass(frozen=True)
class Evaluation:
    """A run judged: ``passed`` None when it carried none of the checked metrics; ``failed`` names each miss."""

    scope: str
    passed: bool | None
    failed: tuple[str, ...] = ()
    checked: dict[str, float] = field(default_factory=dict)  # threshold key → the run's value


def metric(metrics: Mapping[str, object], criterion: Criterion) -> float | None:
    """The run's value for ``criterion`` (first of its metric keys that holds a finite number)."""
    for key in criterion.metrics:
        raw = metrics.get(key)
        if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
    return None


def evaluate(metrics: Mapping[str, object], thresholds: Thresholds) -> Evaluation:
    """Judge one run's ``metrics`` (the event's ``data.metrics``) against ``thresholds``.

    A criterion counts only when the scope sets it and the run reports it; the run passes when
    every counted criterion holds (>= a minimum, <= a maximum).
    """
    failed, checked = [], {}
    for criterion in CRITERIA:
        bound, value = thresholds.value(criterion.key), metric(metrics, criterion)
        if bound is None or value is None:
            continue
        checked[criterion.key] = value
        if (value < bound) if criterion.minimum else (value > bound):
            sign = "<" if criterion.minimum else ">"
            failed.append(f"{criterion.label} {value:g} {sign} {bound:g}")
    return Evaluation(thresholds.scope, None if not checked else not failed, tuple(failed), checked)


METRIC_COLUMNS = {c.key: c for c in CRITERIA}
EVALUATION_SCHEMA = pl.Schema(
    {
        "project": pl.String(),
        "result": pl.String(),  # verdict and misses first: they stay on screen when a phone scrolls the rest
        "failed": pl.String(),
        "scope": pl.String(),
        "team": pl.String(),
        "coverage": pl.Float64(),
        "pass_rate": pl.Float64(),
        "defect_density": pl.Float64(),
        "review_score": pl.Float64(),
        "runs": pl.Int64(),
        "runs_failing_pct": pl.Float64(),
    }
)


def gate_metric_runs(events: pl.DataFrame) -> pl.DataFrame:
    """One row per gate run from ``workflow.quality_gate_*`` events, with the criteria's metrics as columns.

    A run sent both as ``_executed`` and as ``_passed``/``_failed`` counts once (same workflow, gate, attempt).
    """
    numbers = {f"m_{path}": f"metrics.{path}" for c in CRITERIA for path in c.metrics}
    read = fields(
        events,
        {"project": "repository", "team": "team", "workflow_id": "workflow_id", "gate": "gate_name", "a": "attempt"},
        numbers,
    )
    values = [pl.coalesce(*(pl.col(f"m_{p}") for p in c.metrics)).alias(c.key) for c in CRITERIA]
    return (
        read.sort("ts", "id")
        .with_columns(pl.coalesce("workflow_id", "id").alias("run"))  # no workflow id: each event is its own run
        .unique(["run", "gate", "a"], keep="first", maintain_order=True)
        .select("ts", "project", "team", *values)
    )


def latest_by_project(runs: pl.DataFrame, current: Mapping[str, Thresholds]) -> pl.DataFrame:
    """Per project: the newest reported value of each criterion, judged together, and how many runs failed.

    ``runs`` is :func:`gate_metric_runs`; each run is judged on the metrics it carried. Sorted failing first.
    """
    if runs.is_empty():
        return pl.DataFrame(schema=EVALUATION_SCHEMA)
    rows = []
    for (project,), group in runs.sort("ts").group_by(["project"], maintain_order=True):
        team = group["team"].drop_nulls().tail(1).to_list()
        limits = thresholds_for(current, project, team[0] if team else None)
        latest = group.select(pl.col(c.key).drop_nulls().last() for c in CRITERIA).row(0, named=True)
        verdict = evaluate({c.metrics[0]: latest[c.key] for c in CRITERIA if latest[c.key] is not None}, limits)
        judged = [evaluate(_run_metrics(run), limits).passed for run in group.iter_rows(named=True)]
        counted = [j for j in judged if j is not None]
        rows.append(
            {
                "project": project,
                "team": team[0] if team else None,
                "scope": limits.scope,
                "coverage": latest["coverage_min"],
                "pass_rate": latest["pass_rate_min"],
                "defect_density": latest["defect_density_max"],
                "review_score": latest["review_score_min"],
                "result": {True: "pass", False: "fail", None: "no data"}[verdict.passed],
                "failed": "; ".join(verdict.failed),
                "runs": len(counted),
                "runs_failing_pct": round(100 * counted.count(False) / len(counted), 1) if counted else None,
            }
        )
    order = {"fail": 0, "pass": 1, "no data": 2}
    return pl.DataFrame(rows, schema=EVALUATION_SCHEMA, orient="row").sort(
        pl.col("result").replace_strict(order, return_dtype=pl.Int8), "project", nulls_last=True
    )


def _run_metrics(run: Mapping[str, object]) -> dict[str, object]:
    return {c.metrics[0]: run[c.key] for c in CRITERIA if run[c.key] is not None}
