"""SLAs & error budgets: is each promise kept, how much room is left, and where time is lost (docs/sla.md)."""

from __future__ import annotations

import json

import polars as pl
import streamlit as st

from core.auth import audit
from core.auth.access import can
from core.sla import bottlenecks as bn
from core.sla import store, view
from core.sla.budget import burn_down
from core.sla.compliance import WINDOWS_S
from core.sla.definitions import FORM_UNIT_S, KINDS, DefinitionError, SlaDefinition, form_values, parse_definition
from core.sla.report import build_report
from core.sla.status import SlaStatus, read_workflow_data, statuses
from core.ui import charts, chrome
from core.ui.login import client_address, require_page

MIN = 60.0

viewer = require_page("sla")
ctx = chrome.page(
    "sla",
    viewer,
    default_range="24h",
    filters=(),
    caption="Compliance per SLA over the chosen range, error budgets over each SLA's period, breaches and bottlenecks.",
)


@st.cache_data(ttl=30, max_entries=8, show_spinner="Measuring SLAs…")
def load(_url: str, start_ms: int, end_ms: int) -> list[SlaStatus]:
    return statuses(
        ctx.engine, ctx.settings, now_ms=end_ms, windows_s={"range": (end_ms - start_ms) // 1000, **WINDOWS_S}
    )


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def load_bottlenecks(_url: str, start_ms: int, end_ms: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    data = read_workflow_data(ctx.engine, start_ms, end_ms)
    ended = data.steps.filter(pl.col("end_ms").is_between(start_ms, end_ms, closed="left"))
    usage = store.utilisation(
        ctx.engine,
        ctx.settings.sla_utilisation_selector,
        ctx.settings.sla_utilisation_label,
        start_ms,
        end_ms,
        ctx.settings,
    )
    return bn.as_frame(bn.find_bottlenecks(ended, store.load_definitions(ctx.engine), usage)), bn.critical_path(
        ended, data.workflows
    )


def edit_form(definition: SlaDefinition) -> None:
    scale, unit = (MIN, "min") if definition.kind in ("step", "workflow") else (1.0, "s")
    with st.form(f"edit-{definition.id}"):
        left, right = st.columns(2)
        values = definition.model_dump()
        if definition.target_s is not None:
            values["target_s"] = (
                left.number_input(f"Target ({unit})", value=definition.target_s / scale, format="%g") * scale
            )
        if definition.escalation_s is not None or definition.kind in ("step", "workflow"):
            escalation = right.number_input(
                f"Escalate after ({unit}; 0 = never)",
                value=(definition.escalation_s or 0) / scale,
                format="%g",
                key=f"sla-escalation-{definition.id}",
            )
            values["escalation_s"] = escalation * scale or None
        values["objective"] = left.number_input("Objective (%)", value=definition.objective * 100, format="%g") / 100
        if definition.response_s is not None:
            values["response_s"] = (
                right.number_input("Response within (min)", value=definition.response_s / MIN, format="%g") * MIN
            )
        if definition.availability_target is not None:
            values["availability_target"] = (
                right.number_input("Availability (%)", value=definition.availability_target * 100, format="%g") / 100
            )
        values["period_days"] = left.number_input("Budget period (days)", value=definition.period_days, step=1)
        values["enabled"] = right.checkbox("Checked and alerted", value=definition.enabled)
        if not st.form_submit_button("Save", type="primary", key="sla-save"):
            return
    try:
        changed = parse_definition(values)
    except DefinitionError as error:
        st.error(f"Not saved: {error}", icon=":material/block:")
        return
    if changed == definition:
        st.info("Nothing changed.")
        return
    store.save_definition(ctx.engine, changed, viewer)
    diff = {k: [v, values[k]] for k, v in definition.model_dump().items() if values[k] != v}
    audit.record(ctx.engine, viewer.username, audit.SLA_CHANGED, changed.id, diff, client_address())
    load.clear()
    st.success(f"Saved {changed.name}.", icon=":material/check:")


def new_form() -> None:
    kind = st.selectbox(
        "Kind",
        KINDS,
        key="sla-new-kind",
        help="step: one workflow step; workflow: end to end; "
        "latency: a metric at or below the target; availability: mean of a 0/1 metric.",
    )
    unit = "min" if FORM_UNIT_S[kind] == MIN else "s"
    with st.form("sla-new", clear_on_submit=False):
        left, right = st.columns(2)
        sla_id = left.text_input("Id (snake_case)", key="sla-new-id")
        name = right.text_input("Name", key="sla-new-name")
        source = (
            ""
            if kind == "workflow"
            else left.text_input(
                "Workflow step" if kind == "step" else "Metric selector",
                key="sla-new-source",
                placeholder="progress_review" if kind == "step" else 'api_request_duration_seconds{quantile="0.95"}',
            )
        )
        target = (
            None
            if kind == "availability"
            else right.number_input(f"Target ({unit})", value=None, min_value=0.0, format="%g", key="sla-new-target")
        )
        objective = left.number_input("Objective (%)", value=99.0, format="%g", key="sla-new-objective")
        escalation = (
            right.number_input(
                f"Escalate after ({unit}; empty = never)",
                value=None,
                min_value=0.0,
                format="%g",
                key="sla-new-escalation",
            )
            if kind in ("step", "workflow")
            else None
        )
        period = left.number_input("Budget period (days)", value=30, step=1, key="sla-new-period")
        if not st.form_submit_button("Create SLA", type="primary", key="sla-create"):
            return
    try:
        created = parse_definition(
            form_values(
                kind,
                sla_id=sla_id,
                name=name,
                source=source,
                target=target,
                objective_pct=objective,
                escalation=escalation,
                period_days=int(period),
            )
        )
        store.create_definition(ctx.engine, created, viewer)
    except DefinitionError as error:
        st.error(f"Not created: {error}", icon=":material/block:")
        return
    audit.record(
        ctx.engine, viewer.username, audit.SLA_CHANGED, created.id, {"created": created.model_dump()}, client_address()
    )
    done(f"Created {created.name}.")


def delete_form(names: dict[str, str]) -> None:
    doomed = st.selectbox("SLA to delete", list(names), format_func=names.__getitem__, key="sla-delete-id")
    sure = st.checkbox(f"Delete {names[doomed]} for good (its logged breaches stay)", key="sla-delete-confirm")
    if st.button("Delete SLA", icon=":material/delete:", disabled=not sure, key="sla-delete") and sure:
        deleted = store.delete_definition(ctx.engine, doomed, viewer)
        audit.record(
            ctx.engine, viewer.username, audit.SLA_CHANGED, doomed, {"deleted": deleted.model_dump()}, client_address()
        )
        st.session_state.pop("sla-delete-confirm", None)
        done(f"Deleted {deleted.name}.")


def done(message: str) -> None:
    """Show ``message`` after the rerun that redraws the page with the changed SLAs."""
    load.clear()
    st.session_state["sla-flash"] = message
    st.rerun()


win = ctx.window()
found = load(str(ctx.engine.url), win.start_ms, win.end_ms)
if not found:
    chrome.empty("No SLA is defined. Restore the specification's defaults below (Edit SLAs).")
met = [s.compliance["range"].met(s.definition) for s in found]
firing = [a for s in found for a in s.firing]
worst = min((s for s in found if s.budget.remaining is not None), key=lambda s: s.budget.remaining or 0.0, default=None)
logged = store.breaches(ctx.engine, win.start_ms, win.end_ms)
k1, k2, k3, k4 = st.columns(4)
k1.metric(
    "SLAs met",
    f"{sum(m is True for m in met)} of {sum(m is not None for m in met)}",
    border=True,
    help="SLAs with data in the range whose every figure meets its objective.",
)
left_now = None if worst is None else worst.budget.remaining
k2.metric(
    "Lowest budget left",
    view.budget_words(left_now),
    view.overspent_words(left_now),
    delta_color="inverse",
    delta_arrow="off",
    border=True,
    help=None if worst is None else f"{worst.definition.name}, over {worst.definition.period_days} days.",
)
k3.metric("Burn-rate alerts", len(firing), border=True, help="Multi-window burn-rate rules firing now (docs/sla.md).")
escalated = int(logged["escalated"].sum()) if logged.height else 0
k4.metric(
    "Breaches",
    f"{logged.height:,}",
    f"{escalated} escalated" if escalated else None,
    delta_color="off",
    delta_arrow="off",
    border=True,
    help="Items logged over target in the range by the SLA check.",
)
chrome.section(
    "Compliance",
    "Shares over the chosen range; budget and burn rates over each SLA's period (burn 1× spends it exactly).",
)
st.dataframe(
    view.summary(found, "range"),
    hide_index=True,
    width="stretch",
    column_config={
        "burn 1 h": st.column_config.NumberColumn(format="%.1f×"),
        "burn 6 h": st.column_config.NumberColumn(format="%.1f×"),
        "burn 3 d": st.column_config.NumberColumn(format="%.1f×"),
    },
)

chrome.section("Trend and error budget")
names = {s.definition.id: s.definition.name for s in found}
chosen_id = st.selectbox("SLA", list(names), format_func=names.__getitem__, key="sla") if names else None
chosen = next((s for s in found if s.definition.id == chosen_id), None)
if chosen is not None:
    d = chosen.definition
    trend_col, budget_col = st.columns(2)
    with trend_col:
        share = view.good_share_trend(chosen.outcomes, win.start_ms, win.end_ms, win.step_ms(24))
        st.markdown(f"**{d.name}: share within target**")
        if share.is_empty():
            chrome.empty(
                "Nothing measured in the range."
                + (f" Send `{d.selector}` samples." if d.selector else " Send workflow step events.")
            )
        else:
            st.altair_chart(
                charts.trend(share, color=None, y_title="% good", warning=d.objective * 100, y_format=",.2f"),
                width="stretch",
            )
    with budget_col:
        line = burn_down(
            chosen.outcomes,
            d.objective,
            d.period_days * 86_400_000,
            chosen.now_ms,
            86_400_000 if d.period_days > 3 else 3_600_000,
        )
        st.markdown(f"**Error budget burn-down, {d.period_days} days**")
        if line["remaining"].is_null().all():
            chrome.empty("No items in the budget period yet.")
        else:
            st.altair_chart(
                charts.trend(
                    line.with_columns(pl.col("remaining") * 100),
                    y="remaining",
                    color=None,
                    y_title="% budget left",
                    critical=0.0,
                    y_format=",.0f",
                ),
                width="stretch",
            )
    st.dataframe(view.windows(chosen), hide_index=True, width="stretch")

chrome.section(
    "Breaches", "Logged by the SLA check: when the item crossed its target, by how much, and whether it escalated."
)
if logged.is_empty():
    chrome.empty("No breach logged in the range.")
else:
    st.dataframe(
        view.breaches_table(logged, names),
        hide_index=True,
        width="stretch",
        height=320,
        column_config={"crossed": st.column_config.DatetimeColumn(format="MMM D, HH:mm")},
    )

chrome.section("Bottlenecks", "Ranked by impact = items affected × time lost; each with what to do.")
ranking, path = load_bottlenecks(str(ctx.engine.url), win.start_ms, win.end_ms)
if ranking.is_empty():
    st.success(
        "No step above 80 % of its target, no queue past its response target, no resource above 85 %.",
        icon=":material/check:",
    )
else:
    st.dataframe(view.bottleneck_table(ranking), hide_index=True, width="stretch")
if not path.is_empty():
    st.markdown("**Critical path** (mean time each step adds per workflow, waits included)")
    st.altair_chart(
        charts.bars(
            path.with_columns((pl.col("total_s") / 60).alias("minutes")),
            category="step",
            value="minutes",
            value_title="minutes per workflow",
            sort=path["step"].to_list(),
            extra_tooltip=["share"],
            height=40 * path.height + 40,
        ),
        width="stretch",
    )

left, right = st.columns(2)
with left.expander("SLA report for this range", icon=":material/description:"):
    if not can(viewer, "export_reports"):
        st.caption("Exporting reports needs the permission `export_reports`.")
    elif st.button("Prepare report") or st.session_state.get("sla_report_for") == (ctx.range_key, ctx.custom):
        st.session_state["sla_report_for"] = (ctx.range_key, ctx.custom)  # the download's rerun keeps the buttons
        report = build_report(ctx.engine, ctx.settings, win.start_ms, win.end_ms)
        span = {"start_ms": win.start_ms, "end_ms": win.end_ms}
        for label, data, name, mime in (
            ("Markdown", report.to_markdown(), "sla-report.md", "text/markdown"),
            ("JSON", json.dumps(report.to_dict(), indent=2), "sla-report.json", "application/json"),
        ):
            st.download_button(
                label,
                data,
                name,
                mime,
                on_click=audit.record,
                args=(ctx.engine, viewer.username, audit.EXPORT, f"sla_report:{name}", span, client_address()),
            )
if can(viewer, "edit_slas"):
    flash = st.session_state.pop("sla-flash", None)
    with right.expander("Edit SLAs", icon=":material/edit:", expanded=flash is not None):
        if flash:
            st.success(flash, icon=":material/check:")
        edit_tab, new_tab, delete_tab = st.tabs(["Edit", "New SLA", "Delete SLA"])
        with edit_tab:
            editing = (
                st.selectbox("SLA to edit", list(names), format_func=names.__getitem__, key="edit") if names else None
            )
            target = next((s.definition for s in found if s.definition.id == editing), None)
            if target is not None:
                edit_form(target)
        with new_tab:
            new_form()
        with delete_tab:
            if names:
                delete_form(names)
        if st.button("Restore missing defaults", key="sla-restore"):
            added = store.seed_defaults(ctx.engine, actor=viewer.username)
            audit.record(
                ctx.engine, viewer.username, audit.SLA_CHANGED, "defaults", {"restored": added}, client_address()
            )
            load.clear()
            st.rerun()
chrome.freshness(
    max((s.outcomes["ts"].max() or 0 for s in found if s.outcomes.height), default=None),
    stale_after_s=3600,
    what="SLA data",
)
