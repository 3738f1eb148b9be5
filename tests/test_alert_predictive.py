"""Anomaly and forecast (predictive) rules through the real evaluation job,
with a synthetic clock over crafted series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import store
from core.alerts.engine import evaluate_all
from core.alerts.rules import parse_rule
from core.config import Settings
from core.store import schema
from tests.alert_support import T0, alert_settings, feed

MIN = 60_000


@pytest.fixture
def cfg(settings: Settings, tmp_path: Path) -> Settings:
    return alert_settings(settings, tmp_path)


def add_rule(engine: Engine, spec: dict[str, object]) -> None:
    store.save_rule(engine, parse_rule({"labels": {"component": "api"}, **spec}), "tester")


def state_of(engine: Engine, rule: str) -> str:
    with engine.connect() as connection:
        found = connection.scalar(sa.select(schema.alerts.c.state).where(schema.alerts.c.rule == rule))
    return found or "none"


def replay(engine: Engine, cfg: Settings, rule: str, minutes: range) -> list[str]:
    """Evaluate once a minute (just after each sample) and return the rule's state after each evaluation."""
    out = []
    for i in minutes:
        evaluate_all(engine, cfg, T0 + i * MIN + 1)
        out.append(state_of(engine, rule))
    return out


def noisy(n: int, level: float = 0.2, spread: float = 0.01, seed: int = 3) -> list[float]:
    return list(level + np.random.default_rng(seed).normal(0, spread, n))


SPIKE = 130  # minute of the first spiked sample


@pytest.mark.parametrize("detector", ["zscore", "iqr", "seasonal", "auto"])
def test_anomaly_rule_goes_pending_then_firing_on_a_spike_and_resolves_after(
    engine: Engine, cfg: Settings, detector: str
) -> None:
    values = noisy(SPIKE + 40)
    for i in range(SPIKE, SPIKE + 3):
        values[i] = 1.5  # p95 latency jumps from 0.2 s to 1.5 s for three minutes
    feed(engine, "api_request_duration_seconds", {"endpoint": "/x", "quantile": "0.95"}, values, step_ms=MIN)
    add_rule(
        engine,
        {
            "name": "lat",
            "kind": "anomaly",
            "selector": 'api_request_duration_seconds{quantile="0.95"}',
            "detector": detector,
            "sensitivity": 0.5,
            "window": "2m",
            "lookback": "2h",
            "for": "1m",
        },
    )
    states = replay(engine, cfg, "lat", range(SPIKE - 10, SPIKE + 40))
    before, during = states[:10], states[10:12]
    assert set(before) == {"none"} or set(before) == {"inactive"}, f"{detector} fired on normal noise: {before}"
    assert during == ["pending", "firing"], f"{detector}: {during}"
    after = states[12:]
    assert "resolved" in after, f"{detector} never resolved: {after}"
    assert set(after[after.index("resolved") :]) == {"resolved"}, f"{detector} fired again after the spike: {after}"


def test_anomaly_rule_ignores_plain_noise(engine: Engine, cfg: Settings) -> None:
    feed(engine, "api_request_duration_seconds", {"endpoint": "/x", "quantile": "0.95"}, noisy(SPIKE + 40), step_ms=MIN)
    add_rule(
        engine,
        {
            "name": "lat",
            "kind": "anomaly",
            "selector": 'api_request_duration_seconds{quantile="0.95"}',
            "detector": "auto",
            "window": "2m",
            "lookback": "2h",
            "for": "1m",
        },
    )
    assert set(replay(engine, cfg, "lat", range(SPIKE - 10, SPIKE + 40, 2))) <= {"none", "inactive", "pending"}


FORECAST = {
    "name": "disk",
    "kind": "forecast",
    "selector": "system_filesystem_used_percent",
    "op": ">",
    "threshold": 95,
    "lookback": "1h",
    "horizon": "1h",
    "for": "5m",
    "labels": {"component": "host"},
}


def test_forecast_rule_fires_before_the_threshold_is_crossed(engine: Engine, cfg: Settings) -> None:
    rising = [50 + 0.25 * i for i in range(141)]  # +15 points an hour: 95 % at minute 180
    feed(engine, "system_filesystem_used_percent", {"host": "h", "mount": "/"}, rising, step_ms=MIN)
    add_rule(engine, FORECAST)
    states = replay(engine, cfg, "disk", range(115, 141))
    # The forecast sees closed minutes only (the one in progress is left out), so at minute m it runs from minute
    # m - 1: 95 % (minute 180) is inside its hour from minute 121, past it from 122; `for: 5m` then holds it pending.
    first_pending, first_firing = 115 + states.index("pending"), 115 + states.index("firing")
    assert 121 <= first_pending <= 123 and first_firing == first_pending + 5
    assert rising[first_firing] < 95, "a predictive alert must fire while the value is still below the threshold"
    assert states[-1] == "firing"
    frame = store.alerts_frame(engine)
    # the value is the forecast an hour past the newest closed minute (139): 50 + 0.25 · 199
    assert frame["last_value"][0] == pytest.approx(rising[139] + 15, abs=0.3)


def test_forecast_rule_stays_quiet_on_a_flat_series(engine: Engine, cfg: Settings) -> None:
    flat = [90 + v for v in noisy(141, 0.0, 0.5)]  # high, but not rising
    feed(engine, "system_filesystem_used_percent", {"host": "h", "mount": "/"}, flat, step_ms=MIN)
    add_rule(engine, FORECAST)
    assert set(replay(engine, cfg, "disk", range(120, 141, 5))) <= {"none", "inactive"}


def test_forecast_rule_needs_history_and_a_valid_probability(engine: Engine, cfg: Settings) -> None:
    """Fifteen minutes of a steep climb is no basis for a projection: the rule reports no value and stays quiet."""
    climbing = [50 + 2.0 * i for i in range(15)]  # +120 points an hour, but only a quarter of an hour of it
    feed(engine, "system_filesystem_used_percent", {"host": "h", "mount": "/"}, climbing, step_ms=MIN)
    add_rule(engine, FORECAST)
    assert replay(engine, cfg, "disk", range(15, 16)) == ["none"]
    with pytest.raises(ValueError, match="probability"):
        parse_rule({**FORECAST, "probability": 1.5})
    with pytest.raises(ValueError, match="lookback must be at least 6 h for a 24 h horizon"):
        parse_rule({**FORECAST, "lookback": "1h", "horizon": "24h"})
