"""The Migration page's widget data: a MigrationView shaped into the frames its widgets draw.

Pure (no Streamlit), so the page stays a list of widgets and a test can check what each shows.
Words over codes: ``in_progress`` reads "in progress", health reads with a mark as well as a
colour, times read as UTC dates.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from core.programmes.migration import MigrationView
from core.programmes.migration_live import Live, LiveMetric
from core.programmes.migration_resources import HostUse, top
from core.programmes.migration_store import Resources
from core.ui.widgets import KpiValue

HEALTH_MARK = {"healthy": "✓", "degraded": "⚠", "failing": "✗"}
HEALTH_BADGE = {"healthy": "green", "at risk": "orange", "critical": "red", "no data": "gray"}
HEALTH_ICON = {  # a shape as well as a colour
    "healthy": ":material/check_circle:",
    "at risk": ":material/warning:",
    "critical": ":material/error:",
    "no data": ":material/help:",
}


def _dt(column: str) -> pl.Expr:
    return pl.from_epoch(pl.col(column), time_unit="ms").dt.replace_time_zone("UTC")


def day(ms: int | None) -> str:
    """A UTC date, or — ."""
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%d %b %Y")


def day_range(low_ms: int, high_ms: int | None) -> str:
    """'10–21 Mar 2026', '28 Feb – 21 Mar 2026', '28 Dec 2026 – 04 Jan 2027', one day alone, or 'from 10 Mar 2026'
    without an upper bound: the interval as short as it reads unambiguously."""
    if high_ms is None:
        return f"from {day(low_ms)}"
    low, high = (datetime.fromtimestamp(ms / 1000, UTC) for ms in (low_ms, high_ms))
    if low.date() == high.date():
        return day(low_ms)
    if (low.year, low.month) == (high.year, high.month):
        return f"{low:%d}–{day(high_ms)}"
    if low.year == high.year:
        return f"{low:%d %b} – {day(high_ms)}"
    return f"{day(low_ms)} – {day(high_ms)}"


def eta_text(view: MigrationView) -> str:
    """'14 Mar 2026 (80 %: 10–21 Mar 2026)': the estimated completion with its interval, '(no interval yet)' when the
    progress reports do not give one (docs/migration.md, "Forecast"), the date alone once the migration is done."""
    if view.eta_ms is None:
        return "—"
    if view.eta_low_ms is None:
        return f"{day(view.eta_ms)} (no interval yet)"
    if view.eta_interval == "completed":
        return day(view.eta_ms)
    return f"{day(view.eta_ms)} (80 %: {day_range(view.eta_low_ms, view.eta_high_ms)})"


def roadmap(view: MigrationView) -> pl.DataFrame:
    """Long frame for the ``roadmap`` widget: planned and forecast bars per phase, milestones, today, and the
    dependencies between phases (:func:`links`).

    The row label carries the status and progress ("Abstraction · 61 % · late"), so it is read
    without the colours.
    """
    phases = view.phases
    if phases.is_empty():
        return pl.DataFrame()
    state = (
        pl.when(pl.col("status") == "completed")
        .then(pl.lit("completed"))
        .when(pl.col("status") == "blocked")
        .then(pl.lit("blocked"))
        .when(pl.col("delay_days") > 0)
        .then(pl.lit("late"))
        .when(pl.col("status") == "not_started")
        .then(pl.lit("planned"))
        .otherwise(pl.lit("in progress"))
    )
    named = phases.with_columns(
        state.alias("state"),
    ).with_columns(
        pl.format("{} · {} %", pl.col("name"), pl.col("progress").round(0).cast(pl.Int64)).alias("task"),
        pl.when(pl.col("delay_days") > 0.05)
        .then(pl.format("forecast {} days late", pl.col("delay_days").round(1)))
        .when(pl.col("delay_days") < -0.05)
        .then(pl.format("forecast {} days early", (-pl.col("delay_days")).round(1)))
        .otherwise(pl.lit("on plan"))
        .alias("timing"),
        pl.col("depends_on").list.join(", ").alias("deps"),
    )
    detail = pl.concat_str(
        [
            pl.col("timing"),
            pl.when(pl.col("deps") != "").then(pl.format("after {}", pl.col("deps"))),
            pl.format("risk {}", pl.col("risk")),
        ],
        separator=" · ",
        ignore_nulls=True,
    )
    planned = named.filter(pl.col("planned_start_ms").is_not_null() & pl.col("planned_end_ms").is_not_null()).select(
        "task",
        pl.lit("planned").alias("kind"),
        _dt("planned_start_ms").alias("start"),
        _dt("planned_end_ms").alias("end"),
        pl.lit("planned").alias("status"),
        pl.format("planned · {}", detail).alias("detail"),
    )
    forecast = named.filter(pl.col("forecast_start_ms").is_not_null() & pl.col("forecast_end_ms").is_not_null()).select(
        "task",
        pl.lit("forecast").alias("kind"),
        _dt("forecast_start_ms").alias("start"),
        _dt("forecast_end_ms").alias("end"),
        pl.col("state").alias("status"),
        detail.alias("detail"),
    )
    tasks = dict(zip(phases["id"].to_list(), named["task"].to_list(), strict=True))
    marks = view.milestones.filter(pl.col("phase").is_in(list(tasks))).select(
        pl.col("phase").replace_strict(tasks, return_dtype=pl.String).alias("task"),
        pl.lit("milestone").alias("kind"),
        _dt("due_ms").alias("start"),
        _dt("due_ms").alias("end"),
        pl.col("status"),
        pl.col("name").alias("detail"),
    )
    now = pl.DataFrame({"ts": [view.now_ms]}).select(
        pl.lit(named["task"][0]).alias("task"),
        pl.lit("today").alias("kind"),
        _dt("ts").alias("start"),
        _dt("ts").alias("end"),
        pl.lit("today").alias("status"),
        pl.lit("today").alias("detail"),
    )
    return pl.concat([planned, forecast, marks, now, links(named)], how="diagonal_relaxed")


def links(named: pl.DataFrame) -> pl.DataFrame:
    """One ``link`` row per dependency (finish-to-start): from the prerequisite's end (``from_task``, ``start``) to
    the dependent's start (``task``, ``end``), forecast bars where there are, else planned ones. ``status`` is
    ``overlap`` when the dependent starts before its prerequisite ends (the plan's order was not kept)."""
    ends = named.select(
        pl.col("id").alias("dep"),
        pl.col("task").alias("from_task"),
        pl.col("name").alias("from_name"),
        pl.coalesce("forecast_end_ms", "planned_end_ms").alias("from_ms"),
    )
    pairs = (
        named.select("task", "name", pl.coalesce("forecast_start_ms", "planned_start_ms").alias("to_ms"), "depends_on")
        .explode("depends_on")
        .rename({"depends_on": "dep"})
        .join(ends, on="dep")
        .drop_nulls(["from_ms", "to_ms"])
    )
    overlap = pl.col("to_ms") < pl.col("from_ms")
    return pairs.select(
        "task",
        pl.lit("link").alias("kind"),
        _dt("from_ms").alias("start"),
        _dt("to_ms").alias("end"),
        pl.when(overlap).then(pl.lit("overlap")).otherwise(pl.lit("ok")).alias("status"),
        pl.when(overlap)
        .then(pl.format("{} started before {} ended", pl.col("name"), pl.col("from_name")))
        .otherwise(pl.format("{} after {} (finish to start)", pl.col("name"), pl.col("from_name")))
        .alias("detail"),
        "from_task",
    )


def order(view: MigrationView) -> list[str]:
    """The roadmap's row labels in plan order."""
    frame = roadmap(view)
    if frame.is_empty():
        return []
    return frame.filter(pl.col("kind") == "forecast")["task"].unique(maintain_order=True).to_list() or [
        str(t) for t in frame.filter(pl.col("kind") != "link")["task"].unique(maintain_order=True).to_list()
    ]


def milestones(view: MigrationView) -> pl.DataFrame:
    """Milestones with their phase's name, due date and status."""
    names = dict(zip(view.phases["id"].to_list(), view.phases["name"].to_list(), strict=True))
    return view.milestones.select(
        pl.col("name").alias("Milestone"),
        pl.col("phase").replace_strict(names, default=pl.col("phase"), return_dtype=pl.String).alias("Phase"),
        _dt("due_ms").dt.strftime("%Y-%m-%d").alias("Due"),
        pl.col("status").alias("Status"),
    )


def components(view: MigrationView) -> pl.DataFrame:
    """The component health matrix: old and new health (mark + word + version), migrated %, tests, perf Δ."""
    c = view.components
    if c.is_empty():
        return pl.DataFrame()

    def health(side: str) -> pl.Expr:
        mark = pl.col(f"{side}_health").replace_strict(HEALTH_MARK, default="?", return_dtype=pl.String)
        return (
            pl.when(pl.col(f"{side}_health").is_null())
            .then(pl.lit("—"))
            .otherwise(pl.format("{} {} {}", mark, pl.col(f"{side}_health"), pl.col(f"{side}_version").fill_null("")))
            .str.strip_chars()
        )

    tests = (
        pl.when(pl.col("tests_total").is_null())
        .then(pl.lit("—"))
        .otherwise(
            pl.format("{}/{}", pl.col("tests_passed").fill_null(0).cast(pl.Int64), pl.col("tests_total").cast(pl.Int64))
        )
    )
    perf = (
        pl.when(pl.col("perf_delta_pct").is_null())
        .then(pl.lit("—"))
        .otherwise(
            pl.format(
                "{}{} %",
                pl.when(pl.col("perf_delta_pct") >= 0).then(pl.lit("+")).otherwise(pl.lit("")),
                pl.col("perf_delta_pct").round(1),
            )
        )
    )
    return c.select(
        pl.col("name").alias("Component"),
        health("old").alias("Old"),
        health("new").alias("New"),
        pl.col("migration_pct").alias("Migrated"),
        tests.alias("Tests passed"),
        perf.alias("Perf Δ (+ faster)"),
        (pl.col("error_rate") * 100).round(2).alias("Errors %"),
    )


def issues(view: MigrationView) -> pl.DataFrame:
    """The issues table: open first, most severe first; age in hours; impact."""
    return view.issues.select(
        pl.col("severity").alias("Severity"),
        pl.col("title").alias("Issue"),
        pl.col("component").alias("Component"),
        pl.col("state").alias("State"),
        _dt("detected_ms").dt.strftime("%Y-%m-%d %H:%M").alias("Detected (UTC)"),
        pl.col("age_h").alias("Age (h)"),
        pl.col("impact").alias("Impact"),
        pl.col("issue_id").alias("Id"),
    )


def issues_by_component(view: MigrationView) -> pl.DataFrame:
    """Open issues per component and severity (a bar widget's category / color / value)."""
    open_ = view.issues.filter(pl.col("state") == "open")
    return (
        open_.with_columns(pl.col("component").fill_null("unknown"))
        .group_by("component", "severity")
        .agg(pl.len().cast(pl.Float64).alias("count"))
        .sort("component", "severity")
    )


def suites(view: MigrationView) -> pl.DataFrame:
    """The test-suite grid: pass %, failed, time, the pass % of the last runs, status."""
    return view.suites.select(
        pl.col("suite").alias("Suite"),
        pl.col("pass_pct").alias("Pass %"),
        pl.col("failed").alias("Failed"),
        pl.col("tests").alias("Tests"),
        pl.col("time_s").alias("Time (s)"),
        pl.col("trend").alias("Trend"),
        pl.col("status").alias("Status"),
        _dt("last_ms").dt.strftime("%Y-%m-%d %H:%M").alias("Last run (UTC)"),
    )


def performance_chart(view: MigrationView) -> pl.DataFrame:
    """Δ % of the median per operation for the ``delta`` widget (plus the figures its tooltip shows)."""
    return view.performance.filter(pl.col("delta_p50_pct").is_not_null()).select(
        "operation",
        pl.col("delta_p50_pct").alias("delta_pct"),
        "verdict",
        pl.col("old_p50").round(4).alias("old p50 (s)"),
        pl.col("new_p50").round(4).alias("new p50 (s)"),
        pl.format("{} / {}", "old_n", "new_n").alias("samples old / new"),
        pl.col("p_value").map_elements(_p, return_dtype=pl.String).alias("p"),
    )


def performance_table(view: MigrationView) -> pl.DataFrame:
    """Old vs new per operation: percentiles, mean, std, Δ, sample sizes, p, verdict."""
    p = view.performance

    def pair(stat: str) -> pl.Expr:
        return pl.format("{} / {}", pl.col(f"old_{stat}").round(3), pl.col(f"new_{stat}").round(3)).alias(
            f"{stat} old / new (s)"
        )

    return p.select(
        pl.col("operation").alias("Operation"),
        pl.col("source").alias("From"),
        pair("p50"),
        pair("p95"),
        pair("p99"),
        pair("mean"),
        pair("std"),
        pl.col("delta_p50_pct").alias("Δ p50 %"),
        pl.col("delta_p95_pct").alias("Δ p95 %"),
        pl.col("delta_mean_pct").alias("Δ mean %"),
        pl.format("{} / {}", "old_n", "new_n").alias("n old / new"),
        pl.col("p_value").map_elements(_p, return_dtype=pl.String).alias("p (Mann–Whitney)"),
        pl.col("verdict").alias("Verdict"),
    )


def _p(value: float | None) -> str:
    return "—" if value is None else "< 0.0001" if value < 1e-4 else f"{value:.4f}"


def blockers(view: MigrationView) -> pl.DataFrame:
    """Blockers: blocked phases and open critical issues, oldest first."""
    return view.blockers.sort("since_ms").select(
        pl.col("kind").alias("Kind"),
        pl.col("title").alias("What"),
        pl.col("component").alias("Component"),
        _dt("since_ms").dt.strftime("%Y-%m-%d %H:%M").alias("Since (UTC)"),
    )


def rollbacks(view: MigrationView) -> pl.DataFrame:
    """Rollbacks in the range, newest first."""
    return view.rollbacks.sort("ts", descending=True).select(
        _dt("ts").dt.strftime("%Y-%m-%d %H:%M").alias("When (UTC)"),
        pl.col("what").alias("What"),
        pl.col("component").alias("Component / dataset"),
        pl.col("reason").alias("Reason"),
    )


# --- live metrics and resource use -----------------------------------------------------------------------------------

GB = 1e9
MB = 1e6


def live_kpis(live: Live) -> list[KpiValue]:
    """The four live cards in order — throughput, failed records, operation time (new), memory (GB) — each with its
    previous range and its sparkline."""

    def card(metric: LiveMetric, scale: float = 1.0) -> KpiValue:
        def scaled(value: float | None) -> float | None:
            return None if value is None else value / scale

        trend = metric.trend.with_columns(pl.col("value") / scale) if metric.trend.height > 1 else None
        return KpiValue(scaled(metric.value), scaled(metric.previous), trend)

    return [card(live.throughput), card(live.failures), card(live.latency), card(live.memory, GB)]


def latency_trend(live: Live) -> pl.DataFrame:
    """Median operation time per bucket, one line per system ("old system", "new system")."""
    return live.latency_by_system.with_columns(pl.format("{} system", pl.col("series")).alias("series"))


def host_kpis(resources: Resources) -> list[KpiValue]:
    """Host CPU % and memory % cards: the mean over the range, its sparkline, the peak and the hosts in the note."""

    def card(use: HostUse) -> KpiValue:
        note = "" if use.peak is None else f"Peak {use.peak:.1f} % · {use.hosts} host(s)."
        return KpiValue(use.mean, None, use.trend if use.trend.height > 1 else None, note)

    return [card(resources.cpu), card(resources.memory)]


def _consumer(resources: Resources) -> pl.Expr:
    hosts = resources.consumers["host"].n_unique()
    return (pl.format("{} ({})", pl.col("process"), pl.col("host")) if hosts > 1 else pl.col("process")).alias(
        "process"
    )


def top_cpu(resources: Resources, k: int = 5) -> pl.DataFrame:
    """The ``k`` processes with the most CPU (mean % of one core while among the top), with peak and pids."""
    return top(resources.consumers, "cpu_mean", k).select(
        _consumer(resources),
        pl.col("cpu_mean").round(1).alias("CPU %"),
        pl.col("cpu_peak").round(1).alias("peak %"),
        pl.col("pids").alias("pids"),
    )


def top_memory(resources: Resources, k: int = 5) -> pl.DataFrame:
    """The ``k`` processes with the most resident memory (mean MB while among the top), with peak and pids."""
    return top(resources.consumers, "memory_mean", k).select(
        _consumer(resources),
        (pl.col("memory_mean") / MB).round(1).alias("memory MB"),
        (pl.col("memory_peak") / MB).round(1).alias("peak MB"),
        pl.col("pids").alias("pids"),
    )
