"""What the Capacity & forecasts page shows: the stored forecasts (no fit ever runs here) and the migration schedule.

* :func:`load` — every stored capacity forecast and ETA, one read;
* :func:`ranking` — one row per resource instance, ranked by time to the threshold (80 % of capacity);
* :func:`chart_frame` — history and forecast with its 80 %/95 % bands for one resource and horizon;
* :func:`recommendations` — a sentence per resource that needs action, soonest first;
* :func:`migration_etas_now` — the migration's ETAs from the Migration page's schedule (read live, not stored);
* :func:`eta_table` — completion ETAs with their intervals and plans, late ones first.

Times are worded against the page's own clock, so a forecast fitted ten minutes ago still says "in 3 h"
correctly. A resource without enough history says so ("need at least 6 hours of data (have 0.3)") instead of
showing a line: a fresh install's system metrics start with the server.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.engine import Engine

from core.analytics.forecast import Forecast
from core.config import Settings, get_settings
from core.forecasting.etas import Eta, backlog_eta, migration_etas
from core.forecasting.resources import HORIZON_LABELS, RESOURCES, URGENCY, resource, urgency
from core.programmes.migration_plan import PlanError
from core.programmes.migration_store import load_schedule, plan_from_settings
from core.store import forecasts as store

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class Stored:
    """Everything the page reads, in one query."""

    capacity: list[store.StoredForecast]
    etas: list[store.StoredForecast]
    progress: dict[str, Any]

    @property
    def newest_fit_ms(self) -> int | None:
        stamps = [r.fitted_ms for r in self.capacity + self.etas]
        return max(stamps) if stamps else None


def load(engine: Engine) -> Stored:
    """The stored capacity forecasts and ETAs, and the job's progress."""
    rows = store.load(engine)
    return Stored(
        [r for r in rows if r.subject == "capacity"], [r for r in rows if r.subject == "eta"], store.progress(engine)
    )


def span(ms: float) -> str:
    """'now', '40 min', '5 h', '3.2 d': how far away a time is, in one unit."""
    if ms <= 0:
        return "now"
    if ms < HOUR_MS:
        return f"{max(ms / MINUTE_MS, 1):.0f} min"
    if ms < 2 * DAY_MS:
        return f"{ms / HOUR_MS:.0f} h"
    return f"{ms / DAY_MS:.1f} d"


def when(cross: dict[str, Any] | None, now_ms: int, horizon_s: float) -> str:
    """'in 3.2 d (2.1 d – 5.0 d)', 'now', or 'not within 30 d' for one stored crossing."""
    label = HORIZON_LABELS.get(int(horizon_s), f"{horizon_s / 86_400:g} d")
    if cross is None:
        return "—"
    at, early, late = cross.get("when"), cross.get("earliest"), cross.get("latest")
    if at is None:
        return (
            f"not within {label}" if early is None else f"not within {label} (80 % band: from {span(early - now_ms)})"
        )
    low = span(early - now_ms) if early is not None else "?"
    high = span(late - now_ms) if late is not None else f"> {label}"
    return "now" if at <= now_ms else f"in {span(at - now_ms)} ({low} – {high})"


def amount(value: float | None, unit: str) -> str:
    """A value in the resource's unit: '26.0 %', '14 items', '1.2 GB'."""
    if value is None or not math.isfinite(value):
        return "—"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "bytes":
        for size, name in ((2**40, "TB"), (2**30, "GB"), (2**20, "MB"), (2**10, "kB")):
            if abs(value) >= size:
                return f"{value / size:.1f} {name}"
        return f"{value:.0f} B"
    return f"{value:.1f} {unit}"


def recommended_text(summary: dict[str, Any]) -> str:
    """Projected peak × 1.2, as a share of today's capacity for percentages, in units otherwise."""
    value = summary.get("recommended")
    if value is None:
        return "—"
    if summary.get("unit") == "%":
        return f"{value:.0f} % of today's"
    return amount(value, str(summary.get("unit")))


def _by_instance(rows: list[store.StoredForecast]) -> dict[str, dict[int, store.StoredForecast]]:
    out: dict[str, dict[int, store.StoredForecast]] = {}
    for row in rows:
        out.setdefault(row.target, {})[row.horizon_s] = row
    return out


RANKING_SCHEMA = {
    "resource": pl.String,
    "instance": pl.String,
    "now": pl.String,
    "reaches threshold": pl.String,
    "full": pl.String,
    "peak": pl.String,
    "recommended capacity": pl.String,
    "urgency": pl.String,
    "model": pl.String,
    "fitted": pl.String,
    "key": pl.String,
    "rank": pl.Float64,
}


def _answer(by_h: dict[int, store.StoredForecast], name: str) -> tuple[int, dict[str, Any]] | None:
    """The shortest horizon whose forecast crosses (``name``), else the longest one that has a forecast."""
    ok = sorted(h for h, r in by_h.items() if r.status == "ok")
    for h in ok:
        cross = by_h[h].result.get(name) or {}
        if cross.get("when") is not None:
            return h, cross
    return (ok[-1], by_h[ok[-1]].result.get(name) or {}) if ok else None


