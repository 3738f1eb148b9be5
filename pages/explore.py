"""Explore: any metric, any labels, any range — chart, table and CSV. The analyst's free-form view.

Every read goes through core.query's viewer-aware functions, so cost and per-person
metrics and labels never reach a viewer whose roles may not see them (docs/security.md).
The chart asks for at most ``max_data_points`` points per series (its caption names the
bucket width), and a selector matching more than ``max_series_shown`` series shows the top
ones by the "Rank by" statistic, says how many were left out and offers "avg by <label>"
(core/query/guard.py).
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from core import query
from core.alerts.views import alert_link
from core.auth import audit
from core.auth.access import NotAllowed
from core.config import get_settings
from core.model import now_ms
from core.query import aggregate, guard
from core.query.plan import step_text
from core.query.selectors import SelectorError, build_selector, parse_selector
from core.store import get_engine
from core.ui import charts, units
from core.ui.export import download_buttons, drawn_chart
from core.ui.login import client_address, require_page
from core.ui.text import md_escape

HOUR = 3_600_000
RANGES = {
    "Last 1 h": HOUR,
    "Last 6 h": 6 * HOUR,
    "Last 24 h": 24 * HOUR,
    "Last 7 d": 7 * 24 * HOUR,
    "Last 30 d": 30 * 24 * HOUR,
    "Last 90 d": 90 * 24 * HOUR,
    "Custom": 0,
}
AGGREGATIONS = [*query.AGGS, "rate"]
RANK_HELP = "Past {limit} matching series, the chart shows the {limit} with the largest max, mean or last value."

viewer = require_page("explore")
engine = get_engine()
settings = get_settings()


# Cached per permission set (the viewer itself is not hashed): what one role may see, all its viewers share.
@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def metric_names(_url: str, _permissions: tuple[str, ...]) -> list[str]:
    return query.visible_metric_names(engine, viewer)


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def label_values(_url: str, _permissions: tuple[str, ...], name: str) -> dict[str, list[str]]:
    return query.visible_label_values(engine, name, viewer)


def figure(value: float | None, unit: str = "") -> str:
    if value is not None and units.kind_of(unit):
        return units.humanise(value, unit)  # "1.5 MiB/s", "250 ms" (core.ui.units)
    return "–" if value is None else f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def pick_range() -> tuple[int, int]:
    choice = st.selectbox("Range", list(RANGES), index=2)
    end = now_ms()
    if RANGES[choice]:
        return end - RANGES[choice], end
    today = dt.datetime.now(dt.UTC).date()
    first, last = st.date_input("From – to (UTC)", (today - dt.timedelta(days=7), today), max_value=today)  # type: ignore[misc]
    start = dt.datetime.combine(first, dt.time(), dt.UTC)
    stop = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
    return int(start.timestamp() * 1000), min(int(stop.timestamp() * 1000), end)


st.title("Explore")
url = str(engine.url)
permissions = tuple(sorted(viewer.permissions))
names = metric_names(url, permissions)
if not names:
    st.info("No metrics stored yet. Collectors and `POST /api/v1/metrics` fill the store (see docs/api.md).")
    st.stop()

left, right = st.columns([2, 3])
with left:
    name = st.selectbox("Metric", names)
    labels = label_values(url, permissions, name)
    picked = {key: st.multiselect(key, values, placeholder="any") for key, values in labels.items()}
with right:
    typed = st.text_input(
        "Selector (overrides the pickers)",
        placeholder=str(build_selector(name, picked)),
        help='Prometheus syntax: name{label="v", other!="x", re=~"a|b", nre!~"c.*"}',
    )
    start, end = pick_range()
    agg_col, group_col, rank_col = st.columns(3)
    agg = agg_col.selectbox("Aggregation", AGGREGATIONS, help="Within each bucket; rate is per second, for counters.")
    group_by = group_col.multiselect("Group by", list(labels), placeholder="no grouping", key="group_by")
    stat = rank_col.selectbox("Rank by", aggregate.STATS, help=RANK_HELP.format(limit=settings.max_series_shown))

try:
    selector = parse_selector(typed) if typed.strip() else build_selector(name, picked)
    if group_by:
        frame = guard.grouped_series(engine, selector, start, end, viewer, group_by, agg=agg)
        guarded = None
    else:
        guarded = guard.guarded_series(engine, selector, start, end, viewer, agg=agg, stat=stat)
        frame = guarded.frame
    comparison = query.visible_comparison(engine, selector, start, end, viewer, agg=agg)
except (SelectorError, ValueError, NotAllowed) as error:
    st.error(md_escape(error), icon=":material/error:")  # the message quotes the typed selector
    st.stop()

planned = query.plan(start, end, now_ms(), settings, max_points=settings.max_data_points)
if guarded is not None and guarded.notice:
    combine = "sum" if agg in ("sum", "count", "rate") else "avg"
    st.info(guarded.notice[0].upper() + guarded.notice[1:] + ".", icon=":material/filter_list:")
    spread = guarded.labels
    offers = guard.offer_labels(spread, guarded.total)
    if offers:
        by_col, go_col = st.columns([2, 1], vertical_alignment="bottom")
        label = by_col.selectbox(
            "Aggregate instead",
            offers,
            format_func=lambda k: f"{combine} by {k} ({spread[k]} lines)",
            help="All matching series combined per value of one label, computed by the store.",
        )
        go_col.button(
            f"{combine} by {label}",
            icon=":material/functions:",
            on_click=lambda: st.session_state.update(group_by=[label]),
        )

if frame.is_empty():
    st.warning(f"No data for {md_escape(selector)} in this range.", icon=":material/search_off:")
    st.stop()

series_count = frame["series"].n_unique()
matched = (
    f"{series_count} series" if guarded is None or not guarded.left_out else f"{series_count} of {guarded.total} series"
)
grouped = f" · {'sum' if agg in ('sum', 'count', 'rate') else 'avg'} by {', '.join(group_by)}" if group_by else ""
resolution = step_text(planned.step_ms)
unit = units.metric_unit(selector.name or "", agg)  # the name's unit (…_bytes, …_seconds) humanises figures and axis
st.caption(
    f"{md_escape(selector)} · {matched}{grouped} · {frame.height:,} points · {agg} · "
    f"{resolution} from the {planned.tier} tier"
)
st.metric(
    f"{agg} over the range, all matching series",
    figure(comparison.current, unit),
    comparison.text,
    delta_color="off",
    delta_arrow="off",
    border=True,
    width="content",
    help=f"Against the same {agg} over the range just before, as long as this one "
    f"({figure(comparison.previous, unit)}).",
)
drawn_chart(  # with its text alternative (core.ui.accessibility)
    charts.trend(
        frame,
        color="series" if series_count > 1 else None,
        y_title=selector.name or "value",
        title=f"{selector.name or 'value'} · {resolution}",
        height=380,
        unit=unit,
    ),
    selector.name or "value",
    "explore",
    unit=unit,
    width="stretch",
)

table = frame.select("ts", "series", "value").sort("ts", "series")
with st.expander("Table", expanded=False):
    st.dataframe(table, hide_index=True, width="stretch")
csv_col, alert_col = st.columns(2)
# Every role may open Explore and read this table on screen, so the export is not gated; it is audited like every
# export. Series names carry label values: formula-looking CSV cells are neutralised (core.reports.export).
with csv_col:
    download_buttons(
        table,
        selector.name or "explore",
        "explore-table",
        on_click=audit.record,
        args=(
            engine,
            viewer.username,
            audit.EXPORT,
            f"explore:{selector}",
            {"rows": table.height, "start_ms": start, "end_ms": end, "agg": agg},
            client_address(),
        ),
    )
alert_col.link_button("Create alert from this query", alert_link(str(selector), agg), icon=":material/add_alert:")
