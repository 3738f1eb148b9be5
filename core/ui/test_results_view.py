"""The QA page's "Test results" section: failing, flaky and slow tests, pass-rate trend, re-run and ticket actions.

Figures come from core.kpis.test_results (case history of the newest runs per suite), the re-run
command from core.kpis.rerun_command, tickets from core.alerts.tickets; this module only lays
them out, so pages/qa.py calls :func:`section` with its runs and stays thin. "Open an issue" is
drawn only for viewers with ``open_tickets`` and only when a ticket webhook is configured.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from core.alerts import tickets
from core.auth.access import NotAllowed, can
from core.kpis import test_results as tr
from core.kpis.rerun_command import rerun_command
from core.ui import chrome, export
from core.ui import widgets as w
from core.ui.chrome import PageContext
from core.ui.login import client_address
from core.ui.text import md_escape

ALL = "All suites"
SUITE_PARAM = "test_suite"  # ?test_suite=<suite> opens the section on one suite (ticket links use it)
MAX_DETAILS = 10  # failing tests drawn with their trace (newest breakage first); the table and its export hold all
PASS_TREND = w.TrendConfig(
    title="Pass % per run, each suite (newest runs)",
    y="pass_pct",
    color="suite",
    unit="% passed",
    thresholds=w.Thresholds(warning=95, critical=90, higher_is_worse=False),
    empty="No JUnit runs in this range.",
)
TIME = "YYYY-MM-DD HH:mm"


def _pick_suite(suites: list[str]) -> str:
    asked = st.query_params.get(SUITE_PARAM, ALL)
    options = [ALL, *suites]
    choice = st.selectbox(
        "Suite",
        options,
        index=options.index(asked) if asked in options else 0,
        key="test-results-suite",
        help="Failing, flaky and slow tests of one suite, or of every suite in the range.",
    )
    return str(choice)


def section(ctx: PageContext, runs: pl.DataFrame) -> None:
    """Draw the section for the page's windowed, filtered JUnit ``runs``."""
    chrome.section(
        "Test results",
        f"Per test case, over the newest {tr.HISTORY_RUNS} runs of each suite in the range: what fails now and since "
        "when, what flips between pass and fail, what got slower.",
    )
    history = tr.load_case_history(ctx.engine, runs)
    if history.is_empty():
        chrome.empty(
            "No test cases stored in this range. Send JUnit XML to /api/v1/junit or drop it in the inbox under "
            "junit/<component>/<phase>/."
        )
        return
    suite = _pick_suite(sorted(history["suite"].unique().to_list()))
    cases = history if suite == ALL else history.filter(pl.col("suite") == suite)
    now_failing = tr.failing_tests(cases)
    failing = tr.failing_tests(cases, tr.load_first_failures(ctx.engine, now_failing))
    flaky = tr.flaky_tests(cases)
    regressions = tr.duration_regressions(cases)
    tab_failing, tab_flaky, tab_slow, tab_trend = st.tabs(
        [
            f"Failing ({failing.height})",
            f"Flaky ({flaky.height})",
            f"Slow ({regressions.height} regressed)",
            "Pass-rate trend",
        ]
    )
    with tab_failing:
        _failing(ctx, failing)
    with tab_flaky:
        _flaky(flaky)
    with tab_slow:
        _slow(cases, regressions)
    with tab_trend:
        scope = runs if suite == ALL else runs.filter(pl.col("suite") == suite)
        chrome.widget(PASS_TREND, tr.pass_rate_trend(scope), ctx=ctx)


