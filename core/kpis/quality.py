"""The QA page's figures: quality gates, defects, compliance, JUnit test suites, coverage, risk matrix.

Pure functions over frames from core.kpis.records (events, test runs); the store-reading
helpers at the bottom gather those frames for a window and apply the page filters.
Every event field read here is defined in docs/events.md.

Longer than most modules: it is every figure of the QA page (gates, defects, compliance, suites,
coverage, risk); the pure pieces are small functions tested one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
from sqlalchemy.engine import Engine

from core.config import Settings
from core.kpis.records import apply_filters, fields, filter_values, flag, load_events, load_test_runs, within
from core.query import event_percentiles

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
STALE_AFTER_S = 3_600  # no gate, defect or compliance event for this long: the page warns its sources went quiet
GATE_OUTCOMES = ("workflow.quality_gate_passed", "workflow.quality_gate_failed")
GATE_EXECUTED = "workflow.quality_gate_executed"
GATE_EVENTS = (*GATE_OUTCOMES, GATE_EXECUTED)
DEFECT_EVENTS = ("qa.defect_found", "qa.defect_resolved")
COMPLIANCE_EVENT = "qa.compliance_check"
SEVERITY_WEIGHT = {"low": 1, "medium": 2, "high": 3, "critical": 4}
SUITE_PASSING_PCT, SUITE_WARNING_PCT = (
    95.0,
    90.0,
)  # a suite's latest pass % at or above: passing / warning / else failing
LIKELIHOOD_LEVELS = (5.0, 15.0)  # gate failure % boundaries between low | medium | high likelihood
IMPACT_LEVELS = (1.75, 2.5)  # mean defect severity weight boundaries between low | medium | high impact
LEVELS = ("low", "medium", "high")
RELEASED_STAGES = ("production", "release", "post_release")  # a defect found here escaped the pipeline

GATE_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "ts": pl.Int64(),
        "gate": pl.String(),
        "passed": pl.Boolean(),
        "execution_s": pl.Float64(),
        "workflow_id": pl.String(),
        "repository": pl.String(),
        "step": pl.String(),
        "coverage_pct": pl.Float64(),
    }
)


# --- quality gates -------------------------------------------------------------------------------------------------


def gate_frame(events: pl.DataFrame) -> pl.DataFrame:
    """One row per gate run (:data:`GATE_SCHEMA`).

    A run is its ``quality_gate_passed``/``_failed`` event; a ``quality_gate_executed``
    event counts only when no outcome event names the same workflow, gate and attempt
    (sources may send either or both). ``coverage_pct`` is ``metrics.coverage_percentage``.
    """
    read = fields(
        events,
        {
            "gate": "gate_name",
            "workflow_id": "workflow_id",
            "repository": "repository",
            "step": "step",
            "attempt": "attempt",
        },
        {"execution_s": "metrics.execution_time", "coverage_pct": "metrics.coverage_percentage"},
    )
    outcomes = read.filter(pl.col("type").is_in(GATE_OUTCOMES)).with_columns(
        (pl.col("type") == "workflow.quality_gate_passed").alias("passed")
    )
    executed = read.filter(pl.col("type") == GATE_EXECUTED).with_columns(flag("passed").alias("passed"))
    keys = ["workflow_id", "gate", "attempt"]
    executed = executed.join(outcomes.select(keys).unique(), on=keys, how="anti", nulls_equal=True).filter(
        pl.col("passed").is_not_null()
    )
    return pl.concat([outcomes, executed]).select(GATE_SCHEMA.names()).cast(GATE_SCHEMA).sort("ts", "id")


@dataclass(frozen=True)
class GateTotals:
    """All gates together over the range."""

    executed: int
    passed: int
    failed: int
    pass_pct: float | None
    avg_time_s: float | None


def gate_totals(gates: pl.DataFrame) -> GateTotals:
    """Executed, passed, failed, pass % and mean execution time of every gate run in ``gates``."""
    passed = int(gates["passed"].sum())
    avg = gates["execution_s"].mean()
    return GateTotals(
        gates.height,
        passed,
        gates.height - passed,
        passed / gates.height * 100 if gates.height else None,
        None if avg is None else float(avg),  # type: ignore[arg-type]
    )


def gate_summary(gates: pl.DataFrame) -> pl.DataFrame:
    """Per gate: executed, passed, failed, pass % and fail %, average time (s); worst pass rate first."""
    return (
        gates.group_by("gate")
        .agg(
            pl.len().alias("executed"),
            pl.col("passed").sum().alias("passed"),
            (~pl.col("passed")).sum().alias("failed"),
            pl.col("execution_s").mean().round(1).alias("avg_time_s"),
        )
        .with_columns(
            (pl.col("passed") / pl.col("executed") * 100).round(1).alias("pass_pct"),
            (pl.col("failed") / pl.col("executed") * 100).round(1).alias("fail_pct"),
            pl.col("passed", "failed").cast(pl.Int64),
        )
        .select("gate", "executed", "passed", "failed", "pass_pct", "fail_pct", "avg_time_s")
        .sort("pass_pct", "gate")
    )


def gate_trend(gates: pl.DataFrame, step_ms: int, *, combined: bool = False) -> pl.DataFrame:
    """Per bucket and gate: runs, pass % and fail %; ts is the bucket start.

    With ``combined``, all gates count as one gate, "all gates".
    """
    if combined:
        gates = gates.with_columns(pl.lit("all gates").alias("gate"))
    return (
        gates.group_by((pl.col("ts") - pl.col("ts") % step_ms).alias("bucket"), "gate")
        .agg(
            pl.len().alias("executed"),
            (pl.col("passed").mean() * 100).round(1).alias("pass_pct"),
            ((~pl.col("passed")).mean() * 100).round(1).alias("fail_pct"),
        )
        .select(
            pl.from_epoch("bucket", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"),
            "gate",
            "executed",
            "pass_pct",
            "fail_pct",
        )
        .sort("gate", "ts")
    )


def gate_runs(gates: pl.DataFrame, gate: str, limit: int = 50) -> pl.DataFrame:
    """The newest runs of one gate for its drill-down table."""
    return (
        gates.filter(pl.col("gate") == gate)
        .sort("ts", descending=True)
        .head(limit)
        .select(
            pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("time"),
            "workflow_id",
            "repository",
            "step",
            pl.when(pl.col("passed")).then(pl.lit("passed")).otherwise(pl.lit("failed")).alias("result"),
            "execution_s",
        )
    )


# --- defects -------------------------------------------------------------------------------------------------------


DEFECT_SCHEMA = pl.Schema(
    {
        "defect_id": pl.String(),
        "found_ts": pl.Int64(),
        "severity": pl.String(),
        "component": pl.String(),
        "root_cause": pl.String(),
        "stage": pl.String(),
        "escaped": pl.Boolean(),
        "resolved_ts": pl.Int64(),
        "resolution_h": pl.Float64(),
    }
)


def defect_frame(events: pl.DataFrame) -> pl.DataFrame:
    """One row per defect from found/resolved events (:data:`DEFECT_SCHEMA`).

    component = data.component, else data.repository; root_cause = data.root_cause, else
    data.category; escaped = data.escaped, else whether data.step is a released stage;
    resolution_h = data.resolution_hours, else resolved − found. Resolutions whose
    finding lies outside the frame still count for resolution time (found_ts null).
    """
    read = fields(
        events,
        {
            "defect_id": "defect_id",
            "severity": "severity",
            "component_": "component",
            "repository": "repository",
            "root_cause_": "root_cause",
            "category": "category",
            "stage": "step",
        },
        {"resolution_hours": "resolution_hours"},
    ).with_columns(flag("escaped").alias("escaped_"))
    found = (
        read.filter(pl.col("type") == "qa.defect_found")
        .unique("defect_id", keep="first")
        .select(
            "defect_id",
            pl.col("ts").alias("found_ts"),
            "severity",
            pl.coalesce("component_", "repository", pl.lit("unknown")).alias("component"),
            pl.coalesce("root_cause_", "category", pl.lit("unknown")).alias("root_cause"),
            "stage",
            pl.coalesce("escaped_", pl.col("stage").is_in(RELEASED_STAGES).fill_null(False)).alias("escaped"),
        )
    )
    resolved = (
        read.filter(pl.col("type") == "qa.defect_resolved")
        .unique("defect_id", keep="last")
        .select(
            "defect_id",
            pl.col("ts").alias("resolved_ts"),
            "resolution_hours",
            pl.coalesce("component_", "repository", pl.lit("unknown")).alias("r_component"),
            pl.col("severity").alias("r_severity"),
        )
    )
    joined = found.join(resolved, on="defect_id", how="full", coalesce=True).with_columns(
        pl.coalesce("resolution_hours", ((pl.col("resolved_ts") - pl.col("found_ts")) / HOUR_MS).round(3)).alias(
            "resolution_h"
        ),
        pl.coalesce("component", "r_component").alias("component"),
        pl.coalesce("severity", "r_severity").alias("severity"),
    )
    return joined.select(DEFECT_SCHEMA.names()).cast(DEFECT_SCHEMA)


@dataclass(frozen=True)
class DefectKpis:
    """Defect headline figures."""

    found_today: int
    found: int  # in the range
    critical: int  # critical defects found in the range
    critical_open: int  # critical defects found in the range and not resolved by its end
    avg_resolution_h: float | None  # defects resolved in the range
    prevention_pct: float | None  # share of the range's defects caught before release


def defect_kpis(defects: pl.DataFrame, *, start_ms: int, end_ms: int, day_start_ms: int) -> DefectKpis:
    """Headline figures for [start, end) and for today (found at or after ``day_start_ms``)."""
    found = found_between(defects, start_ms, end_ms)
    today = defects.filter(pl.col("found_ts").is_between(day_start_ms, end_ms, closed="left")).height
    critical = found.filter(pl.col("severity") == "critical")
    still_open = critical.filter(pl.col("resolved_ts").is_null() | (pl.col("resolved_ts") >= end_ms)).height
    resolved = defects.filter(pl.col("resolved_ts").is_between(start_ms, end_ms, closed="left"))["resolution_h"].mean()
    prevention = (1 - found["escaped"].mean()) * 100 if found.height else None  # type: ignore[operator]
    return DefectKpis(
        today,
        found.height,
        critical.height,
        still_open,
        None if resolved is None else float(resolved),  # type: ignore[arg-type]
        None if prevention is None else float(prevention),
    )


def found_between(defects: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    """The defects found in [start, end) (a :func:`defect_frame` also holds earlier findings, to pair resolutions)."""
    return defects.filter(pl.col("found_ts").is_between(start_ms, end_ms, closed="left"))


def defects_by(defects: pl.DataFrame, column: str) -> pl.DataFrame:
    """Defect counts per ``column`` value and severity, most severe first, for stacked bars.

    Long: <column>, severity, count.
    """
    rank = pl.col("severity").replace_strict(SEVERITY_WEIGHT, default=0, return_dtype=pl.Int64)
    return (
        defects.group_by(column, "severity")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .sort(rank, column, descending=[True, False])
    )


def defect_trend(defects: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    """Defects found per bucket and severity: ts, severity, count."""
    return (
        defects.filter(pl.col("found_ts").is_not_null())
        .group_by((pl.col("found_ts") - pl.col("found_ts") % step_ms).alias("b"), "severity")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .select(pl.from_epoch("b", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "severity", "count")
        .sort("ts", "severity")
    )


# --- compliance ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    """Compliance checks over the range."""

    checks: int
    passed_pct: float | None
    audit_readiness_pct: float | None  # mean check score (0–1 scaled to %)
    violations: int  # failed checks
    remediation_pending: int  # failed (workflow, policy) pairs with no later passing check
    by_policy: pl.DataFrame  # policy, checks, passed_pct, violations, pending


def compliance(events: pl.DataFrame) -> Compliance:
    """Figures from ``qa.compliance_check`` events (data: policy, passed, score, workflow_id)."""
    checks = (
        fields(events, {"policy": "policy", "workflow_id": "workflow_id"}, {"score": "score"})
        .with_columns(flag("passed").alias("passed"), pl.col("policy").fill_null("unknown"))
        .filter(pl.col("passed").is_not_null())
    )
    latest = (
        checks.sort("ts")
        .group_by("workflow_id", "policy")
        .agg(pl.col("passed").last().alias("latest"), (~pl.col("passed")).any().alias("ever_failed"))
    )
    pending_pairs = latest.filter(pl.col("ever_failed") & ~pl.col("latest"))
    per_policy = (
        checks.group_by("policy")
        .agg(
            pl.len().alias("checks"),
            (pl.col("passed").mean() * 100).round(1).alias("passed_pct"),
            (~pl.col("passed")).sum().cast(pl.Int64).alias("violations"),
            (pl.col("score").mean() * 100).round(1).alias("readiness_pct"),
        )
        .join(pending_pairs.group_by("policy").agg(pl.len().alias("pending")), on="policy", how="left")
        .with_columns(pl.col("pending").fill_null(0).cast(pl.Int64))
        .sort("policy")
    )
    score = checks["score"].mean()
    return Compliance(
        checks.height,
        float(checks["passed"].mean()) * 100 if checks.height else None,  # type: ignore[arg-type]
        None if score is None else float(score) * 100,  # type: ignore[arg-type]
        int((~checks["passed"]).sum()),
        pending_pairs.height,
        per_policy,
    )


# --- test suites and coverage --------------------------------------------------------------------------------------


def suite_table_rows(runs: pl.DataFrame) -> pl.DataFrame:
    """Runs with ``failed`` and ``pass_pct``, oldest first.

    ``failed`` is failures + errors; ``pass_pct`` is passed over executed (tests − skipped).
    """
    return (
        runs.with_columns(
            (pl.col("tests") - pl.col("skipped")).alias("executed"),
            (pl.col("failures") + pl.col("errors")).alias("failed"),
        )
        .with_columns(
            pl.when(pl.col("executed") > 0)
            .then(((pl.col("executed") - pl.col("failed")) / pl.col("executed") * 100).round(1))
            .alias("pass_pct"),
        )
        .sort("ts", "id")
    )


def suite_status(pass_pct: pl.Expr) -> pl.Expr:
    """A suite's band from its pass %: passing, warning, failing, or no data (the QA and Migration grids alike)."""
    return (
        pl.when(pass_pct.is_null())
        .then(pl.lit("no data"))
        .when(pass_pct >= SUITE_PASSING_PCT)
        .then(pl.lit("passing"))
        .when(pass_pct >= SUITE_WARNING_PCT)
        .then(pl.lit("warning"))
        .otherwise(pl.lit("failing"))
    )


