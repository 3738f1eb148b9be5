"""The "Quality gate thresholds" section: thresholds in force, each project's latest judgement, and the editor.

Shown on the QA page (where qa_lead and admin, who hold ``manage_quality_gates``, edit them) and read-only on
the Developer page, so developers see what their gate runs are judged against. The form is drawn only for
holders of the permission, and core.kpis.gate_thresholds checks it again on save: hiding the form is a
courtesy, the refusal is the server's.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import streamlit as st
from sqlalchemy.engine import Engine

from core.auth.access import NotAllowed, Viewer, can
from core.kpis import gate_thresholds as gt
from core.kpis.quality import GATE_EVENTS
from core.kpis.quality_gates import CRITERIA, DEFAULT_SCOPE, Thresholds, gate_metric_runs, latest_by_project
from core.kpis.records import apply_filters, load_events, within
from core.ui import chrome, export
from core.ui.login import client_address
from core.ui.text import md_escape

NEW_SCOPE = "(new project or team scope)"
SAVED_KEY = "gate-thresholds-saved"  # session state: the note of the last save, shown once after the rerun
HELP = {
    "coverage_min": "Lowest metrics.coverage_percentage a run may report, 0–100. Empty: not checked.",
    "pass_rate_min": "Lowest metrics.pass_rate_percentage (test pass rate), 0–100. Empty: not checked.",
    "defect_density_max": "Highest metrics.defect_density (defects per KLOC), at least 0. Empty: not checked.",
    "review_score_min": "Lowest metrics.review_score (else metrics.score), 0–1. Empty: not checked.",
}


def section(engine: Engine, viewer: Viewer, start_ms: int, end_ms: int, filters: Mapping[str, str]) -> None:
    """Draw the whole section for ``viewer`` over the window [start, end) and the page filters."""
    chrome.section(
        "Quality gate thresholds",
        "Each gate run is judged against the thresholds of its project, else its team, else the default (*). "
        "Every change is a new version, audited.",
    )
    current = gt.current_thresholds(engine)
    export.table(_shown(gt.thresholds_frame(current)), hide_index=True, width="stretch", panel="gate-thresholds")
    events = apply_filters(within(load_events(engine, GATE_EVENTS, start_ms, end_ms), start_ms, end_ms), filters)
    judged = latest_by_project(gate_metric_runs(events), current)
    st.markdown(
        "**Latest evaluation per project** (newest value of each metric in the range, against the thresholds in force)"
    )
    if judged.is_empty():
        chrome.empty("No quality gate runs in this range to judge. Send workflow.quality_gate_* events with metrics.")
    else:
        if judged["team"].null_count() == judged.height:  # no source sends a team: the column would only say None
            judged = judged.drop("team")
        export.table(
            judged,
            hide_index=True,
            width="stretch",
            panel="gate-evaluations",
            column_config={
                "result": st.column_config.TextColumn("result", help="pass, fail, or no data (no checked metric)"),
                "failed": st.column_config.TextColumn("failed criteria"),
                "runs_failing_pct": st.column_config.NumberColumn("runs failing %", format="%.1f"),
            },
        )
    if can(viewer, gt.PERMISSION):
        editor(engine, viewer, current)
    else:
        st.info(
            "Thresholds are managed by the QA lead or an admin (permission `manage_quality_gates`); you can look "
            "but not change.",
            icon=":material/lock:",
        )
    with st.expander("Threshold history"):
        export.table(_shown(gt.history(engine)), hide_index=True, width="stretch", panel="gate-threshold-history")


def _shown(frame: pl.DataFrame) -> pl.DataFrame:
    """Times as UTC text for people."""
    when = pl.from_epoch("changed_ms", time_unit="ms").dt.strftime("%Y-%m-%d %H:%M UTC")
    return frame.with_columns(when.alias("changed")).drop("changed_ms")


def editor(engine: Engine, viewer: Viewer, current: Mapping[str, Thresholds]) -> None:
    """The change form: pick a scope (or name a new one), edit its four thresholds, say why, save."""
    st.markdown("**Change thresholds**")
    if saved_note := st.session_state.pop(SAVED_KEY, None):
        st.success(saved_note)
    picked = st.selectbox("Scope to change", [*current, NEW_SCOPE], key="gate-scope")
    base = current.get(picked, current[DEFAULT_SCOPE])
    with st.form("gate-thresholds"):
        scope = st.text_input("New scope (project:<org/repo> or team:<name>)") if picked == NEW_SCOPE else picked
        columns = st.columns(len(CRITERIA))
        raw = {
            c.key: col.text_input(
                f"{c.label} ({'min' if c.minimum else 'max'})",
                "" if base.value(c.key) is None else f"{base.value(c.key):g}",
                help=HELP[c.key],
                key=f"gate-{c.key}",
            )
            for c, col in zip(CRITERIA, columns, strict=True)
        }
        note = st.text_input("Why (kept in the history)")
        saved = st.form_submit_button("Save thresholds")
    if saved:
        try:
            done = gt.save_thresholds(engine, viewer, scope, raw, note, address=client_address())
            st.session_state[SAVED_KEY] = f"Saved {md_escape(done.scope)} as version {done.version}."
            st.rerun()  # the tables above read the store before the form: draw them again with the new version
        except (ValueError, NotAllowed) as error:
            st.error(f"Refused: {md_escape(error)}")
    if picked not in (DEFAULT_SCOPE, NEW_SCOPE) and st.button(f"Remove scope {picked}", key="gate-remove"):
        try:
            gt.remove_scope(engine, viewer, picked, "removed on the QA page", address=client_address())
            st.rerun()
        except (ValueError, NotAllowed) as error:
            st.error(f"Refused: {md_escape(error)}")
