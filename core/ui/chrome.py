"""Page chrome shared by every role page — the only Streamlit-aware module in core/ besides auth_ui.

A role page is::

    viewer = require_page("operations")            # core.ui.login: access check first
    ctx = ui.page("operations", viewer)            # title, range picker, refresh, filters (in the URL)

    @ui.live(ctx)                                  # reruns alone every ctx.refresh_s seconds
    def queues() -> None:
        win = ctx.window()                         # slides with the clock on every rerun
        picked = ui.widget(QUEUES, kpis.queue_depths(ctx.engine, win, ctx.filters), ctx=ctx)
        ...

:func:`page` draws the header row: time range (1 h … 90 d, custom dates), refresh
interval (default from core.auth.catalogue), and the component/team/repository filters. All
of them are bound to the URL query string (``?range=7d&refresh=10s&repository=org/x``)
so a view can be shared by link. :func:`widget` draws a core.ui.widgets config and returns
the value clicked on it (drill-down); every table and chart it draws carries the "Data" export
menu of its rows (core.ui.export); :func:`kpi_row` lays KPI cards out in rows that
wrap on narrow screens; :func:`freshness` writes "last updated" and warns when the data
has gone quiet; :func:`empty` is the empty state that says what to send.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.engine import Engine

from core.auth.access import Viewer, can
from core.auth.catalogue import PageSpec
from core.auth.catalogue import page as page_spec
from core.config import Settings, get_settings
from core.model import now_ms
from core.query.timewindow import RANGE_LABELS, REFRESH, REFRESH_LABELS, Window, default_refresh_key, window
from core.store import get_engine
from core.ui import export, login
from core.ui import widgets as w
from core.ui.outage import guarded, store_guard
from core.ui.text import md_escape
from core.ui.timefmt import ago

F = TypeVar("F", bound=Callable[..., Any])
FILTERS = ("component", "team", "repository")
ALL = "All"


@dataclass
class PageContext:
    """What a page's panels need: store, settings, viewer, chosen range, refresh and filters."""

    spec: PageSpec
    engine: Engine
    settings: Settings
    viewer: Viewer | None
    range_key: str
    custom: tuple[date, date] | None
    refresh_s: int | None
    filters: dict[str, str] = field(default_factory=dict)

    def window(self, now: int | None = None) -> Window:
        """The chosen range ending now (recomputed on each call, so live panels slide)."""
        return window(self.range_key, now, self.custom)

    @property
    def can_see_costs(self) -> bool:
        """True when the viewer may see cost figures (core.auth.access ``view_costs``)."""
        return self.viewer is None or can(self.viewer, "view_costs")


