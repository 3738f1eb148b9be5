"""QSE compliance: the programme view (sessions, COF/UCL compliance, templates, teams) and one session's detail."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st
from sqlalchemy.engine import Engine

from core.kpis.records import load_events, newest_event_ms, within
from core.programmes.compliance import QseRules
from core.programmes.views import EVENT_TYPES, filter_options, history_start, programme_view, session_detail, tiles
from core.ui import chrome
from core.ui import widgets as w
from core.ui.login import require_page
from core.ui.text import md_escape

NO_SESSION = "—"
STALE_AFTER_S = 2 * 86_400  # sessions report a few times a day: two quiet days mean a source stopped
SEND = (
    "Send qse.* events (docs/events.md) to /api/v1/events, or drop QSE-LOG-*.yaml session logs and "
    "EvidenceBundle.*.jsonl files into the inbox (docs/formats.md)."
)


def options(engine: Engine, start_ms: int, end_ms: int) -> dict[str, list[str]]:
    """The filters' choices: the teams and templates of the sessions in the range, and the statuses."""
    return filter_options(load_events(engine, EVENT_TYPES, start_ms, end_ms))


viewer = require_page("qse")
ctx = chrome.page(
    "qse",
    viewer,
    default_range="30d",
    filters=("team", "template", "status"),
    filter_options=options,
    caption=(
        "QSE sessions, their COF/UCL constitutional compliance, template effectiveness and adoption, computed from "
        "stored qse.* events (docs/qse.md). Open a session below the sessions table for its detail."
    ),
)
rules = QseRules.of(ctx.settings)
levels = w.Thresholds(warning=rules.warning_below * 100, critical=rules.critical_below * 100, higher_is_worse=False)
KPIS = (
    w.KpiConfig(
        title="Active sessions",
        format="{:,.0f}",
        help="Sessions in progress at the end of the range (started, no qse.session_completed yet).",
        empty=SEND,
    ),
    w.KpiConfig(
        title="Adoption rate",
        unit="%",
        help="Teams with a session in the range ÷ the organisation's teams (setting qse_teams; without it, every "
        "team seen in QSE events).",
    ),
    w.KpiConfig(
        title="Average compliance",
        unit="%",
        thresholds=levels,
        help="COF weight × mean COF dimension score + UCL weight × mean UCL law score, each dimension and law the "
        "mean of the sessions' latest scores for it.",
    ),
    w.KpiConfig(
        title="Gate pass rate",
        unit="%",
        help="qse.gate_evaluated events in the range that passed.",
    ),
)
SESSIONS = w.TableConfig(
    title="Sessions",
    help="Every session active in the range; compliance is its latest assessment, trend the points it moved "
    "against the one before, overrun the running phase's hours ÷ its plan.",
    empty=f"No QSE session in this range. {SEND}",
    height=320,
)
TREND = w.TrendConfig(
    title="Compliance trend (mean of the past 7 days' assessments)",
    y="value",
    color="series",
    unit="%",
    thresholds=levels,
    annotations=False,
    zero=False,
    empty="No compliance assessment in this range. Send qse.compliance_scored events (cof_scores, ucl_scores).",
)
COF = w.StatusGridConfig(
    title="COF dimensions (click one for its evidence)",
    columns=5,
    note="note",
    help="Each dimension: the mean of the sessions' latest scores for it, its band and its evidence records.",
)
UCL = w.StatusGridConfig(title="UCL laws (click one for its evidence)", columns=5, note="note")
EVIDENCE = w.TableConfig(
    title="Evidence",
    empty="No evidence recorded for it. Evidence arrives as qse.evidence_recorded events or EvidenceBundle files.",
    height=260,
)
WEAKEST = w.TableConfig(title="Weakest dimensions and laws", columns=["criterion", "score_pct", "band", "framework"])
RECOMMENDATIONS = w.TableConfig(
    title="Recommendations",
    empty="Nothing to improve: every dimension and law is compliant, scored and backed by evidence.",
)
EFFECTIVENESS = w.BarConfig(
    title="Template effectiveness",
    category="template",
    value="effectiveness_pct",
    color="rating",
    unit="% effective",
    extra_tooltip=["uses", "success_pct", "schedule_pct", "quality_pct", "compliance_pct"],
    help="Mean of success rate, schedule adherence, deliverable quality and compliance of the template's sessions "
    "that started in the range; judged only from the minimum number of uses.",
    empty="No session started in this range, so no template to judge.",
)
TEMPLATES = w.TableConfig(
    title="Template performance",
    help="Uses: sessions started in the range (usage_trend: against the span before); hours: mean work hours of "
    "the finished ones, actual against planned; success: finished, not abandoned, no gate failing.",
)
HEATMAP = w.HeatmapConfig(
    title="Customisation: share of each template's sessions that changed a phase (+ added)",
    x="template",
    y="phase",
    value="share_pct",
    x_type="N",
    unit="% of sessions",
    empty="No session with a planned phase list (qse.session_started phases) in this range.",
)
SUGGESTIONS = w.TableConfig(title="Template optimisation", empty="No suggestion: no template stands out.")
TEAM_BARS = w.BarConfig(
    title="Compliance by team",
    category="team",
    value="compliance_pct",
    color="band",
    unit="% compliance",
    thresholds=levels,
    extra_tooltip=["sessions", "active", "gate_pass_pct", "hours_vs_plan"],
    empty="No team with an assessed session in this range.",
)
TEAMS = w.TableConfig(title="Cross-team comparison")
GANTT = w.GanttConfig(title="Phases: planned and actual", empty="No phase of this session has started yet.")
SESSION_KPIS = (
    w.KpiConfig(title="Progress", unit="%", help="Planned phases completed."),
    w.KpiConfig(title="Compliance", unit="%", thresholds=levels, help="The session's latest assessment."),
    w.KpiConfig(
        title="Projected hours ÷ plan",
        format="{:,.2f}",
        unit="×",
        thresholds=w.Thresholds(warning=1.2, critical=rules.delay_multiplier),
        help="Work hours the session will have taken at the rate its phases ran against plan so far, over the "
        "planned hours (phases not started: the template's usual plan).",
    ),
    w.KpiConfig(
        title="Failed gates", format="{:,.0f}", delta_good="down", help="Gates whose latest evaluation failed."
    ),
)
SESSION_TREND = w.TrendConfig(
    title="Compliance per assessment",
    y="value",
    color="series",
    unit="%",
    thresholds=levels,
    annotations=False,
    zero=False,
)
DELIVERABLES = w.BarConfig(
    title="Deliverables: quality score",
    category="deliverable",
    value="quality",
    unit="% quality",
    thresholds=levels,
    extra_tooltip=["phase"],
    empty="No deliverable completed yet (qse.deliverable_completed).",
)
GATES = w.TableConfig(title="Quality gates", empty="No gate evaluated yet (qse.gate_evaluated).")