def ranking(rows: list[store.StoredForecast], now_ms: int) -> pl.DataFrame:
    """One row per resource instance, soonest to reach its threshold first (see the module docstring)."""
    out = []
    for key, by_h in _by_instance(rows).items():
        longest = by_h[max(by_h)].result
        res = resource(str(longest.get("resource")))
        threshold = _answer(by_h, "cross_threshold")
        full = _answer(by_h, "cross_full")
        fitted = max(r.fitted_ms for r in by_h.values())
        latest = amount(longest.get("latest"), res.unit)
        if threshold is None:  # no horizon has a forecast: say why, from the shortest one
            shortest = by_h[min(by_h)].result.get("forecast", {})
            message = shortest.get("message") or "no forecast"
            row = (res.title, longest.get("instance"), latest, message, "—", "—", "—", "—", "", fitted, key, math.inf)
            out.append(row)
            continue
        h, cross = threshold
        best = by_h[max(hh for hh, r in by_h.items() if r.status == "ok")].result
        summary = by_h[h].result
        model = Forecast.from_json(best.get("forecast", {"status": "insufficient"})).model
        wait = float(cross["when"] - now_ms) if cross.get("when") is not None else math.inf
        level = urgency(summary | {"cross_threshold": cross or None}, now_ms)
        reach = when(cross or None, now_ms, h) if summary.get("threshold") is not None else "no capacity set"
        full_text = when(full[1] or None, now_ms, full[0]) if full and summary.get("capacity") is not None else "—"
        out.append(
            (
                res.title,
                summary.get("instance"),
                latest,
                reach,
                full_text,
                f"{amount(best.get('peak'), res.unit)} in {HORIZON_LABELS.get(int(best['horizon_s']), '')}",
                recommended_text(best),
                level,
                model.replace("_", "-"),
                fitted,
                key,
                wait,
            )
        )
    frame = pl.DataFrame(
        [(*row[:9], _ago(row[9], now_ms), *row[10:]) for row in out], schema=RANKING_SCHEMA, orient="row"
    )
    order = {u: n for n, u in enumerate((*URGENCY, "—"))}
    return (
        frame.with_columns(level=pl.col("urgency").replace_strict(order, default=len(order)))
        .sort("rank", "level", "resource", "instance")
        .drop("level")
    )


def _ago(ms: int, now_ms: int) -> str:
    return f"{span(now_ms - ms)} ago" if now_ms - ms >= MINUTE_MS else "just now"


def chart_frame(row: store.StoredForecast, history_ms: int | None = None) -> pl.DataFrame:
    """ts, kind (actual / forecast), value, lo80, hi80, lo95, hi95 for one stored forecast; history trimmed to
    ``history_ms`` before its last bucket (default: as long as the horizon)."""
    result = row.result
    hist = result.get("history", {"ts": [], "value": []})
    ts = np.asarray(hist.get("ts", []), dtype=np.int64)
    keep = ts >= (ts[-1] - (history_ms or row.horizon_s * 1000)) if len(ts) else np.zeros(0, dtype=bool)
    actual = pl.DataFrame(
        {"ts": ts[keep], "value": np.asarray(hist.get("value", []), dtype=np.float64)[keep]},
        schema={"ts": pl.Int64, "value": pl.Float64},
    ).with_columns(kind=pl.lit("actual"))
    fitted = Forecast.from_json(result.get("forecast", {"status": "insufficient"}))
    if not fitted.ok:
        predicted = pl.DataFrame(schema={"ts": pl.Int64, "value": pl.Float64, "kind": pl.String})
    else:
        predicted = pl.DataFrame(
            {
                "ts": fitted.ts,
                "value": fitted.yhat,
                "lo80": fitted.q[0.1],
                "hi80": fitted.q[0.9],
                "lo95": fitted.q[0.025],
                "hi95": fitted.q[0.975],
            }
        ).with_columns(kind=pl.lit("forecast"))
    return pl.concat([actual, predicted], how="diagonal_relaxed").with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC"))
    )


@dataclass(frozen=True)
class Recommendation:
    """One resource that reaches its threshold within its forecasts, and what to do about it."""

    resource: str
    instance: str
    threshold: str  # '80.0 %', '16.0 items'
    when: str  # '3.2 d (2.1 d – 5.0 d)' or 'now'
    advice: str


def recommendations(rows: list[store.StoredForecast], now_ms: int) -> list[Recommendation]:
    """One per resource instance that will reach its threshold within its horizons, soonest first."""
    ranked = ranking(rows, now_ms).filter(pl.col("rank").is_finite())
    by_key = _by_instance(rows)
    out = []
    for key, title, instance, reach, recommended in ranked.select(
        "key", "resource", "instance", "reaches threshold", "recommended capacity"
    ).iter_rows():
        res = resource(key.split("|", 1)[0])
        longest = by_key[key][max(by_key[key])].result
        grows = res.unit != "%" or (longest.get("recommended") or 0) > 100
        advice = (
            f"plan capacity of at least {recommended} (projected peak × 1.2)"
            if grows
            else f"today's capacity holds the projected peak with 20 % headroom ({recommended})"
        )
        out.append(
            Recommendation(
                title, str(instance), amount(longest.get("threshold"), res.unit), reach.removeprefix("in "), advice
            )
        )
    return out