def page(
    slug: str,
    viewer: Viewer | None,
    *,
    default_range: str = "24h",
    filters: Sequence[str] = FILTERS,
    filter_options: Callable[[Engine, int, int], Mapping[str, Sequence[str]]] | None = None,
    caption: str = "",
) -> PageContext:
    """Draw the page title and its controls; return the context the page's panels read."""
    spec = page_spec(slug)
    settings = get_settings()
    with store_guard():  # a store that cannot be opened: the banner, not a traceback (core/ui/outage.py)
        engine = get_engine(settings)
    st.title(spec.title)
    if caption:
        st.caption(caption)
    range_col, refresh_col, filter_col = st.columns([5, 2, 2], vertical_alignment="bottom")
    with range_col:
        range_key = (
            st.segmented_control(
                "Time range",
                list(RANGE_LABELS),
                default=default_range,
                required=True,
                key="range",
                format_func=RANGE_LABELS.__getitem__,
                bind="query-params",
                persist_state="session",
                wrap=True,
            )
            or default_range
        )
    refresh_default = default_refresh_key(spec.refresh_s)
    with refresh_col:
        refresh_key = st.selectbox(
            "Refresh",
            list(REFRESH),
            index=list(REFRESH).index(refresh_default),
            key="refresh",
            format_func=REFRESH_LABELS.__getitem__,
            bind="query-params",
            help=f"How often the live panels redraw (default for this page: {REFRESH_LABELS[refresh_default]}).",
        )
    custom = None
    if range_key == "custom":
        today = datetime.now(UTC).date()
        first, last = st.columns(2)
        start = first.date_input("From", today - timedelta(days=7), max_value=today, key="from", bind="query-params")
        end = last.date_input("To", today, max_value=today, key="to", bind="query-params")
        custom = (
            (start, end) if isinstance(start, date) and isinstance(end, date) else (today - timedelta(days=7), today)
        )
    chosen: dict[str, str] = {}
    if filters:
        span = window(range_key if range_key != "custom" else "30d")
        options = filter_options(engine, span.start_ms, span.end_ms) if filter_options else {}
        with filter_col.popover("Filters", icon=":material/filter_list:", width="stretch"):
            for name in filters:
                values = [ALL, *options.get(name, ())]
                picked = st.selectbox(name.capitalize(), values, key=name, bind="query-params")
                if picked and picked != ALL:
                    chosen[name] = str(picked)
        if chosen:
            st.caption(
                "Filtered by "
                + ", ".join(f"{k} = **{md_escape(v)}**" for k, v in chosen.items())
                + " (events carrying that field)."
            )
    span_label = f"{custom[0]}-to-{custom[1]}" if custom else str(range_key)
    export.set_scope(slug, span_label, viewer, engine=engine, address=login.client_address())
    return PageContext(spec, engine, settings, viewer, str(range_key), custom, REFRESH.get(str(refresh_key)), chosen)


def live(ctx: PageContext) -> Callable[[F], F]:
    """Decorator: the panel is a fragment rerunning alone every ``ctx.refresh_s`` seconds (never when off).

    Each rerun first checks the login session (core.ui.login.fragment): a rerun skips the
    login gate, and a panel must not keep refreshing for a browser whose session has ended.
    """
    fragment = login.fragment(ctx.refresh_s)
    return lambda render: fragment(guarded(render))  # a rerun that meets a store outage draws its banner


def section(title: str, caption: str = "") -> None:
    """A panel heading."""
    st.subheader(title)
    if caption:
        st.caption(caption)


def empty(message: str) -> None:
    """The empty state: what is missing and what to send to fill it."""
    st.info(message, icon=":material/inbox:")


def widget(
    config: w.WidgetConfig,
    data: Any = None,
    *,
    ctx: PageContext | None = None,
    deployments: Any = None,
    key: str | None = None,
    source: w.SourceContext | None = None,
) -> str | None:
    """Draw ``config`` with ``data`` (or data resolved from ``config.source``); return the clicked value, if any.

    ``config.title`` is drawn as Markdown: a page that puts a name from data in a title (a queue,
    a suite) escapes it with :func:`core.ui.text.md_escape`. ``source`` overrides the context data is
    resolved in (a user dashboard's own window and variables).
    """
    if config.sensitive and ctx is not None and not ctx.can_see_costs:
        return None
    if data is None and config.source and source is not None:
        data = w.resolve(config, source)
    elif data is None and config.source and ctx is not None:
        data = w.resolve(config, w.SourceContext(ctx.engine, ctx.window(), ctx.filters, ctx.viewer))
    out = w.build(config, data, deployments=deployments)
    if isinstance(out, w.KpiOut):
        _kpi(out)
    elif isinstance(out, w.ProgressOut):
        level = "" if out.level in (None, "ok") else f" · {out.level}"
        st.markdown(f"**{config.title}**{level}", help=out.help or None)
        st.progress(out.fraction, text=out.text)
    elif isinstance(out, w.NoteOut):
        if config.title:
            st.markdown(f"**{config.title}**")
        st.markdown(out.text)
    elif isinstance(out, w.EmptyOut):
        st.markdown(f"**{config.title}**")
        empty(out.message)
    elif isinstance(out, w.TableOut):
        _title(config, out.frame)
        st.dataframe(
            out.frame, hide_index=True, width="stretch", height=config.height or "auto", column_config=_columns(config)
        )
    elif isinstance(out, w.ChartOut):
        _title(config, out.rows if out.rows is not None else export.chart_frame(out.chart))
        title = config.title or config.key
        if out.pick is None:
            export.drawn_chart(out.chart, title, config.key, rows=out.rows, unit=config.unit, width="stretch")
            return None
        state = export.drawn_chart(
            out.chart,
            title,
            config.key,
            rows=out.rows,
            unit=config.unit,
            width="stretch",
            on_select="rerun",
            selection_mode="pick",
            key=key or f"chart-{config.key}",
        )
        return picked(state, out.pick)
    return None