def _failing(ctx: PageContext, failing: pl.DataFrame) -> None:
    if failing.is_empty():
        st.success("Every test passed (or was skipped) in the newest run of each suite shown.")
        return
    export.table(
        failing,
        "failing-tests",
        hide_index=True,
        width="stretch",
        column_order=("suite", "test", "status", "message", "failing_since", "streak_runs", "first_failed"),
        column_config={
            "message": st.column_config.TextColumn("message", width="large"),
            "failing_since": st.column_config.DatetimeColumn("failing since", format=TIME),
            "streak_runs": st.column_config.NumberColumn("runs in a row", help="Failing runs in a row, newest last."),
            "first_failed": st.column_config.DatetimeColumn(
                "first failed", format=TIME, help="Earliest failure of this test stored, in any range."
            ),
        },
    )
    suites = failing["suite"].n_unique()
    label = "Re-run the failing tests" + (f" ({suites} suites, one command each)" if suites > 1 else "")
    with st.expander(label, icon=":material/replay:", expanded=suites == 1):  # many suites: folded, it is long
        for suite, group in failing.group_by("suite", maintain_order=True):
            rerun = rerun_command(zip(group["classname"].to_list(), group["name"].to_list(), strict=True))
            if rerun.command:
                st.caption(f"{md_escape(str(suite[0]))} · {rerun.runner}, {rerun.tests} test(s)")
                st.code(rerun.command, language="bash", wrap_lines=True)
            else:
                st.caption(f"{md_escape(str(suite[0]))}: no command — {md_escape(rerun.reason)}")
    may_ticket = can(ctx.viewer, "open_tickets") and tickets.configured(ctx.settings)
    shown = failing.head(MAX_DETAILS)
    if failing.height > MAX_DETAILS:
        st.caption(
            f"Traces of the {MAX_DETAILS} newest failures of {failing.height}; pick a suite to narrow the list, or "
            "download them all from the table's Data menu."
        )
    for n, row in enumerate(shown.iter_rows(named=True)):
        with st.expander(f"{row['suite']} · {row['test']} — {row['message'] or row['status']}"[:160]):
            st.caption(
                f"{md_escape(row['suite'])} · {row['status']} · failing {row['streak_runs']} run(s) in a row since "
                f"{_time(row['failing_since'])} · first failed {_time(row['first_failed'])}"
            )
            st.code(row["trace"] or row["message"] or "(no message in the report)", language="text")
            if may_ticket:
                _ticket_button(ctx, row, n)


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "—"


def _ticket_button(ctx: PageContext, row: dict[str, Any], n: int) -> None:
    key = f"ticket-{n}-{row['run_id']}"
    if st.button("Open an issue", key=key, icon=":material/bug_report:", help="Send this failure to the tracker."):
        try:
            ticket = tickets.open_ticket(ctx.engine, ctx.settings, ctx.viewer, row, address=client_address())
        except (tickets.TicketError, NotAllowed) as error:
            st.error(f"Could not open an issue: {md_escape(str(error))}", icon=":material/error:")
        else:
            where = f": {md_escape(ticket.reference)}" if ticket.reference else ""
            st.success(f"Issue opened (HTTP {ticket.status}){where}", icon=":material/check_circle:")


def _flaky(flaky: pl.DataFrame) -> None:
    st.caption(
        "A test is flaky when it passed and failed on the same commit (runs pushed with a commit), or its outcome "
        f"flipped between pass and fail at least {tr.FLAKY_MIN_FLIPS} times over the runs it ran in; flake rate = "
        "flips ÷ (runs − 1), 100 % for a test that alternates every run."
    )
    if flaky.is_empty():
        st.success("No flaky tests: no test flipped that often in the runs shown.")
        return
    export.table(
        flaky,
        "flaky-tests",
        hide_index=True,
        width="stretch",
        column_order=(
            "suite",
            "test",
            "flake_rate",
            "flips",
            "runs",
            "failures",
            "mixed_commits",
            "last_status",
            "last_run",
        ),
        column_config={
            "flake_rate": st.column_config.ProgressColumn("flake rate", min_value=0.0, max_value=1.0, format="percent"),
            "mixed_commits": st.column_config.NumberColumn(
                "same-commit", help="Commits on which the test both passed and failed."
            ),
            "last_status": st.column_config.TextColumn("last result"),
            "last_run": st.column_config.DatetimeColumn("last run", format=TIME),
        },
    )


def _slow(cases: pl.DataFrame, regressions: pl.DataFrame) -> None:
    st.markdown("**Duration regressions** (newest run)")
    st.caption(
        f"Flagged when a test took at least {tr.REGRESSION_FACTOR:g}× the median of its previous "
        f"{tr.REGRESSION_RUNS} runs and at least {tr.REGRESSION_FLOOR_MS:,.0f} ms more "
        f"(at least {tr.REGRESSION_MIN_RUNS} previous runs needed)."
    )
    if regressions.is_empty():
        st.success("No test got markedly slower in the newest run.")
    else:
        export.table(
            regressions,
            "duration-regressions",
            hide_index=True,
            width="stretch",
            column_order=("suite", "test", "duration_s", "median_s", "slowdown", "previous_runs"),
            column_config={
                "duration_s": st.column_config.NumberColumn("now (s)", format="%.3f"),
                "median_s": st.column_config.NumberColumn("median before (s)", format="%.3f"),
                "slowdown": st.column_config.NumberColumn("slower (×)", format="%.1f×"),
                "previous_runs": st.column_config.NumberColumn("runs compared"),
            },
        )
    st.markdown(f"**Slowest tests** (newest run, top {tr.SLOWEST} per suite)")
    export.table(
        tr.slowest_tests(cases),
        "slowest-tests",
        hide_index=True,
        width="stretch",
        column_config={"duration_s": st.column_config.NumberColumn("time (s)", format="%.3f")},
    )
