"""Alerts: what is firing now, what fired before, and the rules, silences and channels behind it."""

from __future__ import annotations

import datetime as dt
import json

import altair as alt
import polars as pl
import streamlit as st
import yaml

from core.alerts import deliver, objects, store, views
from core.alerts.notify import NOTIFIERS, secrets
from core.alerts.rules import SEVERITIES, Rule, dump_yaml, parse_rule
from core.alerts.silences import MuteTiming
from core.auth import audit
from core.auth.access import can, may_handle_alert
from core.config import get_settings
from core.model import now_ms
from core.store import get_engine
from core.ui import charts, export, login
from core.ui.login import client_address, require_page
from core.ui.text import md_escape

viewer = require_page("alerts")
engine, settings = get_engine(), get_settings()
address = client_address()
export.set_scope("alerts", "", viewer, engine=engine, address=address)  # the tables' "Data" menus
may_edit = can(viewer, "edit_rules")
ICONS = {
    "critical": ":material/error:",
    "error": ":material/report:",
    "warning": ":material/warning:",
    "info": ":material/info:",
}
MUTE_TIMING_EXAMPLE = """\
name: sunday-maintenance
matchers: '{component="database"}'
timezone: Europe/Berlin
intervals:
  - weekdays: [sunday]
    times: [["02:00", "04:00"]]
"""


def read_only(what: str) -> None:
    st.info(
        f"{what} need the operations or admin role (permission `edit_rules`); you can look but not change.",
        icon=":material/lock:",
    )


@login.fragment(10)
def active_tab() -> None:
    now = now_ms()
    frame = store.alerts_frame(engine)
    firing = frame.filter(frame["state"] == "firing") if not frame.is_empty() else frame
    cols = st.columns(4)
    for col, severity in zip(cols, reversed(SEVERITIES), strict=True):
        count = firing.filter(firing["severity"] == severity).height if not firing.is_empty() else 0
        col.metric(f"{ICONS[severity]} {severity.title()} firing", count)
    left, right = st.columns([3, 1])
    text = left.text_input("Filter by labels", placeholder="component=api, endpoint=/orders")
    sort = right.radio("Sort by", ["severity", "age"], horizontal=True)
    table = views.active_table(views.label_filter(frame, text), now, sort)
    if table.is_empty():
        st.success("No alerts are pending or firing.", icon=":material/check_circle:")
        return
    shown = table.select(
        "state", "severity", "summary", "age_min", "acknowledged_by", "suppressed", "root_cause", "group_key", "labels"
    )
    export.table(
        shown,
        hide_index=True,
        width="stretch",
        column_config={"age_min": st.column_config.NumberColumn("age (min)")},
        panel="active-alerts",
    )
    mine = table.filter(
        pl.col("labels").map_elements(lambda text: may_handle_alert(viewer, json.loads(text)), return_dtype=pl.Boolean)
    )
    if mine.is_empty():
        st.info(
            "Acknowledging and resolving needs the operations or admin role; QA leads may handle alerts labelled "
            "`component=quality`." + (" None is listed now." if can(viewer, "acknowledge_quality_alerts") else ""),
            icon=":material/lock:",
        )
        return
    if mine.height < table.height:
        st.caption(
            "You may acknowledge or resolve quality alerts (`component=quality`) only; the list below holds those."
        )
    options = {
        f"{r['severity'].upper()}: {r['summary']} [{r['state']}]": r["fingerprint"] for r in mine.iter_rows(named=True)
    }
    with st.form("act"):
        picked = st.selectbox("Alert", list(options))
        comment = st.text_input("Comment")
        ack, resolve = st.columns(2)
        try:
            if ack.form_submit_button("Acknowledge", icon=":material/done:") and picked:
                ok = store.acknowledge(engine, options[picked], viewer, comment, address=address)
                st.toast("Acknowledged" if ok else "Only firing alerts can be acknowledged")
            if resolve.form_submit_button("Resolve manually", icon=":material/task_alt:") and picked:
                store.resolve(engine, options[picked], viewer, comment, address=address)
                st.toast("Resolved")
        except store.AlertPermissionError as error:
            st.error(md_escape(error), icon=":material/block:")


def history_tab() -> None:
    days = st.select_slider("Period", [1, 7, 30, 90], value=7, format_func=lambda d: f"last {d} d")
    frame = store.history_frame(engine, now_ms() - days * 86_400_000)
    cols = st.columns(3)
    cols[0].metric("Episodes", frame.height)
    cols[1].metric("Median duration", f"{(frame['duration_s'].median() or 0) / 60:.1f} min")
    cols[2].metric("Median time to acknowledge", f"{(frame['time_to_ack_s'].median() or 0) / 60:.1f} min")
    export.table(
        frame.select(
            "fired_at",
            "severity",
            "rule",
            "summary",
            "duration_s",
            "time_to_ack_s",
            "acknowledged_by",
            "ack_comment",
            "resolved_by",
        ),
        hide_index=True,
        width="stretch",
        panel="alert-history",
    )