def _title(config: w.WidgetConfig, frame: Any) -> None:
    """A table's or chart's title with its "Data" menu at the right (core.ui.export): the rows the panel draws."""
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.markdown(f"**{config.title}**", help=config.help or None, width="stretch")
        export.data_menu(frame, config.title or config.key, key=config.key)


def _columns(config: w.WidgetConfig) -> dict[str, Any] | None:
    """Column drawing for a table widget: 0–100 columns as progress bars, number lists as sparklines."""
    if not isinstance(config, w.TableConfig) or not (config.progress or config.trend):
        return None
    bars = {
        c: st.column_config.ProgressColumn(c, min_value=0, max_value=100, format="%.0f %%") for c in config.progress
    }
    return bars | {c: st.column_config.LineChartColumn(c, y_min=0, y_max=100) for c in config.trend}


def picked(state: Any, field_name: str) -> str | None:
    """The value of ``field_name`` in the chart's point selection, or None when nothing is clicked."""
    try:
        chosen = state["selection"]["pick"]
    except (KeyError, TypeError):
        return None
    rows = chosen if isinstance(chosen, list) else [chosen] if isinstance(chosen, dict) and chosen else []
    for row in rows:
        if isinstance(row, dict) and row.get(field_name) is not None:
            return str(row[field_name])
    return None


def _kpi(out: w.KpiOut) -> None:
    label = out.label if out.level in (None, "ok") else f"{out.label} · {out.level}"
    st.metric(
        label,
        out.value,
        out.delta,
        delta_color=out.delta_color,
        help=out.help or None,
        border=True,
        chart_data=out.sparkline or None,
        chart_type="area",
    )


def kpi_row(
    items: Sequence[tuple[w.KpiConfig, w.KpiValue | float | None]], *, ctx: PageContext | None = None, per_row: int = 4
) -> None:
    """KPI cards, ``per_row`` to a row (Streamlit stacks columns on phones).

    Cost cards are dropped for viewers without costs.
    """
    shown = [(c, v) for c, v in items if not (c.sensitive and ctx is not None and not ctx.can_see_costs)]
    for start in range(0, len(shown), per_row):
        columns = st.columns(per_row)
        for column, (config, value) in zip(columns, shown[start : start + per_row], strict=False):
            with column:
                widget(config, value, ctx=ctx)


def freshness(newest_ms: int | None, *, stale_after_s: float, what: str = "data") -> None:
    """The caption 'Last updated hh:mm:ss UTC · newest data 12 s ago', and a warning when the data is stale.

    Stale means the newest is older than ``stale_after_s``.
    """
    now = now_ms()
    stamp = datetime.fromtimestamp(now / 1000, UTC).strftime("%H:%M:%S UTC")
    st.caption(f"Last updated {stamp} · newest {what} {ago(newest_ms, now)}")
    if newest_ms is None:
        st.warning(f"No {what} has arrived yet.", icon=":material/hourglass_empty:")
    elif now - newest_ms > stale_after_s * 1000:
        st.warning(
            f"**Stale data:** the newest {what} is {ago(newest_ms, now)} — check that collectors or the demo "
            "are running (Admin → sources) and that pushers can reach /api/v1.",
            icon=":material/schedule:",
        )