def _when(ms: int | None) -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _drill(view_criteria: pl.DataFrame, evidence: pl.DataFrame, criterion: str | None) -> None:
    if not criterion:
        return
    row = view_criteria.filter(pl.col("criterion") == criterion)
    chrome.widget(
        EVIDENCE.model_copy(update={"title": f"Evidence — {criterion}", "id": "evidence"}),
        evidence.filter(pl.col("criterion") == criterion).drop("criterion"),
        ctx=ctx,
    )
    if row.height and row["score"][0] is not None:
        st.caption(
            f"{md_escape(criterion)}: {row['score'][0] * 100:.1f} %, {row['band'][0]}, scored by "
            f"{row['sessions'][0]} session(s)."
        )


def session_panel(events: pl.DataFrame, session_id: str, end_ms: int) -> None:
    detail = session_detail(events, session_id, end_ms, rules)
    if detail is None:
        chrome.empty(f"No QSE event names session {md_escape(session_id)} in the loaded history.")
        return
    head, p = detail.header, detail.prediction
    chrome.section(
        f"Session {md_escape(session_id)}",
        f"{md_escape(head['title'])} · template {md_escape(head['template'])} · team {md_escape(head['team'])} · "
        f"{head['status']} · phase {md_escape(head['phase'])} · started {head['started']:%Y-%m-%d %H:%M} UTC",
    )
    chrome.kpi_row(
        list(
            zip(
                SESSION_KPIS,
                (head["progress"], head["compliance"], p.ratio, float(head["gates_failed"])),  # type: ignore[arg-type]
                strict=True,
            )
        ),
        ctx=ctx,
    )
    verdict = "completed" if p.risk == "done" else f"risk **{p.risk}**"
    reasons = "; ".join(md_escape(r) for r in p.reasons) or "phases on plan, gates passing, compliance in band"
    label = "Completed" if p.risk == "done" else "Projected completion"
    st.markdown(f"{label}: **{_when(p.completion_ms)}** · {verdict} — {reasons}.")
    chrome.widget(GANTT, detail.gantt, ctx=ctx, key="gantt")
    left, right = st.columns(2)
    with left:
        chrome.widget(DELIVERABLES, detail.deliverables, ctx=ctx, key="deliverables")
    with right:
        chrome.widget(GATES, detail.gates, ctx=ctx)
    left, right = st.columns(2)
    with left:
        cof = chrome.widget(
            COF.model_copy(update={"id": "session-cof"}),
            tiles(detail.criteria, "COF"),
            ctx=ctx,
            key="session-cof-pick",
        )
    with right:
        ucl = chrome.widget(
            UCL.model_copy(update={"id": "session-ucl"}),
            tiles(detail.criteria, "UCL"),
            ctx=ctx,
            key="session-ucl-pick",
        )
        chrome.widget(SESSION_TREND, detail.trend, ctx=ctx)
    _drill(detail.criteria, detail.evidence, cof or ucl)
    chrome.widget(
        EVIDENCE.model_copy(update={"title": "All evidence of this session", "id": "session-evidence"}),
        detail.evidence,
        ctx=ctx,
    )
    chrome.widget(RECOMMENDATIONS.model_copy(update={"id": "session-recommendations"}), detail.recommendations, ctx=ctx)


