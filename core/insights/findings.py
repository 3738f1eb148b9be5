"""Everything the Insights page lists, as one ranked list of findings with a link to where it shows.

A finding is a regression after a deployment, a migration operation the new system runs slower, a
drift away from a baseline, or an optimisation opportunity. Each has a stable id (dismissals key on
it), an impact 0–100 (the ranking key), the numbers behind it, and the page that shows it:

* regression (one per deployment, its worst series) impact = ``40 + 30 × effect + 30 × min(1, change % / 100)``;
* migration regression impact = ``40 + 60 × min(1, slowdown % / 100)``;
* drift impact = ``30 + 40 × min(1, minutes / 240)`` (a drift of four hours or more: 70);
* opportunity impact — core.insights.opportunities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from core.insights.baselines import Drift
from core.insights.dismissals import Dismissal
from core.insights.opportunities import Opportunity
from core.insights.regressions import Regression

PAGE_TITLES = {
    "insights": "Insights",
    "explore": "Explore",
    "capacity": "Capacity & forecasts",
    "sla": "SLAs & error budgets",
    "operations": "Operations",
    "qse": "QSE compliance",
    "migration": "Migration health",
}


@dataclass(frozen=True)
class Finding:
    """One line of the Insights page."""

    id: str
    kind: str  # regression, migration, drift, opportunity
    title: str
    detail: str
    impact: float
    page: str  # where it shows: a page slug
    chart: str | None = None  # the series whose chart shows it (on the Insights page)
    effort: str = ""
    improvement: str = ""
    confidence: float | None = None
    numbers: dict[str, float] = field(default_factory=dict)


def _clip(x: float) -> float:
    return max(0.0, min(1.0, x))


def from_regressions(found: Sequence[Regression]) -> list[Finding]:
    """One finding per deployment: its worst regression (largest effect) in the title, the others listed.

    Impact of the worst: ``40 + 30 × effect + 30 × min(1, change % / 100)``; confidence is the worst one's 1 − p.
    """
    by: dict[str, list[Regression]] = {}
    for r in found:
        by.setdefault(r.deployment_id, []).append(r)
    out = []
    for deployment, group in by.items():
        ranked = sorted(group, key=lambda r: (-r.comparison.effect, r.series))
        worst, c = ranked[0], ranked[0].comparison
        change = c.change_percent or 0.0
        others = "; ".join(
            f"{r.component} {r.series.split('{', 1)[0]} {r.comparison.change_percent or 0:+.0f} %" for r in ranked[1:]
        )
        components = sorted({r.component for r in ranked})
        out.append(
            Finding(
                f"regression:{deployment}",
                "regression",
                f"{len(ranked)} series worse after {worst.deployed_component} {worst.version}"
                if len(ranked) > 1
                else f"{worst.component} worse after {worst.deployed_component} {worst.version}",
                f"Likely cause: deployment {deployment} of {worst.deployed_component} {worst.version}; affected "
                f"{', '.join(components)}. Worst: {worst.series} median {c.before_median:.4g} → {c.after_median:.4g} "
                f"({change:+.0f} %), Cliff's delta {c.effect:.2f}, Mann–Whitney p = {c.p_value:.1e} "
                f"({c.n_before} vs {c.n_after} values)." + (f" Also: {others}." if others else ""),
                round(40 + 30 * _clip(c.effect) + 30 * _clip(change / 100), 1),
                "insights",
                worst.series,
                "medium",
                "roll back or fix the deployment",
                worst.confidence,
                {"series": float(len(ranked)), "change_percent": round(change, 1), "effect": round(c.effect, 3)},
            )
        )
    return out


def from_migration(performance: pl.DataFrame) -> list[Finding]:
    """Migration operations flagged as regressions (old vs new, Mann–Whitney; core.programmes.migration)."""
    rows = performance.filter(pl.col("regression")) if performance.height else performance
    out = []
    for r in rows.iter_rows(named=True):
        slower = float(r.get("delta_p50_pct") or 0.0)
        p = r.get("p_value")
        out.append(
            Finding(
                f"migration:{r['operation']}:{r['source']}",
                "migration",
                f"Migration: {r['operation']} slower on the new system",
                f"median {r['old_p50']:.4g} s old → {r['new_p50']:.4g} s new ({slower:+.0f} %), "
                f"p = {p:.1e} over {r['old_n']} and {r['new_n']} timings.",
                round(40 + 60 * _clip(slower / 100), 1),
                "migration",
                effort="medium",
                improvement=f"−{slower:.0f} % on {r['operation']} when back to the old system's speed",
                confidence=None if p is None else 1 - float(p),
                numbers={"slower_percent": slower},
            )
        )
    return out


def from_drift(d: Drift) -> Finding:
    """A series that has stayed outside its baseline band."""
    return Finding(
        f"drift:{d.series}",
        "drift",
        f"{d.series.split('{', 1)[0]} {d.direction} its baseline",
        f"{d.series} has been {d.direction} its baseline band for {d.minutes:.0f} min "
        f"(mean {d.value:.4g} vs {d.expected:.4g} expected).",
        round(30 + 40 * _clip(d.minutes / 240), 1),
        "insights",
        d.series,
        numbers={"minutes": round(d.minutes, 1), "value": d.value, "expected": d.expected},
    )


def from_opportunity(o: Opportunity) -> Finding:
    """An optimisation opportunity as it is."""
    return Finding(
        o.id,
        "opportunity",
        o.title,
        o.explanation,
        o.impact,
        o.page,
        effort=o.effort,
        improvement=o.improvement,
        numbers=dict(o.numbers),
    )


def rank(findings: Iterable[Finding]) -> list[Finding]:
    """Highest impact first; ties by kind and id, so the order is stable."""
    return sorted(findings, key=lambda f: (-f.impact, f.kind, f.id))


def split(findings: Sequence[Finding], hidden: Mapping[str, Dismissal]) -> tuple[list[Finding], list[Finding]]:
    """(shown, hidden) by the dismissals in force."""
    return [f for f in findings if f.id not in hidden], [f for f in findings if f.id in hidden]


def table(findings: Sequence[Finding]) -> pl.DataFrame:
    """The ranked list as a frame for the page and the API."""
    return pl.DataFrame(
        [
            {
                "impact": f.impact,
                "kind": f.kind,
                "finding": f.title,
                "effort": f.effort,
                "estimated improvement": f.improvement,
                "confidence": None if f.confidence is None else round(f.confidence * 100, 1),
                "shown on": PAGE_TITLES.get(f.page, f.page),
                "id": f.id,
            }
            for f in findings
        ],
        schema={
            "impact": pl.Float64,
            "kind": pl.String,
            "finding": pl.String,
            "effort": pl.String,
            "estimated improvement": pl.String,
            "confidence": pl.Float64,
            "shown on": pl.String,
            "id": pl.String,
        },
    )
