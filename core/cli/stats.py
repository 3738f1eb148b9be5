"""``python -m core.cli stats show|summary|report``: the migration's health from a terminal.

* ``show`` — the newest migration operations (batches, phase reports, issues, rollbacks, timings);
* ``summary`` — health and the figures behind it, as aligned tables, or JSON with ``--json``;
* ``report --out report.html`` — the same as one static HTML file with no external resources
  (core/cli/report.py), to attach to a mail or open without a server.

Every command reads the store the settings name (``PULSEBOARD_DATABASE_URL`` or ``--database-url``)
and calls core.programmes.migration_store.load_view, the function behind the Migration page. A
problem is one line on stderr and an exit code a script can test: 1 no migration data (an empty
store, or nothing in the range), 2 a bad argument, range or plan file, 3 no store (a missing SQLite
file, an unreachable server, a database without Pulseboard's tables).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import ConfigError, Settings, get_settings, redact_url_passwords
from core.programmes.migration import ACTIVITY_TYPES, STATE_TYPES, MigrationView, recent_operations
from core.programmes.migration_plan import Plan, PlanError, load_plan
from core.programmes.migration_store import has_store_schema, load_events, load_view, newest_migration_ms
from core.query.timewindow import RANGES, window
from core.store import make_engine

NO_DATA, USAGE, NO_STORE = 1, 2, 3


class Problem(Exception):
    """A failure to report as one line with an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parser(extra: Callable[[Any], None] | None = None, stats_prog: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``stats_prog`` names the ``stats`` command in its usage lines (the console script's name)."""
    top = argparse.ArgumentParser(prog="python -m core.cli", description="Pulseboard command-line tools.")
    commands = top.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("stats", help="migration health from the store (docs/migration.md)", prog=stats_prog)
    actions = stats.add_subparsers(dest="action", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--range", default=None, help=f"time range ending now: {', '.join(RANGES)} (default 7d)")
    common.add_argument("--from", dest="since", default=None, help="first UTC day (YYYY-MM-DD), with --to")
    common.add_argument("--to", dest="until", default=None, help="last UTC day (YYYY-MM-DD), with --from")
    common.add_argument("--database-url", default=None, help="store URL (default: PULSEBOARD_DATABASE_URL)")
    common.add_argument("--plan", default=None, help="migration plan file (default: the configured one); 'none'")
    show = actions.add_parser("show", parents=[common], help="list the newest migration operations")
    show.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    show.add_argument("--type", action="append", default=[], help="only these types, e.g. batch_completed")
    show.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    summary = actions.add_parser("summary", parents=[common], help="overall statistics")
    summary.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    report = actions.add_parser("report", parents=[common], help="write a self-contained HTML report")
    report.add_argument("--out", required=True, type=Path, help="the HTML file to write")
    if extra is not None:
        extra(commands)  # more commands of the family (core/cli/main.py adds `report`)
    return top


def main(argv: Sequence[str] | None = None, stats_prog: str | None = None) -> int:
    """Run one command; returns the exit code (0 on success)."""
    args = parser(stats_prog=stats_prog).parse_args(argv)
    try:
        return run(args)
    except Problem as problem:
        print(f"{args.command}: {problem}", file=sys.stderr)
        return problem.code


def run(args: argparse.Namespace) -> int:
    try:
        settings = get_settings()
    except ConfigError as error:
        raise Problem(f"configuration: {str(error).splitlines()[0]}", USAGE) from None
    start_ms, end_ms = time_range(args.range, args.since, args.until)
    plan, plan_file = read_plan(args.plan, settings)
    engine = open_store(args.database_url or settings.resolved_database_url)
    try:
        if newest_migration_ms(engine) is None and not _has_runs(engine):
            raise Problem("the store holds no migration data yet (send migration.* events: docs/migration.md)", NO_DATA)
        if args.action == "show":
            return show(engine, settings, start_ms, end_ms, args)
        view = load_view(engine, start_ms=start_ms, end_ms=end_ms, plan=plan, plan_file=plan_file, settings=settings)
        if not view.has_data:
            raise Problem(
                f"no migration data between {_day(start_ms)} and {_day(end_ms)}; try a longer --range", NO_DATA
            )
        if args.action == "summary":
            print(json.dumps(view.summary(), indent=2, default=str) if args.json else summary_text(view))
            return 0
        from core.cli.report import html_report

        try:
            args.out.write_text(html_report(view), encoding="utf-8")
        except OSError as error:
            raise Problem(f"cannot write {args.out}: {error.strerror or error}", USAGE) from None
        print(f"wrote {args.out}")
        return 0
    except sa.exc.SQLAlchemyError as error:
        raise Problem(f"cannot read the store: {_first_line(error)}", NO_STORE) from None
    finally:
        engine.dispose()


def time_range(key: str | None, since: str | None, until: str | None, now: int | None = None) -> tuple[int, int]:
    """[start, end) in epoch ms from ``--range`` or ``--from``/``--to``; Problem (exit 2) when they make no range."""
    if (since is None) != (until is None):
        raise Problem("give both --from and --to (UTC days, YYYY-MM-DD)", USAGE)
    if since is not None and until is not None:
        if key is not None:
            raise Problem("give --range or --from/--to, not both", USAGE)
        try:
            first, last = date.fromisoformat(since), date.fromisoformat(until)
        except ValueError:
            raise Problem(f"bad date in --from {since} / --to {until}: use YYYY-MM-DD", USAGE) from None
        if first > last:
            raise Problem(f"--from {since} is after --to {until}", USAGE)
        if first > datetime.now(UTC).date():
            raise Problem(f"--from {since} is in the future", USAGE)
        win = window("custom", now, (first, last))
        return win.start_ms, win.end_ms
    key = key or "7d"
    if key not in RANGES:
        raise Problem(f"bad --range {key!r}: use one of {', '.join(RANGES)}, or --from/--to", USAGE)
    win = window(key, now)
    return win.start_ms, win.end_ms


def read_plan(option: str | None, settings: Settings) -> tuple[Plan | None, str | None]:
    """The plan named by ``--plan`` (or the configured one); 'none' skips it. A bad plan is a Problem (exit 2)."""
    if option is not None and option.lower() == "none":
        return None, None
    path = Path(option) if option else settings.migration_plan_file
    if option and not Path(option).is_file():
        raise Problem(f"no plan file at {option}", USAGE)
    try:
        plan = load_plan(path)
    except PlanError as error:
        raise Problem(f"plan: {error}", USAGE) from None
    return plan, str(path) if plan is not None else None


def open_store(url: str) -> Engine:
    """An engine on an existing Pulseboard store; Problem (exit 3) when there is none. Never creates one."""
    shown = redact_url_passwords(url)
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise Problem(f"no store at {shown} (set PULSEBOARD_DATABASE_URL or --database-url)", NO_STORE)
    try:
        engine = make_engine(url, lock_timeout_s=5.0)
        if not has_store_schema(engine):
            engine.dispose()
            raise Problem(f"{shown} is not a Pulseboard store (no events table)", NO_STORE)
    except sa.exc.SQLAlchemyError as error:
        raise Problem(f"cannot reach the store at {shown}: {_first_line(error)}", NO_STORE) from None
    except ValueError as error:  # an unparseable URL
        raise Problem(f"bad store URL {shown}: {error}", NO_STORE) from None
    return engine


def _has_runs(engine: Engine) -> bool:
    from core.store import schema

    with engine.connect() as connection:
        return connection.scalar(sa.select(schema.test_runs.c.id).limit(1)) is not None


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return redact_url_passwords(text.strip().splitlines()[0] if text.strip() else type(error).__name__)


def show(engine: Engine, settings: Settings, start_ms: int, end_ms: int, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise Problem("--limit must be at least 1", USAGE)
    events = pl.concat(
        [
            load_events(engine, STATE_TYPES, start_ms, end_ms + 1, settings),
            load_events(engine, ACTIVITY_TYPES, start_ms, end_ms + 1, settings),
        ]
    )
    kinds = tuple(t.removeprefix("migration.") for t in args.type)
    rows = recent_operations(events, args.limit, kinds)
    if rows.is_empty():
        what = f" of type {', '.join(kinds)}" if kinds else ""
        raise Problem(f"no migration operations{what} between {_day(start_ms)} and {_day(end_ms)}", NO_DATA)
    rows = rows.with_columns(pl.col("ts").map_elements(_iso, return_dtype=pl.String).alias("time")).drop("ts")
    rows = rows.select("time", "type", "subject", "detail")
    if args.json:
        for row in rows.iter_rows(named=True):
            print(json.dumps(row))
    else:
        print(table(rows.rows(), ["time", "type", "subject", "detail"]))
    return 0


# --- text output -----------------------------------------------------------------------------------------------------


def _iso(ms: int | None) -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _day(ms: int | None) -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _interval(view: MigrationView) -> str:
    """'2026-03-10 – 2026-03-21', 'from 2026-03-10 (no upper bound)', or why there is none."""
    if view.eta_low_ms is None or view.eta_interval == "completed":
        return view.eta_interval or "—"
    if view.eta_high_ms is None:
        return f"from {_day(view.eta_low_ms)} (no upper bound)"
    return f"{_day(view.eta_low_ms)} – {_day(view.eta_high_ms)}"


def _num(value: Any, fmt: str = "{:,.1f}", suffix: str = "") -> str:
    return "—" if value is None else fmt.format(value) + suffix


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as aligned columns under a header and a rule; numbers right-aligned, text left-aligned."""
    cells = [[("—" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) or row[i] is None for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def summary_text(view: MigrationView) -> str:
    """The summary as plain text: a key/value block, then phases, performance and test suites as tables."""
    b = view.batches
    open_issues = view.summary()["open_issues"]
    assert isinstance(open_issues, dict)
    slip = "" if view.slip_days is None else f"  ({view.slip_days:+.1f} days vs plan)"
    week = f"  (week {view.week} of {view.weeks_total})" if view.week else ""
    headline = [
        ("health", view.health.upper()),
        *((f"  {f.level}", f.message) for f in view.findings),
        ("progress", _num(view.progress_pct, suffix=" %") + week),
        ("planned end", _day(view.planned_end_ms)),
        ("estimated end", _day(view.eta_ms) + slip),
        ("80 % interval", _interval(view)),
        (
            "success rate",
            _num(b["success_rate_pct"], "{:.2f}", " %")
            + f"  ({b['batches']:,} batches, {b['records']:,} records, {b['failed']:,} failed)",
        ),
        ("datasets", f"{b['datasets']} touched" + (f" of {view.datasets_total}" if view.datasets_total else "")),
        ("components", f"{view.components_done} of {view.components_total} migrated"),
        ("rollbacks", str(view.rollbacks.height)),
        ("blockers", str(view.blockers.height)),
        ("open issues", " · ".join(f"{k} {v}" for k, v in open_issues.items())),
        (
            "performance Δ",
            _num(view.perf_delta_pct, "{:+.1f}", " %")
            + f"  (median time, new vs old, mean over {view.performance.height} operations; "
            f"{view.regressions} regression(s))",
        ),
    ]
    width = max(len(k) for k, _ in headline)
    title = f"{view.name} — migration health, {_iso(view.start_ms)} → {_iso(view.now_ms)} UTC"
    parts = [title, "=" * len(title), *(f"{k.ljust(width)}  {v}" for k, v in headline)]
    if view.plan_file:
        parts.append(f"{'plan'.ljust(width)}  {view.plan_file}")
    if view.phases.height:
        rows = [
            (
                r["name"],
                r["status"].replace("_", " "),
                r["progress"],
                _day(r["planned_end_ms"]),
                _day(r["forecast_end_ms"]),
                r["delay_days"],
            )
            for r in view.phases.iter_rows(named=True)
        ]
        parts += ["", table(rows, ["phase", "status", "progress %", "planned end", "forecast end", "delay (d)"])]
    if view.performance.height:
        perf_rows = [
            (
                r["operation"],
                r["source"],
                r["old_n"],
                r["new_n"],
                _round(r["old_p50"]),
                _round(r["new_p50"]),
                r["delta_p50_pct"],
                _p(r["p_value"]),
                r["verdict"],
            )
            for r in view.performance.iter_rows(named=True)
        ]
        headers = ["operation", "source", "old n", "new n", "old p50 s", "new p50 s", "Δ p50 %", "p", "verdict"]
        parts += ["", table(perf_rows, headers)]
    if view.suites.height:
        suite_rows = [
            (r["suite"], r["pass_pct"], r["failed"], r["tests"], r["time_s"], r["status"])
            for r in view.suites.iter_rows(named=True)
        ]
        parts += ["", table(suite_rows, ["suite", "pass %", "failed", "tests", "time s", "status"])]
    return "\n".join(parts)


def _p(value: float | None) -> str | None:
    return None if value is None else "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
