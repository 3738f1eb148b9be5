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
    states = replay(engine, cfg, "disk", range(100, 141))
    # the trend reaches 95 within the hour from minute 120 on; `for: 5m` holds it pending until minute 125
    first_pending, first_firing = 100 + states.index("pending"), 100 + states.index("firing")
    assert 119 <= first_pending <= 121 and first_firing == first_pending + 5
    assert rising[first_firing] < 95, "a predictive alert must fire while the value is still below the threshold"
    assert states[-1] == "firing"
    frame = store.alerts_frame(engine)
    assert frame["last_value"][0] == pytest.approx(
        rising[140] + 15, abs=0.01
    )  # the value is the projection an hour ahead


def test_forecast_rule_stays_quiet_on_a_flat_series(engine: Engine, cfg: Settings) -> None:
    flat = [90 + v for v in noisy(141, 0.0, 0.5)]  # high, but not rising
    feed(engine, "system_filesystem_used_percent", {"host": "h", "mount": "/"}, flat, step_ms=MIN)
    add_rule(engine, FORECAST)
    assert set(replay(engine, cfg, "disk", range(100, 141, 2))) <= {"none", "inactive"}
