"""Test results from stored JUnit test cases: failing tests, when they started failing, flaky and slow tests.

The QA page's "Test results" section reads these. Every function but the two loaders is a
pure function over a *case history*: one row per executed test case of the newest runs of
each suite (:func:`load_case_history`, columns :data:`CASE_SCHEMA`). A test is identified
within its suite by ``classname`` and ``name`` (``test`` joins them for display).

Definitions (also in docs/qa.md, "Test results"):

- **failing**: failed or error in its suite's newest run. Its *current streak* starts at the
  first failing run after its last pass (skips neither break nor extend a streak); *first
  failed* is its earliest stored failure, over the whole store, not only the range.
- **flaky**: it passed and failed on the same commit (runs pushed with ``commit``), or its
  outcome (pass, or fail/error) flipped at least :data:`FLAKY_MIN_FLIPS` times between
  consecutive runs in which it ran. ``flake_rate`` = flips / (runs − 1): 1.0 for a test that
  alternates every run, 0 for a steady one. A test that broke once and was fixed flips twice
  and is not called flaky by flips alone; one that failed, passed and failed again is.
- **duration regression**: its duration in its suite's newest run is at least
  :data:`REGRESSION_FACTOR` × the median of its previous :data:`REGRESSION_RUNS` runs, and at
  least :data:`REGRESSION_FLOOR_MS` longer (a 2 ms test taking 5 ms is noise, not a
  regression); at least :data:`REGRESSION_MIN_RUNS` previous runs are needed.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.kpis.quality import suite_table_rows
from core.store import schema

FAILED = ("failed", "error")
HISTORY_RUNS = 30  # newest runs per suite read into a case history
FLAKY_MIN_FLIPS = 3
REGRESSION_FACTOR = 2.0
REGRESSION_RUNS = 10
REGRESSION_MIN_RUNS = 3
REGRESSION_FLOOR_MS = 200.0
SLOWEST = 15
_CHUNK = 500  # run ids per IN (...) query

CASE_SCHEMA = pl.Schema(
    {
        "run_id": pl.Int64(),
        "ts": pl.Int64(),
        "suite": pl.String(),
        "component": pl.String(),
        "source": pl.String(),
        "run_no": pl.Int64(),  # 1 = the suite's oldest run in the history
        "commit": pl.String(),  # the commit the run tested; null when it was not pushed with one
        "classname": pl.String(),
        "name": pl.String(),
        "test": pl.String(),
        "status": pl.String(),
        "duration_s": pl.Float64(),
        "message": pl.String(),
    }
)
KEY = ("suite", "classname", "name")


def _utc(column: str) -> pl.Expr:
    return pl.from_epoch(column, time_unit="ms").dt.replace_time_zone("UTC")


def newest_runs(runs: pl.DataFrame, per_suite: int = HISTORY_RUNS) -> pl.DataFrame:
    """The newest ``per_suite`` runs of each suite in ``runs`` (a core.kpis.records.load_test_runs frame),
    with ``run_no`` counting them from 1 (oldest) per suite."""
    return (
        runs.sort("ts", "id")
        .filter(pl.int_range(pl.len(), 0, -1).over("suite") <= per_suite)
        .with_columns(pl.int_range(1, pl.len() + 1).over("suite").cast(pl.Int64).alias("run_no"))
    )


def load_case_history(engine: Engine, runs: pl.DataFrame, per_suite: int = HISTORY_RUNS) -> pl.DataFrame:
    """The test cases of the newest ``per_suite`` runs of each suite in ``runs`` (:data:`CASE_SCHEMA`).

    ``runs`` is the page's windowed, filtered run frame, so the history follows the range and the
    component filter; only the cases of at most ``per_suite`` runs per suite are read.
    """
    chosen = newest_runs(runs, per_suite)
    c, r = schema.test_cases, schema.test_runs
    rows: list[tuple[object, ...]] = []
    ids = chosen["id"].to_list()
    with engine.connect() as connection:
        for start in range(0, len(ids), _CHUNK):
            query = (
                sa.select(c.c.run_id, r.c.commit, c.c.classname, c.c.name, c.c.status, c.c.duration_s, c.c.message)
                .join(r, r.c.id == c.c.run_id)
                .where(c.c.run_id.in_(ids[start : start + _CHUNK]))
            )
            rows.extend(tuple(row) for row in connection.execute(query))
    cases = pl.DataFrame(
        rows,
        schema={
            "run_id": pl.Int64,
            "commit": pl.String,
            "classname": pl.String,
            "name": pl.String,
            "status": pl.String,
            "duration_s": pl.Float64,
            "message": pl.String,
        },
        orient="row",
    )
    return (
        cases.join(
            chosen.select(pl.col("id").alias("run_id"), "ts", "suite", "component", "source", "run_no"), on="run_id"
        )
        .with_columns(case_id(pl.col("classname"), pl.col("name")).alias("test"))
        .select(CASE_SCHEMA.names())
        .cast(CASE_SCHEMA)
        .sort("suite", "run_no", "classname", "name", nulls_last=True)
    )


def case_id(classname: pl.Expr, name: pl.Expr) -> pl.Expr:
    """``classname.name``, or ``name`` when the report gave no classname."""
    return (
        pl.when(classname.is_null() | (classname == ""))
        .then(name)
        .otherwise(pl.concat_str(classname, name, separator="."))
    )


def _history(cases: pl.DataFrame) -> pl.DataFrame:
    """Runs in which each test ran (skips dropped), oldest first, with ``fail`` and ``passes`` (passes so far)."""
    return (
        cases.filter(pl.col("status") != "skipped")
        .sort("suite", "classname", "name", "run_no", nulls_last=True)
        .with_columns(pl.col("status").is_in(FAILED).alias("fail"))
        .with_columns((~pl.col("fail")).cast(pl.Int64).cum_sum().over(KEY, order_by="run_no").alias("passes"))
    )


def latest_run_cases(cases: pl.DataFrame) -> pl.DataFrame:
    """The cases of each suite's newest run in the history."""
    return cases.filter(pl.col("run_no") == pl.col("run_no").max().over("suite"))