@chrome.live(ctx)
def programme() -> None:
    win = ctx.window()
    first = history_start(win.start_ms, win.end_ms)
    events = within(load_events(ctx.engine, EVENT_TYPES, first, win.end_ms), first, win.end_ms)
    view = programme_view(events, win.start_ms, win.end_ms, rules, ctx.filters, win.step_ms(90))
    chrome.freshness(newest_event_ms(ctx.engine, ("qse.*",)), stale_after_s=STALE_AFTER_S, what="QSE event")
    k, before = view.kpis, view.previous

    def earlier(value: float | None) -> float | None:  # no session at all before: no figure to compare with
        return None if before.sessions == 0 or value is None else float(value)

    organisation = view.trend.filter(pl.col("series") == "organisation").select("ts", "value")
    chrome.kpi_row(
        [
            (KPIS[0], w.KpiValue(float(k.active_sessions) if k.sessions else None, earlier(before.active_sessions))),
            (
                KPIS[1],
                w.KpiValue(
                    k.adoption_pct if k.sessions else None,
                    earlier(before.adoption_pct),
                    note=f"{k.teams_using} of {k.teams_known} teams",
                ),
            ),
            (KPIS[2], w.KpiValue(k.compliance_pct, before.compliance_pct, organisation)),
            (KPIS[3], w.KpiValue(k.gate_pass_pct, before.gate_pass_pct, note=f"{k.gates} evaluations")),
        ],
        ctx=ctx,
    )
    if k.drop_points is not None and k.drop_points >= rules.degradation_points:
        st.warning(
            f"The organisation's compliance over the past 7 days is {k.drop_points:.1f} points below the 7 days "
            "before.",
            icon=":material/trending_down:",
        )

    chrome.section("Sessions", f"{view.sessions.height} session(s) active in the range.")
    chrome.widget(SESSIONS, view.sessions, ctx=ctx)
    ids = view.sessions["session"].to_list()
    chosen = st.selectbox(
        "Open a session",
        [NO_SESSION, *ids],
        key="session",
        bind="query-params",
        help="Its phase timeline, deliverables, gates, COF/UCL breakdown, evidence and projected completion.",
    )
    if chosen and chosen != NO_SESSION:
        with st.container(border=True):
            session_panel(events, str(chosen), win.end_ms)

    s = view.summary
    chrome.section(
        "Constitutional compliance",
        "Organisation: "
        + ("not assessed yet" if s.overall is None else f"{s.overall * 100:.1f} % overall ({s.band})")
        + ("" if s.cof is None else f" · COF {s.cof * 100:.1f} %")
        + ("" if s.ucl is None else f" · UCL {s.ucl * 100:.1f} %")
        + ("" if s.coverage is None else f" · coverage {s.coverage * 100:.0f} %")
        + f" · weights {rules.weights.cof:g} / {rules.weights.ucl:g}; bands below "
        f"{rules.warning_below * 100:g} % warning, below {rules.critical_below * 100:g} % critical.",
    )
    chrome.widget(TREND, view.trend, ctx=ctx)
    left, right = st.columns([13, 7])
    with left:
        cof = chrome.widget(COF, tiles(view.criteria, "COF"), ctx=ctx, key="cof-pick")
    with right:
        ucl = chrome.widget(UCL, tiles(view.criteria, "UCL"), ctx=ctx, key="ucl-pick")
    _drill(view.criteria, view.evidence, cof or ucl)
    left, right = st.columns([2, 3])
    with left:
        chrome.widget(WEAKEST, view.weakest.with_columns((pl.col("score") * 100).round(1).alias("score_pct")), ctx=ctx)
    with right:
        chrome.widget(RECOMMENDATIONS, view.recommendations, ctx=ctx)

    chrome.section(
        "Templates",
        f"Judged from {rules.min_uses} uses (sessions started in the range): excellent from "
        f"{rules.excellent * 100:g} %, effective from {rules.effective * 100:g} %.",
    )
    left, right = st.columns(2)
    with left:
        chrome.widget(EFFECTIVENESS, view.templates, ctx=ctx)
    with right:
        phases = max(view.customisation["phase"].n_unique(), 1)
        # the height holds the rows and, under them, the templates' slanted names and the colour legend
        chrome.widget(HEATMAP.model_copy(update={"height": 26 * phases + 200}), view.customisation, ctx=ctx)
    chrome.widget(TEMPLATES, view.templates, ctx=ctx)
    chrome.widget(SUGGESTIONS, view.suggestions, ctx=ctx)

    chrome.section("Teams", "Sessions, compliance, gate pass rate and hours against plan, team by team.")
    left, right = st.columns([2, 3])
    with left:
        chrome.widget(TEAM_BARS, view.teams.filter(pl.col("compliance_pct").is_not_null()), ctx=ctx)
    with right:
        chrome.widget(TEAMS, view.teams, ctx=ctx)


programme()
