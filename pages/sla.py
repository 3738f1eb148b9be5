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
from core.sla.report import SlaReport, build_report, step_words
from core.sla.status import SlaStatus, statuses
from core.ui import charts, chrome, export
from core.ui import widgets as w
from core.ui.login import client_address, require_page
from core.ui.text import md_escape

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


@st.cache_data(ttl=30, max_entries=8, show_spinner="Measuring the range and the period before it…")
def load_report(_url: str, start_ms: int, end_ms: int) -> SlaReport:
    """The range's report: the comparison, trends, breaches and bottlenecks below, and the downloads."""
    return build_report(ctx.engine, ctx.settings, start_ms, end_ms, now_ms=end_ms)


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
        st.error(f"Not saved: {md_escape(error)}", icon=":material/block:")
        return
    if changed == definition:
        st.info("Nothing changed.")
        return
    store.save_definition(ctx.engine, changed, viewer)
    diff = {k: [v, values[k]] for k, v in definition.model_dump().items() if values[k] != v}
    audit.record(ctx.engine, viewer.username, audit.SLA_CHANGED, changed.id, diff, client_address())
    load.clear()
    load_report.clear()
    st.success(f"Saved {md_escape(changed.name)}.", icon=":material/check:")


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
        st.error(f"Not created: {md_escape(error)}", icon=":material/block:")
        return
    audit.record(
        ctx.engine, viewer.username, audit.SLA_CHANGED, created.id, {"created": created.model_dump()}, client_address()
    )
    done(f"Created {md_escape(created.name)}.")


def delete_form(names: dict[str, str]) -> None:
    doomed = st.selectbox("SLA to delete", list(names), format_func=names.__getitem__, key="sla-delete-id")
    sure = st.checkbox(
        f"Delete {md_escape(names[doomed])} for good (its logged breaches stay)", key="sla-delete-confirm"
    )
    if st.button("Delete SLA", icon=":material/delete:", disabled=not sure, key="sla-delete") and sure:
        deleted = store.delete_definition(ctx.engine, doomed, viewer)
        audit.record(
            ctx.engine, viewer.username, audit.SLA_CHANGED, doomed, {"deleted": deleted.model_dump()}, client_address()
        )
        st.session_state.pop("sla-delete-confirm", None)
        done(f"Deleted {md_escape(deleted.name)}.")


def done(message: str) -> None:
    """Show ``message`` after the rerun that redraws the page with the changed SLAs."""
    load.clear()
    load_report.clear()
    st.session_state["sla-flash"] = message
    st.rerun()


win = ctx.window()
found = load(str(ctx.engine.url), win.start_ms, win.end_ms)
if not found:
    chrome.empty("No SLA is defined. Restore the specification's defaults below (Edit SLAs).")
met = [s.compliance["range"].met(s.definition) for s in found]
firing = [a for s in found for a in s.firing]
worst = min((s for s in found if s.budget.remaining is not None), key=lambda s: s.budget.remaining or 0.0, default=None)
report = load_report(str(ctx.engine.url), win.start_ms, win.end_ms)
bucket = step_words(report.trend_step_ms)
names = {s.definition.id: s.definition.name for s in found}
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
    help=None if worst is None else f"{md_escape(worst.definition.name)}, over {worst.definition.period_days} days.",
)
k3.metric("Burn-rate alerts", len(firing), border=True, help="Multi-window burn-rate rules firing now (docs/sla.md).")
breaches_now, breaches_before = view.breach_totals(report.lines)
k4.metric(
    "Breaches",
    f"{breaches_now:,}",
    f"{breaches_now - breaches_before:+,} vs previous period",
    delta_color="inverse" if breaches_now != breaches_before else "off",
    border=True,
    help=f"Items over target in the range (latency SLAs: buckets), exactly the late share of the compliance table; "
    f"{int(report.breaches['escalated'].sum()):,} past their escalation threshold. "
    f"The period of the same length before: {breaches_before:,}.",
)
chrome.section(
    "Compliance",
    "Shares over the chosen range; budget and burn rates over each SLA's period (burn 1× spends it exactly).",
)
export.table(
    view.summary(found, "range"),
    hide_index=True,
    width="stretch",
    column_config={
        "burn 1 h": st.column_config.NumberColumn(format="%.1f×"),
        "burn 6 h": st.column_config.NumberColumn(format="%.1f×"),
        "burn 3 d": st.column_config.NumberColumn(format="%.1f×"),
    },
    panel="sla-summary",
)

