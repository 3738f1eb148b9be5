"""Capacity & forecasts: when each resource reaches 80 % of capacity, what to provision, and when programmes finish.

Reads the forecasts the background job stored (core.forecasting.view); nothing is fitted here, so the page
draws in well under a second. "Refit now" asks the job to refit everything and shows its progress. The
migration's ETAs are the Migration page's schedule (core.programmes.migration.schedule), computed as it draws.
"""

from __future__ import annotations

import re

import polars as pl
import streamlit as st

from core.config import get_settings
from core.forecasting import view
from core.forecasting.resources import HORIZON_LABELS, resource
from core.model import now_ms
from core.store import get_engine
from core.store.forecasts import progress, request_refit
from core.ui import export
from core.ui.forecast_charts import forecast_chart
from core.ui.login import require_page

viewer = require_page("capacity")
settings = get_settings()
engine = get_engine(settings)
export.set_scope("capacity", "", viewer, engine=engine)  # the tables' and charts' "Data" menus
MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$])")
CHARTS = 4  # charts drawn by default: each costs about 0.1 s to build, and the ranking says which matter


def plain(text: object) -> str:
    """Label values (mount points, queue names) shown as text, not as Markdown."""
    return MARKDOWN.sub(r"\\\1", str(text))


st.title("Capacity & forecasts")
stored = view.load(engine)
now = now_ms()
newest = stored.newest_fit_ms
st.caption(
    f"Forecasts fitted in the background (Prophet, or seasonal-naive where it backtests better; docs/forecasting.md)"
    f" — newest fit {view.span(now - newest) + ' ago' if newest else 'not yet'}. A resource is running out at "
    f"{settings.capacity_threshold_percent:g} % of its capacity; recommended capacity is the projected peak × 1.2."
)


@st.fragment(run_every=1.0 if stored.progress.get("running") else None)
def refit() -> None:
    """The "Refit now" button and the job's progress (polls every second while the job is running)."""
    state = progress(engine)
    left, right = st.columns([1, 4], vertical_alignment="center")
    if left.button("Refit now", icon=":material/refresh:", disabled=bool(state.get("running"))):
        request_refit(engine, viewer.username, now_ms())
        st.rerun(scope="fragment")
    with right:
        if state.get("running"):
            done, total = int(state.get("done", 0)), max(int(state.get("total", 1)), 1)
            st.progress(done / total, text=f"Refitting {state.get('current', '')} ({done} of {total})")
        elif state.get("finished"):
            failed = state.get("errors") or {}
            note = f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""
            st.caption(f"Last run finished {view.span(now_ms() - int(state['finished']))} ago{note}.")
        else:
            st.caption("The forecast job has not run yet; it starts with the server.")


refit()

ranked = view.ranking(stored.capacity, now)
st.subheader("Resources, soonest to run out first")
if ranked.is_empty():
    st.info(
        "No forecasts yet: the forecast job fits CPU, memory, disks, queues and database figures within a minute of "
        "start, once their collectors have reported.",
        icon=":material/hourglass_empty:",
    )
else:
    export.table(ranked.drop("key", "rank"), "resources", hide_index=True, width="stretch")
    st.caption(
        "“reaches threshold”: when the forecast crosses it, with the 80 % interval of that time (its upper bound "
        "crosses first). Rows without a forecast say how much history they still need: system metrics start with "
        "the server, and a 24 h forecast needs 6 hours of them (7 d: 42 hours; 30 d: 7.5 days)."
    )

st.subheader("Recommendations")
advice = view.recommendations(stored.capacity, now)
if advice:
    for item in advice:
        st.markdown(
            f"- **{plain(item.resource)} {plain(item.instance)}** reaches {plain(item.threshold)} "
            f"{'now' if item.when == 'now' else 'in ' + plain(item.when)}: {plain(item.advice)}."
        )
elif not ranked.is_empty():
    st.success(
        f"No resource is projected to reach {settings.capacity_threshold_percent:g} % of its capacity within the "
        "forecasts' horizons (up to 30 days).",
        icon=":material/check_circle:",
    )

st.subheader("Forecasts")
keys = view.resource_keys(stored.capacity)
names = {key: view.instance_label(stored, key) for key in keys}
soonest = [key for key in ranked["key"].to_list() if key in names][:CHARTS]  # the ranking's order: most urgent first
horizon_col, pick_col = st.columns([1, 3], vertical_alignment="bottom")
with horizon_col:
    horizon = st.segmented_control(
        "Horizon", list(HORIZON_LABELS), default=604_800, format_func=HORIZON_LABELS.__getitem__, key="horizon"
    )
with pick_col:
    shown = st.multiselect(
        "Resources",
        keys,
        default=soonest,
        format_func=names.__getitem__,
        help=f"The {CHARTS} soonest to reach their threshold; add any other.",
    )
columns = st.columns(2)
for n, key in enumerate(shown):
    row = view.capacity_rows(stored, key).get(int(horizon or 604_800))
    with columns[n % 2]:
        st.markdown(f"**{plain(names[key])}**")
        if row is None:
            st.info("No forecast for this horizon yet.", icon=":material/hourglass_empty:")
            continue
        res = resource(key.split("|", 1)[0])
        frame = view.chart_frame(row)
        if row.status != "ok":
            message = row.result.get("forecast", {}).get("message", "no forecast")
            st.info(f"Not enough history yet: {message}.", icon=":material/hourglass_empty:")
            if frame.filter(pl.col("kind") == "actual").height < 2:
                continue
        chart = forecast_chart(
            frame,
            now_ms=now,
            threshold=row.result.get("threshold"),
            capacity=row.result.get("capacity"),
            y_title=res.unit,
            y_format=",.0f" if res.unit != "%" else ",.1f",
        )
        export.chart(chart, f"forecast {names[key]}", menu_key=f"forecast-{n}", width="stretch")

st.subheader("Completion ETAs")
etas = view.eta_table(view.etas(stored, view.migration_etas_now(engine, now, settings)), now)
if etas.is_empty():
    st.info(
        "No programme to estimate: send migration.phase_progress and qse.* events (docs/events.md); review backlogs "
        "appear once their queue depth has a forecast.",
        icon=":material/inbox:",
    )
else:
    export.table(etas, "completion etas", hide_index=True, width="stretch")
    st.caption(
        "Migration: the Migration page's estimate — each running phase at its pace so far, a phase not started after "
        "its dependencies; its interval: the ends at the 10th and 90th percentile of the last 14 days' daily progress. "
        "QSE sessions: remaining planned hours at the "
        "pace of completed sessions (10th–90th percentile). Backlogs: when the 24 h forecast is back to the queue's "
        "median. “late”: the ETA passes the plan."
    )