def instance_label(stored: Stored, key: str) -> str:
    """'Disk · db-1 /data' for a resource instance key."""
    rows = capacity_rows(stored, key)
    instance = next(iter(rows.values())).result.get("instance", "") if rows else ""
    return f"{resource(key.split('|', 1)[0]).title} · {instance}"


def capacity_rows(stored: Stored, key: str) -> dict[int, store.StoredForecast]:
    """The stored horizons of one resource instance."""
    return _by_instance(stored.capacity).get(key, {})


ETA_SCHEMA = {
    "what": pl.String,
    "name": pl.String,
    "progress": pl.String,
    "ETA": pl.String,
    "80 % interval": pl.String,
    "planned": pl.String,
    "status": pl.String,
    "how": pl.String,
}


def _day(ms: int | None, daily: bool = False) -> str:
    """'2026-12-24 13:05', or the date alone for estimates made from daily values."""
    if ms is None:
        return "—"
    return str(np.datetime64(int(ms), "ms").astype("datetime64[D]" if daily else "datetime64[m]")).replace("T", " ")


def migration_etas_now(engine: Engine, now_ms: int, settings: Settings | None = None) -> list[Eta]:
    """The migration's ETAs as of ``now_ms``, from the Migration page's own schedule (same plan, same events, same
    function: core.programmes.migration.schedule), so the two pages show one estimated completion. A plan file
    that cannot be read is left out, as the Migration page does (it then works from the events alone)."""
    settings = settings or get_settings()
    try:
        plan, _ = plan_from_settings(settings)
    except PlanError:
        plan = None
    return migration_etas(load_schedule(engine, now_ms=now_ms, plan=plan, settings=settings))


def etas(stored: Stored, migration: list[Eta] | None = None) -> list[Eta]:
    """``migration`` (:func:`migration_etas_now`), the stored QSE sessions' ETAs and the review backlogs from the
    stored 24 h queue forecasts. Migration rows a job of an older version stored are left out."""
    found = list(migration or [])
    found += [eta for r in stored.etas if not (eta := Eta.from_json(r.result)).kind.startswith("migration")]
    for row in stored.capacity:
        if row.result.get("resource") == "queue" and row.horizon_s == 86_400:
            found.append(backlog_eta(row.result, row.fitted_ms))
    return found


def _interval(eta: Eta, daily: bool) -> str:
    """'2026-03-10 – 2026-03-21'; 'from 2026-03-10 (no upper bound)' for a low bound alone; why there is none when an
    estimate has no interval (the migration's message); '—' otherwise."""
    if eta.eta_ms is None or eta.message == "done":
        return "—"
    if eta.low_ms is not None and eta.high_ms is not None:
        return f"{_day(eta.low_ms, daily)} – {_day(eta.high_ms, daily)}"
    if eta.low_ms is not None:
        return f"from {_day(eta.low_ms, daily)} (no upper bound)"
    return eta.message or "—"


def eta_table(found: list[Eta], now_ms: int) -> pl.DataFrame:
    """ETAs with intervals and plans: late first, then by ETA."""
    rows = []
    for eta in found:
        if eta.eta_ms is None:
            status = eta.message or "no estimate"
        elif eta.message == "done":
            status = "done"
        else:
            status = "late" if eta.late else "on plan" if eta.planned_ms is not None else "—"
        daily = eta.kind.startswith("migration")  # phases are planned in days: a time of day would be false precision
        interval = _interval(eta, daily)
        wait = span(eta.eta_ms - now_ms) if eta.eta_ms is not None else ""
        eta_text = (
            "—" if eta.eta_ms is None else f"{_day(eta.eta_ms, daily)} ({wait if wait == 'now' else 'in ' + wait})"
        )
        progress = "—" if eta.progress is None else f"{eta.progress:.0f} %"
        planned = _day(eta.planned_ms, daily)
        rows.append((eta.kind, eta.name, progress, eta_text, interval, planned, status, eta.method))
    frame = pl.DataFrame(rows, schema=ETA_SCHEMA, orient="row")
    rank = {"late": 0, "on plan": 1, "—": 2, "no backlog": 4, "done": 5}
    return (
        frame.with_columns(order=pl.col("status").replace_strict(rank, default=3)).sort("order", "what").drop("order")
    )


def resource_keys(rows: list[store.StoredForecast]) -> list[str]:
    """Every stored resource instance key, in the catalogue's order."""
    order = {r.key: n for n, r in enumerate(RESOURCES)}
    return sorted(_by_instance(rows), key=lambda k: (order.get(k.split("|", 1)[0], 99), k))
