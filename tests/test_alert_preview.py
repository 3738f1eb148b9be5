"""The Alerts page's 24 h rule preview replays threshold, anomaly and forecast rules
with the evaluator's own conditions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy.engine import Engine

from core.alerts.engine import rule_frame
from core.alerts.kinds import kind
from core.alerts.rules import Rule, parse_rule
from core.alerts.views import preview
from core.config import Settings
from core.model import now_ms
from core.store.rollup import run_rollup
from tests.alert_support import alert_settings, feed

MIN, HOUR = 60_000, 3_600_000
NOW = now_ms() // MIN * MIN
START = NOW - 27 * HOUR  # the day shown plus the longest lookback used here, plus an hour
POINTS = (NOW - START) // MIN  # one sample a minute, the last one a minute before NOW


@pytest.fixture
def cfg(settings: Settings, tmp_path: Path) -> Settings:
    return alert_settings(settings, tmp_path)


def minute(ts: int) -> int:
    return (ts - START) // MIN


def load(engine: Engine, name: str, values: list[float], labels: dict[str, str] | None = None) -> None:
    feed(engine, name, labels or {"host": "h"}, values, start=START, step_ms=MIN)
    run_rollup(engine, NOW)


def noise(level: float, spread: float) -> list[float]:
    return list(level + np.random.default_rng(5).normal(0, spread, POINTS))


def episodes(engine: Engine, rule: Rule, cfg: Settings) -> list[tuple[int, int]]:
    found = preview(engine, rule, cfg, NOW)
    assert found.note == ""
    return [
        (int(s.timestamp() * 1000), int(e.timestamp() * 1000))
        for s, e in found.episodes.select("start", "end").iter_rows()
    ]


def test_threshold_rule_preview(engine: Engine, cfg: Settings) -> None:
    values = noise(5.0, 0.5)
    hot = NOW - 8 * HOUR
    for i in range(minute(hot), minute(hot) + 30):
        values[i] = 20.0
    load(engine, "qms_queue_depth", values)
    rule = parse_rule(
        {"name": "q", "selector": "qms_queue_depth", "agg": "avg", "window": "1m", "threshold": 15, "for": "5m"}
    )
    ((start, end),) = episodes(engine, rule, cfg)
    assert start == hot + 5 * MIN and end == hot + 30 * MIN


# sensitivity 0.1 (threshold ~7): a day of Gaussian noise scores at most ~5 here, the spike ~30
ANOMALY = {
    "name": "lat",
    "kind": "anomaly",
    "selector": "api_latency_seconds",
    "detector": "auto",
    "sensitivity": 0.1,
    "window": "2m",
    "lookback": "2h",
    "for": "1m",
}


def test_anomaly_rule_preview_finds_the_spike_and_agrees_with_the_evaluator(engine: Engine, cfg: Settings) -> None:
    values = noise(0.2, 0.01)
    spike = NOW - 10 * HOUR
    for i in range(minute(spike), minute(spike) + 3):
        values[i] = 1.5
    load(engine, "api_latency_seconds", values)
    rule = parse_rule(ANOMALY)
    found = preview(engine, rule, cfg, NOW)
    ((start, end),) = episodes(engine, rule, cfg)
    assert start == spike + MIN  # pending at the spike, firing once `for: 1m` has held
    assert spike + 3 * MIN <= end <= spike + 15 * MIN
    assert "score" in found.frame.columns and set(found.frame["state"]) >= {"pending", "firing", "resolved"}
    replayed = dict(zip(found.frame["ts"].dt.epoch("ms").to_list(), found.frame["active"].to_list(), strict=True))
    anomaly = kind("anomaly")
    for at in (spike, spike + MIN, spike + 2 * MIN, spike - HOUR, spike + 2 * HOUR, NOW - 20 * HOUR):
        live = anomaly.observe(rule_frame(engine, rule, cfg, at), rule, at)
        assert [o.active for o in live] == [replayed[at]], (
            f"preview and evaluation disagree at {(at - spike) // MIN} min"
        )


def test_anomaly_rule_preview_of_plain_noise_never_fires(engine: Engine, cfg: Settings) -> None:
    load(engine, "api_latency_seconds", noise(0.2, 0.01))
    assert episodes(engine, parse_rule(ANOMALY), cfg) == []


FORECAST = {
    "name": "disk",
    "kind": "forecast",
    "selector": "system_filesystem_used_percent",
    "op": ">",
    "threshold": 95,
    "lookback": "1h",
    "horizon": "4h",
    "for": "5m",
}


def test_forecast_rule_preview_fires_ahead_of_the_crossing(engine: Engine, cfg: Settings) -> None:
    rise = NOW - 5 * HOUR  # flat at 50 until then, +6 points an hour after: 80 at the end, projected 104 four hours on
    values = [50.0 if START + i * MIN < rise else 50.0 + (START + i * MIN - rise) / HOUR * 6 for i in range(POINTS)]
    load(engine, "system_filesystem_used_percent", values)
    found = preview(engine, parse_rule(FORECAST), cfg, NOW)
    ((start, end),) = episodes(engine, parse_rule(FORECAST), cfg)
    # the trend projects past 95 within 4 h once the value reaches 71 (3.5 h into the rise). The preview refits
    # forecast rules hourly (core.alerts.kinds.REPLAY_EVERY_MS: a Prophet fit per minute of the day would take
    # minutes), so the first refit to see it is the first whole hour after that, and `for: 5m` follows
    assert rise + 210 * MIN <= start <= rise + 270 * MIN and end == NOW
    assert found.frame["value"].max() < 95  # fired although the data never crossed
    assert found.frame.filter(pl.col("state") == "firing")["projected"].min() > 95


def test_forecast_rule_preview_of_a_flat_series_never_fires(engine: Engine, cfg: Settings) -> None:
    load(engine, "system_filesystem_used_percent", noise(90.0, 0.5))
    assert episodes(engine, parse_rule(FORECAST), cfg) == []
