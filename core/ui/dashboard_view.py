"""Drawing a user dashboard and editing it: the 12-column grid, variables, the widget editor, kiosk mode.

* :func:`controls` — the time range and one picker per variable (choices are the label's
  values the viewer may see), bound to the URL (``?range=6h&var-host=web-1``);
* :func:`grid` — widgets row by row (``grid.y``), placed at ``grid.x`` with ``grid.w`` of 12
  columns and ``grid.h`` × 80 px of chart height; a widget whose query fails shows its error
  in its own cell and the others still draw;
* :func:`editor` — the draft (a JSON dict in the session) edited in place: title, range,
  variables, widgets added through a form generated from the kind's schema
  (core.ui.schema_form), moved, resized, reordered, duplicated, deleted;
* :func:`kiosk` — hides the sidebar, header and toolbar for a wall screen.

Validation and storage live in core.dashboards; this module only draws and collects input.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from core.auth.access import Viewer
from core.dashboards import sources
from core.dashboards.kinds import CONFIGS, parse_widget
from core.dashboards.model import COLUMNS, Dashboard, Variable, field_path
from core.query import visible_metric_names
from core.query.timewindow import RANGE_LABELS, window
from core.ui import chrome, dashboard_sources, schema_form
from core.ui import widgets as w
from core.ui.text import md_escape

ROW_PX = 80
NAMED_SOURCES = dashboard_sources.__name__  # imported for its registrations ("source": "alerts")
CHART_KINDS = frozenset(CONFIGS) - {"kpi", "progress", "note"}
RANGES = [key for key in RANGE_LABELS if key != "custom"]
KIOSK_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stSidebarNav"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { padding-top: 1rem !important; max-width: 100% !important; }
</style>
"""


def kiosk() -> None:
    """Hide the app's chrome (sidebar, header, toolbar) for a wall screen."""
    st.markdown(KIOSK_CSS, unsafe_allow_html=True)


def controls(
    engine: Engine, dashboard: Dashboard, viewer: Viewer, *, compact: bool = False
) -> tuple[str, dict[str, str]]:
    """The range and variable pickers; returns the chosen range key and each variable's value."""
    names = [v.name for v in dashboard.variables]
    columns = st.columns([3, *([2] * len(names))] if names else [1], vertical_alignment="bottom")
    with columns[0]:
        range_key = (
            st.segmented_control(
                "Time range",
                RANGES,
                default=dashboard.time.range,
                required=True,
                key="dash-range",
                format_func=RANGE_LABELS.__getitem__,
                bind="query-params",
                label_visibility="collapsed" if compact else "visible",
            )
            or dashboard.time.range
        )
    values: dict[str, str] = {}
    for column, variable in zip(columns[1:], dashboard.variables, strict=False):
        with column:
            values[variable.name] = _variable(engine, variable, viewer)
    return str(range_key), values


def _variable(engine: Engine, variable: Variable, viewer: Viewer) -> str:
    options = sources.variable_options(engine, variable.metric, variable.label, viewer)
    if variable.default is not None and variable.default not in options:
        options = [variable.default, *options]
    if not options:
        st.caption(f"${variable.name}: no {md_escape(variable.label)} values of {md_escape(variable.metric)} yet")
        return ""
    picked = st.selectbox(
        f"${variable.name}",
        options,
        index=options.index(variable.default) if variable.default in options else 0,
        key=f"var-{variable.name}",
        bind="query-params",
        help=f"Values of the label {variable.label} on {variable.metric}; substituted for ${variable.name}.",
    )
    return str(picked)


def _row_spec(panels: list[Any]) -> tuple[list[int], list[int | None]]:
    """Column widths for one grid row (gaps become empty columns) and which panel sits in each column."""
    widths: list[int] = []
    owners: list[int | None] = []
    cursor = 0
    for index, panel in panels:
        x = max(panel.grid.x, cursor)
        if x > cursor:
            widths.append(x - cursor)
            owners.append(None)
        width = min(panel.grid.w, COLUMNS - x)
        if width <= 0:
            continue
        widths.append(width)
        owners.append(index)
        cursor = x + width
    if cursor < COLUMNS:
        widths.append(COLUMNS - cursor)
        owners.append(None)
    return widths, owners


def grid(engine: Engine, dashboard: Dashboard, viewer: Viewer, range_key: str, values: dict[str, str]) -> None:
    """Every widget of ``dashboard`` on its grid, with data resolved for ``viewer`` over ``range_key``."""
    if not dashboard.widgets:
        chrome.empty("This dashboard has no widgets yet: open Edit and add one.")
        return
    rows: dict[int, list[Any]] = {}
    for index, panel in enumerate(dashboard.widgets):
        rows.setdefault(panel.grid.y, []).append((index, panel))
    for y in sorted(rows):
        placed = sorted(rows[y], key=lambda item: (item[1].grid.x, item[0]))
        widths, owners = _row_spec(placed)
        by_index = dict(placed)
        for column, owner in zip(st.columns(widths), owners, strict=True):
            if owner is None:
                continue
            with column:
                _cell(engine, by_index[owner], viewer, range_key, values, owner)


