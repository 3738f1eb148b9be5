"""Reports & export: pick a report, period (the page's range), scope (its filters) and format; generate it off the
page thread with progress; preview and download it; the history of generated reports with who asked; the
scheduled reports and their deliveries. Everything is core.reports; this script only lays it out."""

from __future__ import annotations

import polars as pl
import streamlit as st
import streamlit.components.v1 as components

from core.reports import history, scheduled
from core.reports.deliver import filename
from core.reports.generate import start_background
from core.reports.model import KINDS, stamp
from core.reports.schedule import ScheduleError, load, save
from core.ui import chrome, export, units
from core.ui.export import download_buttons
from core.ui.login import require_page

KEY = "reports_current"
MIME = {"html": "text/html", "pdf": "application/pdf"}

viewer = require_page("reports")
ctx = chrome.page(
    "reports",
    viewer,
    default_range="30d",
    caption=(
        "Executive, Technical, SLA, QSE compliance and Migration reports for the range and filters above, as one "
        "self-contained HTML file or a PDF (docs/reports.md); also `python -m core.cli report`."
    ),
)
engine = ctx.engine
win = ctx.window()

pick, fmt_col, go = st.columns([3, 2, 2], vertical_alignment="bottom")
kind = pick.selectbox("Report", list(KINDS), format_func=KINDS.__getitem__, key="report_kind")
fmt = (
    fmt_col.segmented_control("Format", ["html", "pdf"], format_func=str.upper, default="pdf", key="report_format")
    or "pdf"
)
if go.button("Generate report", type="primary", icon=":material/description:"):
    report_id, _ = start_background(
        engine, ctx.settings, kind, fmt, win.start_ms, win.end_ms, ctx.filters, viewer.username
    )
    st.session_state[KEY] = report_id
st.caption(
    f"Period {stamp(win.start_ms)} – {stamp(win.end_ms)} UTC · scope: "
    + (", ".join(f"{k}={v}" for k, v in sorted(ctx.filters.items())) or "everything")
)


@st.fragment(run_every=1.0)
def current() -> None:
    """The report being generated: progress while it runs, then preview and download."""
    report_id = st.session_state.get(KEY)
    if report_id is None:
        return
    stored = history.get(engine, report_id, content=True)
    if stored is None:
        return
    if stored.status == "running":
        st.progress(stored.progress, text=f"Generating {KINDS[stored.kind]} … {stored.message or ''}")
        return
    if stored.status == "failed":
        st.error(f"The report could not be generated: {stored.message}", icon=":material/error:")
        return
    assert stored.content is not None
    name = filename(stored.kind, stored.start_ms, stored.end_ms, stored.format)
    st.success(f"{KINDS[stored.kind]} ready ({units.size(stored.size or 0)}).", icon=":material/check_circle:")
    st.download_button(
        f"Download {name}",
        stored.content,
        file_name=name,
        mime=MIME[stored.format],
        icon=":material/download:",
        key=f"dl-{stored.id}",
        on_click="ignore",
    )
    if stored.format == "html":
        with st.expander("Preview", expanded=True):
            components.html(stored.content.decode(), height=700, scrolling=True)
    else:
        st.caption("PDF preview: download the file, or generate the HTML format to preview it here.")


current()

st.subheader("History")
frame = history.history(engine)
if frame.is_empty():
    st.info("No report generated yet.", icon=":material/history:")
else:
    st.dataframe(
        frame.drop("message").with_columns(units.humanise_expr(pl.col("size"), "B")),  # "1.2 MiB", not 1258291
        hide_index=True,
        width="stretch",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1)},
    )
    done = frame.filter(frame["status"] == "done")
    if done.height:
        labels = {
            r["id"]: f"#{r['id']} · {KINDS[r['kind']]} ({r['format'].upper()}) by {r['by']}"
            for r in done.iter_rows(named=True)
        }
        chosen = st.columns([2, 3])[0].selectbox(
            "Download an earlier report", list(labels), format_func=labels.__getitem__, key="report_history_pick"
        )
        old = history.get(engine, int(chosen), content=True)
        if old is not None and old.content is not None:
            name = filename(old.kind, old.start_ms, old.end_ms, old.format)
            st.download_button(
                f"Download #{old.id} ({name})",
                old.content,
                file_name=name,
                mime=MIME[old.format],
                key="dl-history",
                on_click="ignore",
                icon=":material/download:",
            )
    download_buttons(frame.drop("progress"), "report-history", "report-history-export")

st.subheader("Scheduled reports")
schedule_file = ctx.settings.report_schedules_file
try:
    schedules = load(schedule_file)
    problem = None
except ScheduleError as error:
    schedules, problem = [], str(error)
if problem:
    st.error(f"The schedule file is not used: {problem}", icon=":material/error:")
elif not schedules:
    st.info(f"No schedule: add them to {schedule_file.name} (docs/reports.md).", icon=":material/schedule:")
for s in schedules:
    st.markdown(
        f"**{s.name}** — {KINDS[s.report]} ({s.format.upper()}), {s.every} at {s.at} {s.timezone} → "
        + ", ".join(t.key for t in s.deliver)
    )
deliveries = scheduled.deliveries(engine)
if deliveries:
    rows = pl.DataFrame(deliveries).with_columns(
        pl.from_epoch(c, time_unit="ms").dt.replace_time_zone("UTC")
        for c in ("due_ms", "next_attempt_ms", "delivered_ms")
    )
    failed = rows.filter(pl.col("status") == "failed").height
    if failed:
        st.error(
            f"{failed} scheduled deliver{'y' if failed == 1 else 'ies'} failed after every retry.",
            icon=":material/error:",
        )
    export.table(rows.drop("created_ms"), hide_index=True, width="stretch", panel="scheduled-deliveries")
if "admin" in viewer.roles:
    with st.expander("Edit schedules"):
        text = st.text_area(
            schedule_file.name,
            schedule_file.read_text() if schedule_file.is_file() else "schedules: []\n",
            height=240,
            key="schedule_text",
        )
        if st.button("Check and save", key="schedule_save"):
            try:
                save(schedule_file, text)
            except ScheduleError as error:
                st.error(f"Not saved: {error}", icon=":material/error:")
            else:
                st.success("Saved; the scheduler reads it on its next run.")
