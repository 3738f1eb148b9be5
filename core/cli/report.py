"""The migration report as one static HTML file: inline CSS and hand-drawn SVG, no script, no external resource.

It is meant to be mailed, archived or opened where there is no server and no network, so it may
not reference anything outside itself (a test checks there is no http(s) URL in it). Every figure
comes from the MigrationView the page and ``stats summary`` use; the timeline and the old-vs-new
chart are drawn here as SVG because a chart library would need its JavaScript from somewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from core.programmes.migration import MigrationView

# Okabe–Ito, as core/ui/charts.py: readable with the common colour-vision deficiencies, always with a text label
STATUS = {
    "completed": "#009E73",
    "in_progress": "#0072B2",
    "late": "#E69F00",
    "blocked": "#D55E00",
    "not_started": "#999999",
}
HEALTH = {"healthy": "#009E73", "at risk": "#E69F00", "critical": "#D55E00", "no data": "#999999"}
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1b1b1b;
padding:0 1rem;line-height:1.4}
h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.muted{color:#555}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ccc;border-radius:8px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.badge{display:inline-block;padding:.15rem .6rem;border-radius:1rem;color:#fff;
font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.3rem .5rem;border-bottom:1px solid #e5e5e5;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font-family:inherit;font-size:12px}
@media (prefers-color-scheme: dark){body{background:#111;color:#eee}.muted{color:#aaa}th,td{border-color:#333}
.card{border-color:#444}svg text{fill:#eee}}
"""


def _t(ms: int | None, fmt: str = "%Y-%m-%d") -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)


def _interval(view: MigrationView) -> str:
    """'<br>80 %: 2026-03-10 – 2026-03-21' under the estimated completion, when the schedule gives an interval."""
    if view.eta_low_ms is None or view.eta_interval == "completed":
        return ""
    high = _t(view.eta_high_ms) if view.eta_high_ms is not None else "no upper bound"
    return f"<br><small>80 %: {escape(_t(view.eta_low_ms))} – {escape(high)}</small>"


def _n(value: Any, fmt: str = "{:,.1f}", suffix: str = "") -> str:
    return "—" if value is None else escape(fmt.format(value) + suffix)


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset()) -> str:  # type: ignore[assignment]
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(str(v))}</td>' if i in numeric else f"<td>{escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def gantt_svg(view: MigrationView, width: int = 1040) -> str:
    """Phases as bars from planned start to planned end (outlined) and as forecast (filled by status), a today
    line, milestones as diamonds; a text label names each bar's status."""
    phases = view.phases
    if phases.is_empty():
        return "<p class='muted'>No phases known yet.</p>"
    lo = min(
        v for v in [*phases["planned_start_ms"].to_list(), *phases["forecast_start_ms"].to_list(), view.now_ms] if v
    )
    hi = max(v for v in [*phases["planned_end_ms"].to_list(), *phases["forecast_end_ms"].to_list(), view.now_ms] if v)
    hi = max(hi, lo + 1)
    left, row, top = 130, 30, 24
    plot = width - left - 150

    def x(ms: float) -> float:
        return left + (ms - lo) / (hi - lo) * plot

    out = [
        f'<svg role="img" aria-label="Migration timeline" width="100%" '
        f'viewBox="0 0 {width} {top + row * (phases.height + 1)}">'
    ]
    for n, r in enumerate(phases.iter_rows(named=True)):
        y = top + n * row
        late = r["status"] != "completed" and (r["delay_days"] or 0) > 0
        state = "late" if late and r["status"] != "blocked" else r["status"]
        color = STATUS.get(state, "#999999")
        out.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{escape(r["name"])}</text>')
        if r["planned_start_ms"] and r["planned_end_ms"]:
            ps, pe = x(r["planned_start_ms"]), x(r["planned_end_ms"])
            out.append(
                f'<rect x="{ps:.1f}" y="{y + 4}" width="{max(pe - ps, 2):.1f}" height="18" fill="none" '
                f'stroke="#777" stroke-dasharray="4 2"><title>planned {_t(r["planned_start_ms"])} → '
                f"{_t(r['planned_end_ms'])}</title></rect>"
            )
        if r["forecast_start_ms"] and r["forecast_end_ms"]:
            fs, fe = x(r["forecast_start_ms"]), x(r["forecast_end_ms"])
            out.append(
                f'<rect x="{fs:.1f}" y="{y + 8}" width="{max(fe - fs, 2):.1f}" height="10" fill="{color}">'
                f"<title>{escape(state)} {r['progress']:.0f} %, forecast end {_t(r['forecast_end_ms'])}</title></rect>"
            )
            label = f"{state.replace('_', ' ')} · {r['progress']:.0f} %"
            if late:
                label += f" · +{r['delay_days']:.0f} d"
            out.append(
                f'<text x="{max(fe, x(r["planned_end_ms"] or fe)) + 12:.1f}" y="{y + 17}">{escape(label)}</text>'
            )
    for m in view.milestones.iter_rows(named=True):
        ids = phases["id"].to_list()
        n = ids.index(m["phase"]) if m["phase"] in ids else phases.height
        cx, cy = x(m["due_ms"]), top + n * row + 13
        out.append(
            f'<path d="M{cx:.1f} {cy - 6} l6 6 l-6 6 l-6 -6 z" fill="#CC79A7"><title>{escape(m["name"])}: '
            f"{escape(m['status'])}, due {_t(m['due_ms'])}</title></path>"
        )
    today = x(view.now_ms)
    bottom = top + row * phases.height
    out.append(
        f'<line x1="{today:.1f}" x2="{today:.1f}" y1="{top - 6}" y2="{bottom}" stroke="#D55E00" stroke-width="2"/>'
    )
    out.append(f'<text x="{today:.1f}" y="{top - 10}" text-anchor="middle">today</text>')
    out.append(f'<text x="{left}" y="{bottom + 18}">{_t(lo)}</text>')
    out.append(f'<text x="{left + plot}" y="{bottom + 18}" text-anchor="end">{_t(hi)}</text>')
    out.append("</svg>")
    return "".join(out)