def _cell(engine: Engine, panel: Any, viewer: Viewer, range_key: str, values: dict[str, str], index: int) -> None:
    config = panel.widget
    own_range = config.range or range_key
    if config.kind in CHART_KINDS and config.height is None:
        config = config.model_copy(update={"height": panel.grid.h * ROW_PX})
    title = config.title
    if values:  # "$host" in a title reads as the picked value (titles are Markdown: escaped)
        for name, value in values.items():
            title = title.replace(f"${name}", md_escape(value))
        config = config.model_copy(update={"title": title})
    context = w.SourceContext(engine, window(own_range), {}, viewer, values)
    try:
        chrome.widget(config, source=context, key=f"dash-widget-{index}")
    except (ValueError, PermissionError) as error:  # a bad query, a hidden metric: said in this cell only
        st.markdown(f"**{title}**")
        st.error(md_escape(str(error)), icon=":material/error:")


# ---------------------------------------------------------------- editor (a draft dict in the session)

DRAFT = "dash-draft"
REV = "dash-rev"


def bump() -> None:
    """A structural change (load, add, move, delete): every editor input starts again from the draft."""
    st.session_state[REV] = st.session_state.get(REV, 0) + 1


def _k(name: str) -> str:
    return f"ed{st.session_state.get(REV, 0)}-{name}"


def blank(slug: str = "new-dashboard", title: str = "New dashboard") -> dict[str, Any]:
    """A new dashboard's JSON form."""
    return {
        "schema_version": 2,
        "slug": slug,
        "title": title,
        "description": "",
        "time": {"range": "24h"},
        "variables": [],
        "widgets": [],
    }


def _problems(error: ValidationError, prefix: str = "") -> list[str]:
    return [f"{prefix}{field_path(tuple(item['loc']))}: {item['msg']}" for item in error.errors()]


def _next_y(draft: dict[str, Any]) -> int:
    return 1 + max((p.get("grid", {}).get("y", 0) for p in draft["widgets"]), default=-1)


def editor(engine: Engine, draft: dict[str, Any], viewer: Viewer, *, is_new: bool) -> None:
    """Edit ``draft`` in place: settings, variables, widgets (each change reruns the page)."""
    head, slug_col = st.columns([3, 2])
    draft["title"] = head.text_input("Title", draft.get("title", ""), key=_k("title"))
    draft["slug"] = slug_col.text_input(
        "URL name (slug)",
        draft.get("slug", ""),
        key=_k("slug"),
        disabled=not is_new,
        help="Lower-case letters, digits, '-' and '_'.",
    )
    draft["description"] = st.text_input("Description", draft.get("description", ""), key=_k("description"))
    time = draft.setdefault("time", {"range": "24h"})
    range_col, refresh_col = st.columns(2)
    time["range"] = range_col.selectbox(
        "Default time range",
        RANGES,
        index=RANGES.index(time.get("range", "24h")),
        key=_k("range"),
        format_func=RANGE_LABELS.__getitem__,
    )
    refresh = refresh_col.number_input(
        "Refresh every (s, 0 = manual)",
        min_value=0,
        max_value=3600,
        value=int(time.get("refresh_s") or 0),
        key=_k("refresh"),
    )
    time["refresh_s"] = int(refresh) or None
    _variables_editor(engine, draft, viewer)
    _widgets_editor(draft)
    _add_widget(draft)


def _variables_editor(engine: Engine, draft: dict[str, Any], viewer: Viewer) -> None:
    st.markdown("**Variables**")
    variables = draft.setdefault("variables", [])
    for index, variable in enumerate(list(variables)):
        text, remove = st.columns([6, 1], vertical_alignment="center")
        text.markdown(f"`${variable['name']}` — values of **{md_escape(variable['label'])}** on `{variable['metric']}`")
        if remove.button("Remove", key=_k(f"var-del-{index}"), icon=":material/delete:"):
            variables.pop(index)
            bump()
            st.rerun()
    with st.form(_k("add-variable"), clear_on_submit=True, border=True):
        name_col, metric_col, label_col = st.columns(3)
        name = name_col.text_input("Variable name", placeholder="host", key=_k("var-name"))
        metrics = visible_metric_names(engine, viewer)
        metric = metric_col.selectbox("Metric", metrics, index=None, key=_k("var-metric"), placeholder="Pick a metric")
        label = label_col.text_input("Label", placeholder="host", key=_k("var-label"))
        if st.form_submit_button("Add variable", icon=":material/add:"):
            try:
                added = Variable(name=name.strip(), label=label.strip(), metric=str(metric or ""))
            except ValidationError as error:
                st.error("; ".join(_problems(error, "variable.")))
            else:
                if not added.metric or not added.label:
                    st.error("variable: pick a metric and name a label")
                else:
                    variables.append(added.model_dump())
                    bump()
                    st.rerun()