def preview_chart(rule_text: str) -> None:
    try:
        rule = parse_rule(yaml.safe_load(rule_text) or {})
    except (ValueError, yaml.YAMLError, AttributeError) as error:
        st.error(f"Refused: {md_escape(error)}", icon=":material/error:")  # it quotes the rule, maybe from a link
        return
    result = views.preview(engine, rule, settings, now_ms())
    if result.frame.is_empty():
        st.info(f"Preview: {result.note}", icon=":material/info:")
        return
    chart = charts.trend(
        result.frame,
        title=f"{rule.name}: last 24 h",
        y_title=rule.selector,
        warning=rule.threshold if rule.severity != "critical" else None,
        critical=rule.threshold if rule.severity == "critical" else None,
        height=220,
    )
    if not result.episodes.is_empty():
        band = (
            alt.Chart(result.episodes)
            .mark_rect(opacity=0.15, color=charts.CRITICAL_COLOR)
            .encode(x="start:T", x2="end:T")
        )
        chart = alt.layer(band, chart)
    export.chart(chart, width="stretch", panel="rule-preview")
    st.caption(result.note or f"Would have fired {result.episodes.height} time(s) in the last 24 h (shaded).")


def rules_tab() -> None:
    rules = store.load_rules(engine)
    states = views.rule_states(rules, store.alerts_frame(engine), store.load_health(engine))
    if quiet := states.filter(pl.col("state") == "no data")["rule"].to_list():
        st.warning(
            f"No data for {len(quiet)} rule(s) in their last window: {', '.join(f'`{name}`' for name in quiet)}. "
            "They cannot fire until their metric arrives (docs/metrics.md names each metric's producer).",
            icon=":material/signal_disconnected:",
        )
    state_of = dict(states.select("rule", "state").iter_rows())
    export.table(
        [
            {
                "name": r.name,
                "state": state_of[r.name],
                "kind": r.kind,
                "severity": r.severity,
                "selector": r.selector,
                "condition": (
                    f"{r.op} {r.threshold:g}"
                    if r.threshold is not None
                    else f"{r.detector} detector, sensitivity {r.sensitivity}"
                ),
                "for": r.dump().get("for", "0s"),
                "enabled": r.enabled,
            }
            for r in rules
        ],
        hide_index=True,
        width="stretch",
        panel="rules",
    )
    params = st.query_params
    names = ["(new rule)", *(r.name for r in rules)] if may_edit else [r.name for r in rules]
    choice = st.selectbox("Edit rule" if may_edit else "Show rule", names)
    current = next((r for r in rules if r.name == choice), None)
    start = (
        dump_yaml([current])[len("rules:\n- ") :].replace("\n  ", "\n")
        if current
        else views.prefill(params.get("selector", "up"), params.get("agg", "avg"))
    )
    if not may_edit:
        read_only("Alert rules")
        if current:
            st.code(start, language="yaml")
            preview_chart(start)
    else:
        edit_rule(current, start, choice)
    with st.expander("Import / export YAML"):
        if can(viewer, "export_reports"):
            st.download_button(
                "Export all rules",
                dump_yaml(rules),
                "alert_rules.yaml",
                "application/yaml",
                on_click=audit.record,
                args=(
                    engine,
                    viewer.username,
                    audit.EXPORT,
                    "alert_rules",
                    {"format": "yaml", "rules": len(rules)},
                    address,
                ),
            )
        else:
            st.caption("Exporting needs the permission `export_reports`.")
        if not may_edit:
            return
        upload = st.text_area("Paste rules YAML to import (all or nothing)", height=120)
        if st.button("Import") and upload:
            try:
                st.success(f"Imported {len(store.import_rules(engine, upload, viewer, address))} rules.")
            except ValueError as error:
                st.error(md_escape(error))


def edit_rule(current: Rule | None, start: str, choice: str) -> None:
    text = st.text_area("Rule (YAML, fields in docs/alerting.md)", start, height=260, key=f"rule-{choice}")
    preview_chart(text)
    save, delete = st.columns(2)
    if save.button("Save rule", icon=":material/save:", type="primary"):
        try:
            store.save_rule(engine, parse_rule(yaml.safe_load(text) or {}), viewer, address=address)
            st.success("Saved.")
        except (ValueError, yaml.YAMLError, AttributeError) as error:
            st.error(f"Refused: {md_escape(error)}")
    if current and delete.button("Delete rule", icon=":material/delete:"):
        store.delete_rule(engine, current.name, viewer, address)
        st.rerun()