def delta_svg(view: MigrationView, width: int = 1040) -> str:
    """Δ % of the median per operation, new vs old: bars left of zero are faster, right slower, a rule at +10 %."""
    perf = view.performance.filter(view.performance["delta_p50_pct"].is_not_null())
    if perf.is_empty():
        return "<p class='muted'>No old/new timings in this range.</p>"
    left, row, top = 230, 26, 10
    plot = width - left - 110
    bound = max(20.0, *(abs(v) for v in perf["delta_p50_pct"].to_list())) * 1.1

    def x(v: float) -> float:
        return left + (v + bound) / (2 * bound) * plot

    out = [
        f'<svg role="img" aria-label="Performance change, new vs old" width="100%" '
        f'viewBox="0 0 {width} {top + row * perf.height + 30}">'
    ]
    for n, r in enumerate(perf.iter_rows(named=True)):
        y, v = top + n * row, r["delta_p50_pct"]
        color = "#D55E00" if r["regression"] else "#009E73" if r["verdict"] == "improved" else "#999999"
        x0, x1 = sorted((x(0), x(v)))
        out.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{escape(r["operation"])}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" height="14" fill="{color}"/>')
        out.append(f'<text x="{max(x1, x(0)) + 6:.1f}" y="{y + 15}">{v:+.1f} % · {escape(r["verdict"])}</text>')
    bottom = top + row * perf.height
    out.append(f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top}" y2="{bottom}" stroke="#777"/>')
    out.append(
        f'<line x1="{x(10):.1f}" x2="{x(10):.1f}" y1="{top}" y2="{bottom}" stroke="#E69F00" stroke-dasharray="4 3"/>'
    )
    out.append(f'<text x="{x(10):.1f}" y="{bottom + 16}" text-anchor="middle">+10 % (regression)</text>')
    out.append(f'<text x="{x(0):.1f}" y="{bottom + 16}" text-anchor="end">← faster   </text>')
    out.append("</svg>")
    return "".join(out)


