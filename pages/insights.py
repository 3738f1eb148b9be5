"""Insights: what changed (regressions after deployments, drift from baselines) and what to do (opportunities).

Everything comes from core.insights.view; findings are ranked by impact, each links to the page or
chart that shows it and can be dismissed or snoozed with a reason (kept in the store and audited).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import polars as pl
import streamlit as st

from core.insights import dismissals
from core.insights.findings import PAGE_TITLES, Finding, split, table
from core.insights.view import band_chart, hidden, load_insights
from core.model import now_ms
from core.ui import chrome, export
from core.ui import widgets as w
from core.ui.insight_charts import baseline_chart
from core.ui.login import require_page
from core.ui.text import md_escape

SHOWN = 12  # findings drawn as cards; the table lists every one
SCORES = w.TableConfig(
    title="Performance score per component",
    help="0–100 from latency, errors and saturation against each series' baseline (docs/insights.md).",
    progress=["score", "latency", "errors", "saturation"],
    empty="No scores yet: the insights job scores components every few minutes once baselines exist.",
)

viewer = require_page("insights")
ctx = chrome.page(
    "insights",
    viewer,
    default_range="7d",
    filters=(),
    caption="Regressions after deployments, drift from baselines and optimisation opportunities, by impact.",
)
win = ctx.window()
view = load_insights(ctx.engine, ctx.settings, win.start_ms, win.end_ms)
hidden_now = hidden(ctx.engine)
shown, dismissed = split(view.findings, hidden_now)
age = (
    "not computed yet"
    if view.baselines_ms is None
    else f"computed {(now_ms() - view.baselines_ms) / 60_000:.0f} min ago"
)
st.caption(
    f"Baselines: mean ± {ctx.settings.baseline_band_sigma:g} σ of the same hour of the week over "
    f"{ctx.settings.baseline_days} days ({age})."
)
counts = {kind: sum(f.kind == kind for f in shown) for kind in ("regression", "migration", "drift", "opportunity")}
scores = view.scores or {}
overall = scores.get("overall")
chrome.kpi_row(
    [
        (w.KpiConfig(title="Regressions", format="{:,.0f}", delta_good="down"), w.KpiValue(counts["regression"])),
        (w.KpiConfig(title="Migration regressions", format="{:,.0f}"), w.KpiValue(counts["migration"])),
        (w.KpiConfig(title="Drifting series", format="{:,.0f}"), w.KpiValue(counts["drift"])),
        (w.KpiConfig(title="Opportunities", format="{:,.0f}"), w.KpiValue(counts["opportunity"])),
        (
            w.KpiConfig(title="Performance score", format="{:,.0f}", empty="No baseline scores yet."),
            w.KpiValue(float(overall) if isinstance(overall, int | float) else None),
        ),
    ],
    ctx=ctx,
    per_row=5,
)


def fmt_ms(ms: int) -> str:
    """A UTC time for the dismissed list."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def link(finding: Finding) -> str:
    """Markdown link to where the finding shows: the baseline chart below for a series, else its page."""
    if finding.chart:
        return f"[Show the chart](./insights?series={quote(finding.chart)}#baseline-chart)"
    return f"[Open {PAGE_TITLES.get(finding.page, finding.page)}](./{finding.page})"


def dismiss_form(finding: Finding, index: int) -> None:
    """Dismiss or snooze with a reason; errors are named, nothing is stored without a reason."""
    with st.popover("Dismiss or snooze", icon=":material/notifications_paused:"), st.form(f"dismiss-{index}"):
        how = st.radio("Action", ["Snooze", "Dismiss"], horizontal=True)
        hours = st.number_input("Snooze for (hours)", min_value=1, max_value=2160, value=24)
        reason = st.text_input("Reason", max_chars=dismissals.MAX_REASON)
        if st.form_submit_button("Save"):
            try:
                if how == "Dismiss":
                    dismissals.dismiss(ctx.engine, finding.id, reason, viewer.username)
                else:
                    dismissals.snooze(ctx.engine, finding.id, reason, viewer.username, float(hours))
            except ValueError as error:
                st.error(str(error))
            else:
                st.rerun()


chrome.section("Findings by impact", "Impact 0–100 (docs/insights.md); effort and the estimated improvement per item.")
if not shown:
    chrome.empty(
        "Nothing to report in this range: no regression after a deployment, no drift from a baseline and no "
        "rule past its threshold."
    )
for index, finding in enumerate(shown[:SHOWN]):
    with st.container(border=True):
        head, side = st.columns([5, 2], vertical_alignment="top")
        with head:
            st.markdown(f"**{md_escape(finding.title)}**  \n:gray[{finding.kind} · impact {finding.impact:.0f}]")
            st.markdown(md_escape(finding.detail))
            extra = [f"effort **{finding.effort}**"] if finding.effort else []
            if finding.improvement:
                extra.append(f"estimated improvement: {md_escape(finding.improvement)}")
            if finding.confidence is not None:
                sure = "> 99.9" if finding.confidence >= 0.9995 else f"{finding.confidence * 100:.1f}"
                extra.append(f"confidence {sure} %")
            if extra:
                st.caption(" · ".join(extra))
        with side:
            st.markdown(link(finding))
            dismiss_form(finding, index)
if len(shown) > SHOWN:
    st.caption(f"{len(shown) - SHOWN} more in the table below.")
with st.expander(f"All findings ({len(shown)})"):
    chrome.widget(w.TableConfig(title="Findings", columns=None), table(shown).drop("id"), ctx=ctx)
if dismissed:
    with st.expander(f"Dismissed or snoozed ({len(dismissed)})"):
        for index, finding in enumerate(dismissed):
            note = hidden_now[finding.id]
            until = f" until {fmt_ms(note.until_ms)}" if note.until_ms else ""
            left, right = st.columns([5, 1], vertical_alignment="center")
            left.markdown(
                f"**{md_escape(finding.title)}** — {note.state}{until} by {md_escape(note.actor)}: "
                f"{md_escape(note.reason)}"
            )
            if right.button("Show again", key=f"restore-{index}"):
                dismissals.restore(ctx.engine, finding.id, viewer.username)
                st.rerun()

chrome.section("Performance score per component")
components = pl.DataFrame(scores.get("components") or [])
chrome.widget(SCORES, components if components.height else None, ctx=ctx)

st.subheader("Baseline chart", anchor="baseline-chart")
if view.series:
    top = next((f.chart for f in shown if f.chart in view.series), None)  # the top finding's chart by default
    wanted = st.query_params.get("series") or top
    default = view.series.index(wanted) if wanted in view.series else 0
    picked = st.selectbox("Series", view.series, index=default, key="series")
    banded, deploys, marks = band_chart(
        ctx.engine, ctx.settings, str(picked), win.start_ms, win.end_ms, view.regressions
    )
    if banded.filter(pl.col("hi").is_not_null()).is_empty():
        st.caption("No baseline for this series yet: the band appears once the insights job has computed one.")
    export.chart(baseline_chart(banded, deploys, marks, title=str(picked)), width="stretch", panel="baseline")
    st.caption("Shaded: the baseline band; dashed: expected; dotted rules: deployments; solid red rules: regressions.")
else:
    chrome.empty("No baselined series in this range: send the series listed in baseline_selectors (docs/insights.md).")