def silences_tab() -> None:
    if may_edit:
        with st.form("silence"):
            matchers = st.text_input("Matchers", '{alertname="high_queue_depth"}')
            hours = st.number_input("Duration (hours)", 0.25, 720.0, 2.0, 0.25)
            reason = st.text_input("Reason")
            if st.form_submit_button("Silence"):
                try:
                    now = now_ms()
                    objects.add_silence(engine, matchers, now, now + int(hours * 3_600_000), reason, viewer, address)
                except ValueError as error:
                    st.error(md_escape(error))
    else:
        read_only("Silences and mute timings")
    for silence in objects.silences(engine, since_ms=now_ms()):
        ends = dt.datetime.fromtimestamp(silence.ends_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        cols = st.columns([4, 1])
        cols[0].markdown(
            f"{md_escape(silence.matchers)} until {ends} — {md_escape(silence.reason)} "
            f"(*{md_escape(silence.created_by)}*)"
        )
        if may_edit and cols[1].button("Expire", key=f"expire-{silence.id}"):
            objects.expire_silence(engine, silence.id, viewer, address=address)
            st.rerun()
    st.subheader("Mute timings")
    for timing in objects.mute_timings(engine):
        st.markdown(
            f"**{md_escape(timing.name)}** {md_escape(timing.matchers)} {md_escape(timing.timezone)}: "
            + md_escape([i.model_dump() for i in timing.intervals])
        )
    if not may_edit:
        return
    example = MUTE_TIMING_EXAMPLE
    text = st.text_area("Add or replace a mute timing (YAML)", example, height=150)
    if st.button("Save mute timing"):
        try:
            objects.save_mute_timing(engine, MuteTiming.model_validate(yaml.safe_load(text)), viewer, address)
            st.rerun()
        except (ValueError, yaml.YAMLError) as error:
            st.error(f"Refused: {md_escape(error)}")


def channels_tab() -> None:
    if not may_edit:
        read_only("Notification channels")
    for channel in objects.channels(engine):
        cols = st.columns([4, 1])
        cols[0].markdown(
            f"**{md_escape(channel.name)}** · {md_escape(channel.kind)} · {md_escape(', '.join(channel.severities))}"
        )
        if channel.config:
            cols[0].caption(md_escape(json.dumps(secrets.masked(channel.config), ensure_ascii=False)))
        if may_edit and cols[1].button("Send test", key=f"test-{channel.name}"):
            error = deliver.send_test(engine, settings, channel, viewer)
            if error:
                cols[0].error(md_escape(error))
            else:
                cols[0].success("Delivered.")
    if may_edit:
        channel_form()
    st.subheader("Delivery log")
    export.table(deliver.delivery_log(engine), hide_index=True, width="stretch", panel="delivery-log")


def config_template(kind: str) -> str:
    """The JSON a new channel of ``kind`` starts from: its fields, empty, plus the delivery options."""
    fields = next(n.fields for n in NOTIFIERS if n.kind == kind)
    return json.dumps({key: "" for key in fields}, indent=1) if fields else "{}"


def channel_form() -> None:
    st.markdown("**Add or change a channel**")
    existing = {c.name: c for c in objects.channels(engine)}
    picked = st.selectbox("Channel", ["(new channel)", *existing], key="channel-pick")
    current = existing.get(picked)
    kinds = [n.kind for n in NOTIFIERS]
    kind = st.selectbox(
        "Kind",
        kinds,
        index=kinds.index(current.kind) if current else 0,
        format_func=lambda k: f"{k} — {next(n.description for n in NOTIFIERS if n.kind == k)}",
        key=f"channel-kind-{picked}",
    )
    fields = next(n.fields for n in NOTIFIERS if n.kind == kind)
    st.caption(
        " · ".join(f"`{k}`: {md_escape(v)}" for k, v in fields.items())  # keys are the notifiers' own constants
        + " · every kind also takes `max_attempts` (1–20), `backoff_s` (0–3600) and `rate_limit_per_minute` "
        "(1–600; more wait their turn). Secrets are never entered here: a `…_setting` field names the "
        "environment setting (PULSEBOARD_…) holding them."
    )
    with st.form("channel"):
        name = st.text_input("Name", picked if current else "")
        config_text = st.text_area(
            "Config (JSON)",
            json.dumps(current.config, indent=1) if current and current.kind == kind else config_template(kind),
            height=160,
            key=f"channel-config-{picked}-{kind}",
        )
        severities = st.multiselect(
            "Severities routed here",
            SEVERITIES,
            default=list(current.severities) if current else ["warning", "error", "critical"],
        )
        save_col, test_col = st.columns(2)
        save = save_col.form_submit_button("Save channel")
        test = test_col.form_submit_button("Send test notification")
    if not (save or test):
        return
    try:
        config = yaml.safe_load(config_text) or {}
        channel = objects.Channel(name, kind, config, tuple(severities))
        objects.check_channel(channel)
    except (ValueError, yaml.YAMLError) as error:
        st.error(f"Refused: {md_escape(error)}")
        return
    if test:
        error = deliver.send_test(engine, settings, channel, viewer)
        if error:
            st.error(f"Test failed: {md_escape(error)}")
        else:
            st.success("Test notification delivered.")
        return
    objects.save_channel(engine, channel, viewer, address)
    st.rerun()


firing_now = store.alerts_frame(engine)
count = int((firing_now["state"] == "firing").sum()) if not firing_now.is_empty() else 0
st.title("Alerts")
st.badge(f"{count} firing", icon=":material/notifications_active:", color="red" if count else "green")
active, history, rules_, silences_, channels_ = st.tabs(
    ["Active", "History", "Rules", "Silences & mute timings", "Channels"]
)
with active:
    active_tab()
with history:
    history_tab()
with rules_:
    rules_tab()
with silences_:
    silences_tab()
with channels_:
    channels_tab()