def suite_table(runs: pl.DataFrame, trend_runs: int = 10) -> pl.DataFrame:
    """Per suite, from its newest run: pass %, failed, time (s), status and trend.

    The trend is the pass % of its last runs, oldest first.
    """
    scored = suite_table_rows(runs)
    table = scored.group_by("suite").agg(
        pl.col("pass_pct").last(),
        pl.col("failed").last().cast(pl.Int64),
        pl.col("duration_s").last().round(1).alias("time_s"),
        pl.col("tests").last().cast(pl.Int64),
        pl.col("pass_pct").tail(trend_runs).alias("trend"),
        pl.len().alias("runs"),
        pl.col("ts").last().alias("last_ts"),
        pl.col("component").last(),
    )
    status = suite_status(pl.col("pass_pct"))
    return (
        table.with_columns(
            status.alias("status"),
            pl.from_epoch("last_ts", time_unit="ms").dt.replace_time_zone("UTC").alias("last_run"),
            (100 - pl.col("pass_pct")).round(1).alias("fail_pct"),
        )
        .select(
            "suite",
            "component",
            "pass_pct",
            "fail_pct",
            "failed",
            "tests",
            "time_s",
            "trend",
            "status",
            "runs",
            "last_run",
        )
        .sort("suite")
    )


def suite_history(runs: pl.DataFrame, suite: str) -> pl.DataFrame:
    """One suite's runs in time order: ts (Datetime), pass_pct, failed, tests (the suite drill-down)."""
    return suite_table_rows(runs.filter(pl.col("suite") == suite)).select(
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC").alias("ts"), "pass_pct", "failed", "tests"
    )