def _widgets_editor(draft: dict[str, Any]) -> None:
    st.markdown("**Widgets**")
    panels = draft.setdefault("widgets", [])
    if not panels:
        st.caption("No widgets yet: add one below.")
    for index, panel in enumerate(list(panels)):
        config = panel["config"]
        place = panel.setdefault("grid", {"x": 0, "y": index, "w": 6, "h": 4})
        kind_label = w.WIDGETS[config["kind"]].label if config.get("kind") in w.WIDGETS else config.get("kind")
        label = f"{index + 1}. {config.get('title', '')} · {kind_label}"
        with st.expander(md_escape(label)):
            cells = st.columns(4)
            for cell, field, low, high in zip(
                cells, ("x", "y", "w", "h"), (0, 0, 1, 1), (COLUMNS - 1, 1000, COLUMNS, 24), strict=True
            ):
                place[field] = int(
                    cell.number_input(
                        {"x": "Column (0–11)", "y": "Row", "w": "Width (columns)", "h": "Height (rows)"}[field],
                        min_value=low,
                        max_value=high,
                        value=int(place.get(field, {"x": 0, "y": 0, "w": 6, "h": 4}[field])),
                        key=_k(f"{index}-{field}"),
                    )
                )
            up, down, dup, delete = st.columns(4)
            if up.button("Move up", key=_k(f"{index}-up"), icon=":material/arrow_upward:", disabled=index == 0):
                _swap(panels, index, index - 1)
            if down.button(
                "Move down",
                key=_k(f"{index}-down"),
                icon=":material/arrow_downward:",
                disabled=index == len(panels) - 1,
            ):
                _swap(panels, index, index + 1)
            if dup.button("Duplicate", key=_k(f"{index}-dup"), icon=":material/content_copy:"):
                copied = copy.deepcopy(panel)
                copied["config"]["title"] = f"{config.get('title', '')} (copy)"
                copied["config"].pop("id", None)
                copied["grid"] = {**place, "y": _next_y(draft)}
                panels.insert(index + 1, copied)
                bump()
                st.rerun()
            if delete.button("Delete", key=_k(f"{index}-del"), icon=":material/delete:"):
                panels.pop(index)
                bump()
                st.rerun()
            kind = CONFIGS.get(str(config.get("kind")))
            if kind is None:
                st.error(f"unknown widget kind {config.get('kind')!r}")
                continue
            with st.form(_k(f"{index}-form"), border=False):
                changed = schema_form.inputs(kind, config, _k(f"{index}-cfg"))
                if st.form_submit_button("Apply", icon=":material/check:"):
                    try:
                        parse_widget({"kind": config["kind"], **changed})
                    except ValidationError as error:
                        st.error("; ".join(_problems(error, f"widgets[{index}].config.")))
                    else:
                        panel["config"] = {"kind": config["kind"], **changed}
                        bump()
                        st.rerun()


def _swap(panels: list[dict[str, Any]], a: int, b: int) -> None:
    """Reorder: the two widgets trade places in the list and on the grid."""
    panels[a]["grid"], panels[b]["grid"] = panels[b].get("grid", {}), panels[a].get("grid", {})
    panels[a], panels[b] = panels[b], panels[a]
    bump()
    st.rerun()


def _add_widget(draft: dict[str, Any]) -> None:
    st.markdown("**Add a widget**")
    kinds = list(w.WIDGETS)
    kind = st.selectbox("Kind", kinds, format_func=lambda k: w.WIDGETS[k].label, key=_k("new-kind"))
    with st.form(_k("new-widget"), border=True):
        st.caption(md_escape(w.WIDGETS[kind].config.__doc__ or ""))
        values = schema_form.inputs(CONFIGS[kind], {"title": ""}, _k(f"new-{kind}"))
        place = st.columns(3)
        x = place[0].number_input("Column (0–11)", 0, COLUMNS - 1, 0, key=_k(f"new-{kind}-x"))
        width = place[1].number_input("Width (columns)", 1, COLUMNS, 6, key=_k(f"new-{kind}-w"))
        height = place[2].number_input("Height (rows)", 1, 24, 4, key=_k(f"new-{kind}-h"))
        if st.form_submit_button("Add widget", icon=":material/add:", type="primary"):
            try:
                parse_widget({"kind": kind, **values})
            except ValidationError as error:
                st.error("; ".join(_problems(error, "new widget.")))
            else:
                if not str(values.get("title", "")).strip() and kind != "note":
                    st.error("new widget.title: give the widget a title")
                    return
                grid_place = {"x": int(x), "y": _next_y(draft), "w": int(width), "h": int(height)}
                draft["widgets"].append({"config": {"kind": kind, **values}, "grid": grid_place})
                bump()
                st.rerun()


def save_problems(problems: list[tuple[str, str]]) -> None:
    """A refused save: one line per field path and what is wrong with it."""
    lines = "\n".join(f"- `{md_escape(path) or '(dashboard)'}`: {md_escape(message)}" for path, message in problems)
    st.error(f"**Not saved** — fix these fields:\n\n{lines}", icon=":material/error:")


def kiosk_link(slug: str) -> None:
    """How to put this dashboard (or a rotation of several) on a wall screen."""
    st.caption(
        f"Wall screen: open `?kiosk=1&d={slug}` (no sidebar, no header). Rotate several with "
        f"`?kiosk=1&playlist={slug},other-slug&every=30` (seconds per dashboard)."
    )