def split_message(message: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """A stored failure text as (message, trace): its first line, and the lines after it ("" when none)."""
    parts = message.fill_null("").str.splitn("\n", 2)
    return parts.struct.field("field_0"), parts.struct.field("field_1").fill_null("").str.strip_chars()


def failing_tests(cases: pl.DataFrame, first_failures: pl.DataFrame | None = None) -> pl.DataFrame:
    """Tests failing in their suite's newest run, the newest breakage first (then by suite and test).

    Columns: suite, test, classname, name, status, message, trace, failing_since (first run of the current
    streak), streak_runs (failing runs in a row), first_failed (earliest stored failure: ``first_failures``
    from :func:`load_first_failures`, else the earliest in ``cases``), run_id, run_time, duration_s.
    """
    history = _history(cases)
    streak = (
        history.filter(pl.col("fail") & (pl.col("passes") == pl.col("passes").max().over(KEY)))
        .group_by(KEY)
        .agg(pl.col("ts").min().alias("since_ts"), pl.len().cast(pl.Int64).alias("streak_runs"))
    )
    earliest = history.filter("fail").group_by(KEY).agg(pl.col("ts").min().alias("first_ts"))
    if first_failures is not None:
        earliest = (
            earliest.join(first_failures, on=KEY, how="left", nulls_equal=True)
            .with_columns(pl.min_horizontal("first_ts", "stored_first_ts").alias("first_ts"))
            .drop("stored_first_ts")
        )
    now_failing = latest_run_cases(cases).filter(pl.col("status").is_in(FAILED))
    message, trace = split_message(pl.col("message"))
    return (
        now_failing.join(streak, on=KEY, how="left", nulls_equal=True)
        .join(earliest, on=KEY, how="left", nulls_equal=True)
        .sort(["since_ts", "suite", "test"], descending=[True, False, False])
        .select(
            "suite",
            "test",
            "classname",
            "name",
            "status",
            message.alias("message"),
            trace.alias("trace"),
            _utc("since_ts").alias("failing_since"),
            "streak_runs",
            _utc("first_ts").alias("first_failed"),
            "run_id",
            _utc("ts").alias("run_time"),
            "duration_s",
        )
    )


def load_first_failures(engine: Engine, failing: pl.DataFrame) -> pl.DataFrame:
    """Each test in ``failing`` (suite, classname, name) with ``stored_first_ts``, its earliest stored failure."""
    schema_out = {"suite": pl.String, "classname": pl.String, "name": pl.String, "stored_first_ts": pl.Int64}
    if failing.is_empty():
        return pl.DataFrame(schema=schema_out)
    r, c = schema.test_runs, schema.test_cases
    query = (
        sa.select(r.c.suite, c.c.classname, c.c.name, sa.func.min(r.c.ts))
        .join(r, r.c.id == c.c.run_id)
        .where(
            c.c.status.in_(FAILED),
            r.c.suite.in_(failing["suite"].unique().to_list()),
            c.c.name.in_(failing["name"].unique().to_list()),
        )
        .group_by(r.c.suite, c.c.classname, c.c.name)
    )
    with engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query)]
    found = pl.DataFrame(rows, schema=schema_out, orient="row")
    return found.join(failing.select(KEY).unique(), on=KEY, how="semi", nulls_equal=True)