def coverage(gates: pl.DataFrame) -> pl.DataFrame:
    """Per repository: latest and mean reported coverage % and how many reports (from gate metrics)."""
    reports = gates.filter(pl.col("coverage_pct").is_not_null()).sort("ts")
    return (
        reports.group_by(pl.col("repository").fill_null("unknown"))
        .agg(
            pl.col("coverage_pct").last().round(1).alias("latest_pct"),
            pl.col("coverage_pct").mean().round(1).alias("mean_pct"),
            pl.len().alias("reports"),
        )
        .sort("repository")
    )


# --- risk matrix ---------------------------------------------------------------------------------------------------


def _level(value: pl.Expr, bounds: tuple[float, float]) -> pl.Expr:
    return pl.when(value < bounds[0]).then(1).when(value < bounds[1]).then(2).otherwise(3)


def risk_matrix(gates: pl.DataFrame, defects: pl.DataFrame) -> pl.DataFrame:
    """Per component (repository): likelihood from its gate failure %, impact from its defects' mean severity.

    likelihood and impact are 1 (low) … 3 (high) by :data:`LIKELIHOOD_LEVELS` and
    :data:`IMPACT_LEVELS`; a component without defects has impact 1; risk = likelihood × impact.
    """
    fail = gates.group_by(pl.col("repository").fill_null("unknown").alias("component")).agg(
        ((~pl.col("passed")).mean() * 100).round(1).alias("gate_fail_pct"), pl.len().alias("gate_runs")
    )
    weight = pl.col("severity").replace_strict(SEVERITY_WEIGHT, default=2, return_dtype=pl.Float64)
    sev = defects.group_by("component").agg(pl.len().alias("defects"), weight.mean().round(2).alias("mean_severity"))
    table = fail.join(sev, on="component", how="full", coalesce=True).with_columns(
        pl.col("gate_runs", "defects").fill_null(0).cast(pl.Int64)
    )
    table = table.with_columns(
        _level(pl.col("gate_fail_pct").fill_null(0.0), LIKELIHOOD_LEVELS).alias("likelihood"),
        _level(pl.col("mean_severity").fill_null(0.0), IMPACT_LEVELS).alias("impact"),
    ).with_columns(
        (pl.col("likelihood") * pl.col("impact")).alias("risk"),
        pl.col("likelihood")
        .replace_strict({1: LEVELS[0], 2: LEVELS[1], 3: LEVELS[2]}, return_dtype=pl.String)
        .alias("likelihood_level"),
        pl.col("impact")
        .replace_strict({1: LEVELS[0], 2: LEVELS[1], 3: LEVELS[2]}, return_dtype=pl.String)
        .alias("impact_level"),
    )
    return table.select(
        "component",
        "gate_fail_pct",
        "gate_runs",
        "defects",
        "mean_severity",
        "likelihood",
        "impact",
        "risk",
        "likelihood_level",
        "impact_level",
    ).sort("risk", "component", descending=[True, False])


