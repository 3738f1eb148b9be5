"""Optimisation opportunities: rule-based, each carrying the numbers that triggered it.

Every rule is a pure function over a small frame and fires *strictly past* its threshold (the
thresholds are settings with the defaults below; docs/insights.md):

=====================  ==============================================================  ======
rule                   fires when                                                      effort
=====================  ==============================================================  ======
slow_queries           mean database query time > opportunity_slow_query_ms (100 ms)   medium
low_cache_hit          mean database cache hit rate < opportunity_cache_hit_percent    low
overprovisioned_host   CPU < 30 % and memory < 50 % on average over 7 days of history  low
step_near_sla          a step's mean duration > 80 % of its SLA target (core.sla)      medium
overloaded_agent       mean agent load > opportunity_agent_busy_percent (85 %)         low
idle_agent             agents with mean load < opportunity_agent_idle_percent (20 %),  low
                       one finding for all of them
weak_template          a judged QSE template (≥ qse_template_min_uses uses) below      medium
                       qse_template_effective
training_gap           a team's QSE gate pass rate < opportunity_gate_pass_percent     medium
                       with at least opportunity_min_gates evaluations
=====================  ==============================================================  ======

Impact is 0–100: ``40 + 60 × severity``, severity being how far past the threshold the value is,
relative to the threshold's distance from the ideal, capped at 1 (a query at twice the limit is
severity 1). The estimated improvement says what meeting the threshold would gain, in the rule's unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from core.config import Settings


@dataclass(frozen=True)
class Opportunity:
    """One suggestion, with the figures behind it."""

    rule: str
    subject: str
    title: str
    explanation: str
    numbers: dict[str, float] = field(default_factory=dict)
    impact: float = 0.0
    effort: str = "medium"
    improvement: str = ""
    page: str = "insights"  # the page whose chart shows it

    @property
    def id(self) -> str:
        """Stable across runs: the rule and what it is about (dismissals key on it)."""
        return f"{self.rule}:{self.subject}"


def impact(severity: float) -> float:
    """40 + 60 × severity, severity clipped to [0, 1]."""
    return round(40 + 60 * max(0.0, min(1.0, severity)), 1)


def slow_queries(queries: pl.DataFrame, limit_ms: float) -> list[Opportunity]:
    """``queries``: database, mean_ms. Fires above ``limit_ms``."""
    return [
        Opportunity(
            "slow_queries",
            db,
            f"Slow queries on {db}",
            f"Queries take {ms:.0f} ms on average, above the {limit_ms:g} ms limit: look at the slowest statements, "
            "missing indexes and lock waits.",
            {"mean_ms": round(ms, 1), "limit_ms": limit_ms},
            impact((ms - limit_ms) / limit_ms),
            "medium",
            f"−{ms - limit_ms:.0f} ms per query ({(ms - limit_ms) / ms * 100:.0f} %) at the limit",
            "explore",
        )
        for db, ms in queries.filter(pl.col("mean_ms") > limit_ms).select("database", "mean_ms").iter_rows()
    ]


def low_cache_hit(caches: pl.DataFrame, floor_pct: float) -> list[Opportunity]:
    """``caches``: database, hit_pct. Fires below ``floor_pct``."""
    return [
        Opportunity(
            "low_cache_hit",
            db,
            f"Low cache hit rate on {db}",
            f"Only {pct:.1f} % of reads are served from the cache (target {floor_pct:g} %): give the database more "
            "shared memory or cache the hottest lookups in the application.",
            {"hit_percent": round(pct, 1), "target_percent": floor_pct},
            impact((floor_pct - pct) / floor_pct),
            "low",
            f"+{floor_pct - pct:.1f} points of hit rate, "
            f"{(floor_pct - pct) / max(100 - pct, 1e-9) * 100:.0f} % fewer disk reads",
            "explore",
        )
        for db, pct in caches.filter(pl.col("hit_pct") < floor_pct).select("database", "hit_pct").iter_rows()
    ]


def overprovisioned_hosts(hosts: pl.DataFrame, cpu_pct: float, mem_pct: float, days: float) -> list[Opportunity]:
    """``hosts``: host, cpu_pct, mem_pct (means), days (history span). Fires under both limits with ``days`` of data."""
    idle = hosts.filter((pl.col("cpu_pct") < cpu_pct) & (pl.col("mem_pct") < mem_pct) & (pl.col("days") >= days))
    out = []
    for host, cpu, mem, span in idle.select("host", "cpu_pct", "mem_pct", "days").iter_rows():
        size = max(cpu / 60.0, mem / 80.0)  # right-sized: busiest at 60 % CPU or 80 % memory
        out.append(
            Opportunity(
                "overprovisioned_host",
                host,
                f"Over-provisioned host {host}",
                f"CPU {cpu:.0f} % and memory {mem:.0f} % on average over {span:.1f} days (limits {cpu_pct:g} % and "
                f"{mem_pct:g} %): a smaller instance would do.",
                {"cpu_percent": round(cpu, 1), "memory_percent": round(mem, 1), "days": round(span, 1)},
                impact(min((cpu_pct - cpu) / cpu_pct, (mem_pct - mem) / mem_pct)),
                "low",
                f"about {max(0.0, 1 - size) * 100:.0f} % of the host's capacity could be released",
                "capacity",
            )
        )
    return out


def steps_near_sla(bottlenecks: list[object]) -> list[Opportunity]:
    """Step bottlenecks of core.sla (mean duration above 80 % of the SLA target), with their time lost."""
    out = []
    for b in bottlenecks:
        if getattr(b, "kind", None) != "step":
            continue
        lost = float(getattr(b, "time_lost_s", 0.0))
        items = int(getattr(b, "items_affected", 0))
        name = str(getattr(b, "name", ""))
        out.append(
            Opportunity(
                "step_near_sla",
                name,
                f"Step {name} close to its SLA",
                f"{getattr(b, 'detail', '')}. {getattr(b, 'recommendation', '')}",
                {"items_affected": items, "time_lost_s": round(lost, 1)},
                impact(0.5 if getattr(b, "severity", "") != "critical" else 1.0),
                "medium",
                f"−{lost / 60:.0f} min on each of {items} items",
                "sla",
            )
        )
    return out


def agents(load: pl.DataFrame, busy_pct: float, idle_pct: float) -> list[Opportunity]:
    """``load``: agent, load_pct (mean). Overloaded above ``busy_pct``, idle below ``idle_pct``; each names others."""
    busy = load.filter(pl.col("load_pct") > busy_pct).sort("load_pct", descending=True)
    idle = load.filter(pl.col("load_pct") < idle_pct).sort("load_pct")
    spare = idle["agent"].to_list()
    out = []
    for agent, pct in busy.select("agent", "load_pct").iter_rows():
        to = f"; move work to {', '.join(spare[:3])}" if spare else "; no agent is idle, so add capacity"
        out.append(
            Opportunity(
                "overloaded_agent",
                agent,
                f"Agent {agent} overloaded",
                f"{agent} runs at {pct:.0f} % on average (limit {busy_pct:g} %){to}.",
                {"load_percent": round(pct, 1), "limit_percent": busy_pct},
                impact((pct - busy_pct) / (100 - busy_pct) if busy_pct < 100 else 1.0),
                "low",
                f"−{pct - busy_pct:.0f} points of load by rebalancing",
                "operations",
            )
        )
    if idle.height:  # one finding for the idle pool: a card per idle agent would bury everything else
        names, loads = idle["agent"].to_list(), idle["load_pct"].to_list()
        targets = busy["agent"].to_list()
        take = f"; let them take work from {', '.join(targets[:3])}" if targets else "; consider fewer agents"
        listed = ", ".join(f"{a} {p:.0f} %" for a, p in zip(names[:6], loads[:6], strict=True))
        more = f" and {len(names) - 6} more" if len(names) > 6 else ""
        spare = sum(idle_pct - p for p in loads)
        mean = sum(loads) / len(loads)
        out.append(
            Opportunity(
                "idle_agent",
                "idle agents",
                f"{len(names)} agent{'s' * (len(names) != 1)} idle",
                f"Mean load below {idle_pct:g} %: {listed}{more}{take}.",
                {"agents": float(len(names)), "mean_load_percent": round(mean, 1), "limit_percent": idle_pct}
                | {f"load_percent:{a}": round(p, 1) for a, p in zip(names, loads, strict=True)},
                round(impact((idle_pct - mean) / idle_pct if idle_pct else 0.0) * (1.0 if targets else 0.75), 1),
                "low",
                f"{spare:.0f} agent-percent points of spare capacity in all",
                "operations",
            )
        )
    return out


def weak_templates(templates: pl.DataFrame, effective_pct: float) -> list[Opportunity]:
    """``templates``: template, uses, effectiveness_pct, judged. Fires for judged ones below ``effective_pct``."""
    weak = templates.filter(pl.col("judged") & (pl.col("effectiveness_pct") < effective_pct))
    return [
        Opportunity(
            "weak_template",
            t,
            f"QSE template {t} below the effectiveness threshold",
            f"{eff:.1f} % effective over {uses} uses (threshold {effective_pct:g} %): revise its phases and gates "
            "or retire it.",
            {"effectiveness_percent": round(eff, 1), "uses": uses, "threshold_percent": effective_pct},
            impact((effective_pct - eff) / effective_pct * 3),
            "medium",
            f"+{effective_pct - eff:.1f} points of effectiveness on {uses} sessions",
            "qse",
        )
        for t, uses, eff in weak.select("template", "uses", "effectiveness_pct").iter_rows()
    ]


def training_gaps(teams: pl.DataFrame, pass_pct: float, min_gates: int) -> list[Opportunity]:
    """``teams``: team, gates, gate_pass_pct. Fires below ``pass_pct`` with at least ``min_gates`` evaluations."""
    low = teams.filter((pl.col("gates") >= min_gates) & (pl.col("gate_pass_pct") < pass_pct))
    return [
        Opportunity(
            "training_gap",
            team,
            f"Training gap in team {team}",
            f"{rate:.1f} % of {gates} QSE gate evaluations passed (threshold {pass_pct:g} %): train the team on the "
            "gates it fails most.",
            {"gate_pass_percent": round(rate, 1), "gates": gates, "threshold_percent": pass_pct},
            impact((pass_pct - rate) / pass_pct * 2),
            "medium",
            f"about {round(gates * (pass_pct - rate) / 100)} fewer failed gates per period at the threshold",
            "qse",
        )
        for team, gates, rate in low.select("team", "gates", "gate_pass_pct").iter_rows()
    ]


@dataclass(frozen=True)
class Inputs:
    """What the rules read, one small frame each (see each rule for its columns)."""

    queries: pl.DataFrame
    caches: pl.DataFrame
    hosts: pl.DataFrame
    bottlenecks: list[object]
    agents: pl.DataFrame
    templates: pl.DataFrame
    teams: pl.DataFrame


def find(inputs: Inputs, settings: Settings) -> list[Opportunity]:
    """Every rule over ``inputs``, highest impact first."""
    found = [
        *slow_queries(inputs.queries, settings.opportunity_slow_query_ms),
        *low_cache_hit(inputs.caches, settings.opportunity_cache_hit_percent),
        *overprovisioned_hosts(
            inputs.hosts,
            settings.opportunity_host_cpu_percent,
            settings.opportunity_host_memory_percent,
            settings.opportunity_host_days,
        ),
        *steps_near_sla(inputs.bottlenecks),
        *agents(inputs.agents, settings.opportunity_agent_busy_percent, settings.opportunity_agent_idle_percent),
        *weak_templates(inputs.templates, settings.qse_template_effective * 100),
        *training_gaps(inputs.teams, settings.opportunity_gate_pass_percent, settings.opportunity_min_gates),
    ]
    return sorted(found, key=lambda o: (-o.impact, o.rule, o.subject))