def flaky_tests(cases: pl.DataFrame, min_flips: int = FLAKY_MIN_FLIPS) -> pl.DataFrame:
    """Tests whose outcome flipped at least ``min_flips`` times over the runs they ran in, or that passed and
    failed on the same commit; flakiest first.

    Columns: suite, test, classname, name, runs, failures, flips, flake_rate (flips / (runs − 1)),
    mixed_commits (commits on which the test both passed and failed), last_status, last_run.
    """
    history = _history(cases)
    mixed = (
        history.filter(pl.col("commit").is_not_null())
        .group_by(*KEY, "commit")
        .agg(pl.col("fail").any().alias("failed"), (~pl.col("fail")).any().alias("passed"))
        .group_by(KEY)
        .agg((pl.col("failed") & pl.col("passed")).sum().cast(pl.Int64).alias("mixed_commits"))
    )
    flips = (
        history.with_columns(
            (pl.col("fail") != pl.col("fail").shift(1)).over(KEY, order_by="run_no").fill_null(False).alias("flip")
        )
        .group_by(KEY)
        .agg(
            pl.col("test").first(),
            pl.len().cast(pl.Int64).alias("runs"),
            pl.col("fail").sum().cast(pl.Int64).alias("failures"),
            pl.col("flip").sum().cast(pl.Int64).alias("flips"),
            pl.col("status").last().alias("last_status"),
            pl.col("ts").last().alias("last_ts"),
        )
    )
    return (
        flips.join(mixed, on=KEY, how="left", nulls_equal=True)
        .with_columns(pl.col("mixed_commits").fill_null(0))
        .filter((pl.col("flips") >= min_flips) | (pl.col("mixed_commits") > 0))
        .with_columns((pl.col("flips") / (pl.col("runs") - 1)).round(3).alias("flake_rate"))
        .sort(["flake_rate", "flips", "suite", "test"], descending=[True, True, False, False])
        .select(
            "suite",
            "test",
            "classname",
            "name",
            "runs",
            "failures",
            "flips",
            "flake_rate",
            "mixed_commits",
            "last_status",
            _utc("last_ts").alias("last_run"),
        )
    )


def slowest_tests(cases: pl.DataFrame, limit: int = SLOWEST) -> pl.DataFrame:
    """The ``limit`` longest test cases of each suite's newest run: suite, test, status, duration_s."""
    return (
        latest_run_cases(cases)
        .filter(pl.col("status") != "skipped")
        .sort(["suite", "duration_s"], descending=[False, True])
        .filter(pl.int_range(pl.len()).over("suite") < limit)
        .select("suite", "test", "status", "duration_s")
    )


def duration_regressions(
    cases: pl.DataFrame,
    *,
    previous: int = REGRESSION_RUNS,
    factor: float = REGRESSION_FACTOR,
    floor_ms: float = REGRESSION_FLOOR_MS,
    min_runs: int = REGRESSION_MIN_RUNS,
) -> pl.DataFrame:
    """Tests of each suite's newest run that took ``factor`` × their median of the ``previous`` runs before, and at
    least ``floor_ms`` more; biggest slow-down first.

    Columns: suite, test, classname, name, duration_s, median_s (of the previous runs), previous_runs, slowdown (×).
    """
    ran = cases.filter(pl.col("status") != "skipped").sort("suite", "classname", "name", "run_no", nulls_last=True)
    ran = ran.with_columns(
        pl.int_range(pl.len(), 0, -1).over(KEY, order_by="run_no").alias("from_end"),  # 1 = the test's newest run
        (pl.col("run_no") == pl.col("run_no").max().over("suite")).alias("in_latest"),
    )
    latest = ran.filter(pl.col("from_end") == 1, pl.col("in_latest"))
    before = (
        ran.filter(pl.col("from_end").is_between(2, previous + 1))
        .group_by(KEY)
        .agg(pl.col("duration_s").median().alias("median_s"), pl.len().cast(pl.Int64).alias("previous_runs"))
    )
    return (
        latest.join(before, on=KEY, nulls_equal=True)
        .filter(
            pl.col("previous_runs") >= min_runs,
            pl.col("duration_s") >= factor * pl.col("median_s"),
            (pl.col("duration_s") - pl.col("median_s")) * 1000 >= floor_ms,
        )
        .with_columns(
            pl.when(pl.col("median_s") > 0).then((pl.col("duration_s") / pl.col("median_s")).round(1)).alias("slowdown")
        )
        .sort(["slowdown", "duration_s"], descending=True, nulls_last=False)
        .select("suite", "test", "classname", "name", "duration_s", "median_s", "previous_runs", "slowdown")
    )


def pass_rate_trend(runs: pl.DataFrame, per_suite: int = HISTORY_RUNS) -> pl.DataFrame:
    """Pass % of every suite's newest ``per_suite`` runs over time: ts (Datetime UTC), suite, pass_pct, failed,
    tests — pass % is passed over executed (tests − skipped), as on the suite table."""
    return suite_table_rows(newest_runs(runs, per_suite)).select(
        _utc("ts").alias("ts"), "suite", "pass_pct", pl.col("failed").cast(pl.Int64), "tests"
    )