chrome.section(
    "Against the previous period",
    f"Each SLA over the range next to the period of the same length just before it: the share within target "
    f"(availability for uptime) with its line per {bucket}, then items and breaches.",
)
cards = view.trend_cards(report.lines, bucket)
if cards:
    chrome.kpi_row(
        [
            (
                w.KpiConfig(
                    title=md_escape(c.name), id=f"sla-trend-{c.sla_id}", unit="%", format="{:.2f}", help=c.help
                ),
                w.KpiValue(c.value, c.previous, c.trend),
            )
            for c in cards
        ]
    )
export.table(
    view.comparison(report.lines),
    hide_index=True,
    width="stretch",
    height=35 * (len(report.lines) + 1) + 3,  # every SLA in view, no inner scrolling
    column_config={
        "change pts": st.column_config.NumberColumn(format="%+.2f"),
        "items change": st.column_config.NumberColumn(format="%+d"),
        "breaches change": st.column_config.NumberColumn(format="%+d"),
    },
    panel="sla-comparison",
)

chrome.section("Trend and error budget")
chosen_id = st.selectbox("SLA", list(names), format_func=names.__getitem__, key="sla") if names else None
chosen = next((s for s in found if s.definition.id == chosen_id), None)
if chosen is not None:
    d = chosen.definition
    trend_col, budget_col = st.columns(2)
    with trend_col:
        line = next((x for x in report.lines if x.sla_id == d.id), None)
        share = view.trend(line) if line is not None else pl.DataFrame()
        st.markdown(f"**{md_escape(d.name)}: share {view.compliance_word(d.kind)} per {bucket}**")
        if share.is_empty():
            chrome.empty(
                "Nothing measured in the range."
                + (f" Send {md_escape(d.selector)} samples." if d.selector else " Send workflow step events.")
            )
        else:
            export.chart(
                charts.trend(share, color=None, y_title="% good", warning=d.objective * 100, y_format=",.2f"),
                width="stretch",
                panel="good-share",
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
            export.chart(
                charts.trend(
                    line.with_columns(pl.col("remaining") * 100),
                    y="remaining",
                    color=None,
                    y_title="% budget left",
                    critical=0.0,
                    y_format=",.0f",
                ),
                width="stretch",
                panel="error-budget",
            )
    export.table(view.windows(chosen), hide_index=True, width="stretch", panel="sla-windows")

chrome.section(
    "Breaches",
    "Every item over target in the range, newest first: when it crossed its target, by how much, whether it "
    "escalated. They are the items the compliance table counts as late; a latency SLA lists each bucket over target.",
)
if report.breaches.is_empty():
    chrome.empty("No item over target in the range.")
else:
    late = [x.sla_id for x in report.lines if x.breaches]
    pick_col, page_col = st.columns([3, 1])
    only = pick_col.selectbox(
        "SLA", ["", *late], format_func=lambda i: names.get(i, i) or "All SLAs", key="sla-breach-sla"
    )
    shown = view.only_sla(report.breaches, only or None)
    number = page_col.number_input(
        "Page", min_value=1, max_value=view.page_count(shown.height), value=1, step=1, key="sla-breach-page"
    )
    page = view.page_of(shown, int(number))
    export.table(
        view.breaches_table(page.rows),
        hide_index=True,
        width="stretch",
        column_config={
            "crossed": st.column_config.DatetimeColumn(format="MMM D, HH:mm"),
            "over %": st.column_config.NumberColumn(format="%.0f %%"),
        },
        panel="breaches",
    )
    st.caption(f"{page.caption} The report downloads below list every one.")

chrome.section("Bottlenecks", "Ranked by impact = items affected × time lost; each with what to do.")
ranking, path = bn.as_frame(report.bottlenecks), pl.DataFrame(list(report.critical_path))
if ranking.is_empty():
    st.success(
        "No step above 80 % of its target, no queue past its response target, no resource above 85 %.",
        icon=":material/check:",
    )
else:
    export.table(view.bottleneck_table(ranking), hide_index=True, width="stretch", panel="bottlenecks")
if not path.is_empty():
    st.markdown("**Critical path** (mean time each step adds per workflow, waits included)")
    export.chart(
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
        panel="critical-path",
    )

left, right = st.columns(2)
with left.expander("SLA report for this range", icon=":material/description:"):
    if not can(viewer, "export_reports"):
        st.caption("Exporting reports needs the permission `export_reports`.")
    elif st.button("Prepare report") or st.session_state.get("sla_report_for") == (ctx.range_key, ctx.custom):
        st.session_state["sla_report_for"] = (ctx.range_key, ctx.custom)  # the download's rerun keeps the buttons
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
            load_report.clear()
            st.rerun()
chrome.freshness(
    max((s.outcomes["ts"].max() or 0 for s in found if s.outcomes.height), default=None),
    stale_after_s=3600,
    what="SLA data",
)