def risk_cells(matrix: pl.DataFrame) -> pl.DataFrame:
    """The 3×3 grid: every (likelihood, impact) level pair with its component count and names."""
    grid = pl.DataFrame(
        {
            "likelihood_level": [lv for lv in LEVELS for _ in LEVELS],
            "impact_level": [lv for _ in LEVELS for lv in LEVELS],
        }
    )
    counts = matrix.group_by("likelihood_level", "impact_level").agg(
        pl.len().cast(pl.Int64).alias("components"), pl.col("component").sort().str.join(", ").alias("names")
    )
    return grid.join(counts, on=["likelihood_level", "impact_level"], how="left").with_columns(
        pl.col("components").fill_null(0), pl.col("names").fill_null("")
    )


# --- reading the store ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityData:
    """Everything the QA page draws from, for one window and filter set."""

    gates: pl.DataFrame
    defects: pl.DataFrame
    compliance_events: pl.DataFrame
    runs: pl.DataFrame


def load_quality(
    engine: Engine,
    start_ms: int,
    end_ms: int,
    filters: Mapping[str, str],
    *,
    defect_lookback_ms: int = 7 * 24 * HOUR_MS,
    settings: Settings | None = None,
) -> QualityData:
    """Gate runs, defects (findings from ``defect_lookback_ms`` before the range, so resolutions pair up),
    compliance checks and JUnit runs for [start, end), with the page filters applied."""

    def read(types: tuple[str, ...], lo: int) -> pl.DataFrame:
        return apply_filters(within(load_events(engine, types, lo, end_ms, settings=settings), lo, end_ms), filters)

    gates = gate_frame(read(GATE_EVENTS, start_ms))
    defects = defect_frame(read(DEFECT_EVENTS, start_ms - defect_lookback_ms))
    defects = defects.filter(pl.col("found_ts").fill_null(start_ms) >= start_ms - defect_lookback_ms)
    runs = apply_filters(
        within(load_test_runs(engine, start_ms, end_ms, settings=settings), start_ms, end_ms),
        {"component": filters.get("component", "")},
    )
    return QualityData(gates, defects, read((COMPLIANCE_EVENT,), start_ms), runs)


def gate_time_percentiles(
    engine: Engine, gate: str, start_ms: int, end_ms: int, filters: Mapping[str, str], settings: Settings | None = None
) -> pl.DataFrame:
    """One gate's execution-time p50/p90/p95/p99 over the range, from the query layer (drill-down)."""
    pct = event_percentiles(
        engine,
        GATE_EXECUTED,
        "metrics.execution_time",
        start_ms,
        end_ms,
        by="gate_name",
        settings=settings,
        where=filters,
    )
    return pct.filter(pl.col("gate_name") == gate) if not pct.is_empty() else pct


def filter_options(
    engine: Engine, start_ms: int, end_ms: int, settings: Settings | None = None
) -> dict[str, list[str]]:
    """Values the page filters offer: repositories and components of the range's quality events and JUnit runs."""
    events = load_events(engine, (*GATE_EVENTS, *DEFECT_EVENTS, COMPLIANCE_EVENT), start_ms, end_ms, settings=settings)
    runs = load_test_runs(engine, start_ms, end_ms, settings=settings)
    components = sorted(set(filter_values(events, "component")) | set(filter_values(runs, "component")))
    return {
        "component": components,
        "team": filter_values(events, "team"),
        "repository": filter_values(events, "repository"),
    }