def html_report(view: MigrationView) -> str:
    """The whole report."""
    b = view.batches
    colour = HEALTH.get(view.health, "#999999")
    cards = [
        ("Progress", _n(view.progress_pct, suffix=" %")),
        (
            "Estimated completion",
            escape(_t(view.eta_ms)) + (f" ({view.slip_days:+.1f} d)" if view.slip_days else "") + _interval(view),
        ),
        ("Success rate", _n(b["success_rate_pct"], "{:.2f}", " %")),
        ("Blockers", str(view.blockers.height)),
        ("Rollbacks", str(view.rollbacks.height)),
        ("Performance Δ", _n(view.perf_delta_pct, "{:+.1f}", " %")),
    ]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>{escape(view.name)} — migration report</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(view.name)} — migration health</h1>",
        f"<p class='muted'>{escape(_t(view.start_ms, '%Y-%m-%d %H:%M'))} → "
        f"{escape(_t(view.now_ms, '%Y-%m-%d %H:%M'))} UTC"
        + (f" · week {view.week} of {view.weeks_total}" if view.week else "")
        + (f" · plan {escape(view.plan_file)}" if view.plan_file else " · no plan file")
        + "</p>",
        f"<p><span class='badge' style='background:{colour}'>{escape(view.health.upper())}</span></p>",
        "<div class='cards'>" + "".join(f"<div class='card'>{k}<b>{v}</b></div>" for k, v in cards) + "</div>",
    ]
    if view.findings:
        parts.append(
            "<ul>"
            + "".join(
                f"<li><b>{escape(f.level)}</b>: {escape(f.message)} — {escape(f.action)}</li>" for f in view.findings
            )
            + "</ul>"
        )
    parts += ["<h2>Timeline</h2>", gantt_svg(view)]
    if view.milestones.height:
        parts.append(
            _table(
                ["milestone", "phase", "due", "status"],
                [
                    [m["name"], m["phase"] or "—", _t(m["due_ms"]), m["status"]]
                    for m in view.milestones.iter_rows(named=True)
                ],
            )
        )
    if view.components.height:
        parts += ["<h2>Components</h2>", _components(view)]
    parts += ["<h2>Issues</h2>", _issues(view)]
    if view.suites.height:
        parts += [
            "<h2>Test suites</h2>",
            _table(
                ["suite", "pass %", "failed", "tests", "time (s)", "status", "last run"],
                [
                    [
                        r["suite"],
                        _n(r["pass_pct"]),
                        r["failed"],
                        r["tests"],
                        _n(r["time_s"]),
                        r["status"],
                        _t(r["last_ms"], "%Y-%m-%d %H:%M"),
                    ]
                    for r in view.suites.iter_rows(named=True)
                ],
                {1, 2, 3, 4},
            ),
        ]
    parts += ["<h2>Performance: old vs new</h2>", delta_svg(view), _performance(view)]
    parts.append(
        f"<p class='muted'>Generated {escape(_t(view.now_ms, '%Y-%m-%d %H:%M'))} UTC by Pulseboard "
        "(python -m core.cli stats report).</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def _components(view: MigrationView) -> str:
    rows = []
    for r in view.components.iter_rows(named=True):
        tests = "—" if r.get("tests_total") is None else f"{int(r.get('tests_passed') or 0)}/{int(r['tests_total'])}"
        rows.append(
            [
                r["name"],
                f"{r.get('old_health') or '—'} {r.get('old_version') or ''}".strip(),
                f"{r.get('new_health') or '—'} {r.get('new_version') or ''}".strip(),
                _n(r.get("migration_pct"), "{:.0f}", " %"),
                tests,
                _n(r.get("perf_delta_pct"), "{:+.1f}", " %"),
            ]
        )
    return _table(["component", "old", "new", "migrated", "tests", "perf Δ (+ = faster)"], rows, {3, 5})


def _issues(view: MigrationView) -> str:
    if view.issues.is_empty():
        return "<p class='muted'>No open issues and none resolved in the range.</p>"
    return _table(
        ["issue", "severity", "state", "component", "title", "detected", "age (h)", "impact"],
        [
            [
                r["issue_id"],
                r["severity"],
                r["state"],
                r["component"] or "—",
                r["title"] or "—",
                _t(r["detected_ms"], "%Y-%m-%d %H:%M"),
                r["age_h"],
                r["impact"],
            ]
            for r in view.issues.iter_rows(named=True)
        ],
        {6},
    )


def _performance(view: MigrationView) -> str:
    def s(v: float | None) -> str:
        return "—" if v is None else f"{v:.4g}"

    def pv(v: float | None) -> str:
        return "—" if v is None else "< 0.0001" if v < 1e-4 else f"{v:.4f}"

    return _table(
        [
            "operation",
            "source",
            "n old/new",
            "p50 old/new (s)",
            "p95 old/new",
            "p99 old/new",
            "mean old/new",
            "std old/new",
            "Δ p50",
            "p",
            "verdict",
        ],
        [
            [
                r["operation"],
                r["source"],
                f"{r['old_n']}/{r['new_n']}",
                f"{s(r['old_p50'])} / {s(r['new_p50'])}",
                f"{s(r['old_p95'])} / {s(r['new_p95'])}",
                f"{s(r['old_p99'])} / {s(r['new_p99'])}",
                f"{s(r['old_mean'])} / {s(r['new_mean'])}",
                f"{s(r['old_std'])} / {s(r['new_std'])}",
                _n(r["delta_p50_pct"], "{:+.1f}", " %"),
                pv(r["p_value"]),
                r["verdict"],
            ]
            for r in view.performance.iter_rows(named=True)
        ],
    )
