"""Anomaly alerts say what was expected, what was observed and the score, through the real evaluation job."""

from __future__ import annotations

import re
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
SPIKE = 130


@pytest.fixture
def cfg(settings: Settings, tmp_path: Path) -> Settings:
    return alert_settings(settings, tmp_path)


def summary_after_spike(engine: Engine, cfg: Settings, summary: str | None) -> tuple[str, str]:
    """Feed noisy latency with a 3-minute jump to 1.5 s, evaluate through it; (state, summary) of the alert."""
    values = list(0.2 + np.random.default_rng(3).normal(0, 0.01, SPIKE + 10))
    for i in range(SPIKE, SPIKE + 3):
        values[i] = 1.5
    feed(engine, "api_request_duration_seconds", {"endpoint": "/x", "quantile": "0.95"}, values, step_ms=MIN)
    spec: dict[str, object] = {
        "name": "lat",
        "kind": "anomaly",
        "selector": 'api_request_duration_seconds{quantile="0.95"}',
        "sensitivity": "medium",
        "window": "2m",
        "lookback": "2h",
        "for": "1m",
    }
    if summary is not None:
        spec["summary"] = summary
    store.save_rule(engine, parse_rule(spec), "tester")
    for i in range(SPIKE - 2, SPIKE + 3):
        evaluate_all(engine, cfg, T0 + i * MIN + 1)
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(schema.alerts.c.state, schema.alerts.c.summary).where(schema.alerts.c.rule == "lat")
        ).one()
    return row.state, row.summary


def band(text: str) -> tuple[float, float, float, float]:
    found = re.search(r"\(expected ([-\d.e]+) to ([-\d.e]+), observed ([-\d.e]+), score ([-\d.e]+)\)$", text)
    assert found, text
    low, high, observed, score = (float(g) for g in found.groups())
    return low, high, observed, score


def test_default_summary_gets_band_observed_and_score_appended(engine: Engine, cfg: Settings) -> None:
    state, text = summary_after_spike(engine, cfg, None)
    assert state == "firing"
    low, high, observed, score = band(text)
    assert low < 0.2 < high < 1.5 == observed and score > 3.6


def test_template_places_the_fields_itself(engine: Engine, cfg: Settings) -> None:
    state, text = summary_after_spike(
        engine, cfg, "p95 {{ observed }} s on {{ labels.endpoint }}, expected {{ expected }} s, score {{ score }}"
    )
    found = re.fullmatch(r"p95 1\.5 s on /x, expected ([\d.]+) to ([\d.]+) s, score ([\d.]+)", text)
    assert state == "firing" and found, text
    low, high, score = (float(g) for g in found.groups())
    assert low < 0.2 < high < 1.5 and score > 3.6
