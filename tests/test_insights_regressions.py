"""Regressions after deployments on crafted histories: a step change names its deployment, noise does not fire."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from core import query
from core.config import load_settings
from core.ingest.writer import write_batch
from core.insights import findings
from core.insights import regressions as rg
from core.insights.baselines import read_values
from core.kpis.records import load_deployments
from core.model import Event, Sample, now_ms
from core.store.rollup import run_rollup

MIN = 60_000
HOUR = 60 * MIN
SERIES = 'api_request_duration_seconds{endpoint="/reviews", quantile="0.95"}'
NOISE_TRIALS = 400
FALSE_POSITIVE_BOUND = 0.01  # stated in docs/insights.md


def deployments(*rows: tuple[str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(i, c, "1.0", ts, "test") for i, c, ts in rows],
        schema={"id": pl.String, "component": pl.String, "version": pl.String, "ts": pl.Int64, "source": pl.String},
        orient="row",
    )


def history(rng: np.random.Generator, start: int, minutes: int, step_at: int | None, factor: float) -> pl.DataFrame:
    """A latency at one value a minute: log-normal noise around 0.2 s, times ``factor`` from ``step_at``."""
    ts = start + np.arange(minutes) * MIN
    values = 0.2 * rng.lognormal(0, 0.25, minutes)
    if step_at is not None:
        values = np.where(ts >= step_at, values * factor, values)
    return pl.DataFrame({"series": SERIES, "ts": ts, "value": values})


def ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Autocorrelated noise, as minute samples of a real latency are."""
    out = np.empty(n)
    out[0] = rng.normal()
    for i in range(1, n):
        out[i] = phi * out[i - 1] + rng.normal() * np.sqrt(1 - phi**2)
    return out


def test_a_step_change_after_the_second_deployment_is_reported_naming_it():
    rng = np.random.default_rng(7)
    start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
    d1, d2, d3 = start + 3 * HOUR, start + 6 * HOUR, start + 9 * HOUR
    values = history(rng, start, 12 * 60, d2, 1.6)
    found = rg.detect(
        values,
        deployments(("dep-1", "web", d1), ("dep-2", "decision-engine", d2), ("dep-3", "web", d3)),
        load_settings(),
    )
    assert [(r.deployment_id, r.deployed_component, r.series) for r in found] == [("dep-2", "decision-engine", SERIES)]
    hit = found[0]
    assert hit.component == "endpoint /reviews"
    assert hit.confidence > 0.99 and hit.comparison.effect >= 0.5
    assert 45 <= hit.comparison.change_percent <= 75  # a 60 % step, measured on medians


def test_the_same_step_without_a_deployment_before_it_is_not_blamed_on_the_next_one():
    """dep-3 comes 3 h after the step: its before-window already holds the new level, so nothing is reported."""
    rng = np.random.default_rng(8)
    start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
    values = history(rng, start, 12 * 60, start + 6 * HOUR, 1.6)
    found = rg.detect(values, deployments(("dep-3", "web", start + 9 * HOUR)), load_settings())
    assert found == []


def test_an_improvement_or_a_small_change_is_not_a_regression():
    rng = np.random.default_rng(9)
    start = 1_700_000_000_000
    deploy = deployments(("dep", "web", start + 3 * HOUR))
    faster = history(rng, start, 6 * 60, start + 3 * HOUR, 0.5)
    assert rg.detect(faster, deploy, load_settings()) == []
    tiny = history(rng, start, 6 * 60, start + 3 * HOUR, 1.05)  # 5 %: below regression_min_change_percent
    assert rg.detect(tiny, deploy, load_settings()) == []


def test_a_fall_of_a_hit_rate_is_the_regression_for_lower_is_worse_series():
    before = np.full(60, 95.0) + np.random.default_rng(1).normal(0, 0.5, 60)
    after = np.full(60, 70.0) + np.random.default_rng(2).normal(0, 0.5, 60)
    result = rg.compare_windows(before, after, lower_is_worse=True)
    assert result is not None and result.effect == pytest.approx(1.0) and result.is_regression(0.01, 0.5, 10)
    assert rg.worse_when_lower('db_cache_hit_percent{database="qms"}') and rg.is_tested("db_cache_hit_percent")
    assert not rg.is_tested('qms_agent_load_percent{agent="a"}') and not rg.is_tested("qms_queue_depth")
    assert not rg.worse_when_lower("api_errors_percent")


@pytest.mark.parametrize("phi", [0.0, 0.6])
def test_noise_alone_is_not_a_regression_in_at_least_99_percent_of_trials(phi):
    """Many noise-only histories (independent, and autocorrelated at φ = 0.6 as minute samples are) with a
    deployment in the middle: the share reported as a regression stays under the stated bound."""
    settings = load_settings()
    rng = np.random.default_rng(2026)
    start = 1_700_000_000_000
    deploy = deployments(("dep", "web", start + 2 * HOUR))
    hits = 0
    for _ in range(NOISE_TRIALS):
        noise = ar1(rng, 240, phi)
        values = pl.DataFrame(
            {"series": SERIES, "ts": start + np.arange(240) * MIN, "value": 0.2 * np.exp(0.25 * noise)}
        )
        hits += bool(rg.detect(values, deploy, settings))
    assert hits / NOISE_TRIALS < FALSE_POSITIVE_BOUND, f"{hits} of {NOISE_TRIALS} noise-only trials flagged"


def test_demand_driven_series_are_not_blamed_on_deployments():
    rng = np.random.default_rng(10)
    start = 1_700_000_000_000
    load = history(rng, start, 6 * 60, start + 3 * HOUR, 3.0).with_columns(
        series=pl.lit('qms_agent_load_percent{agent="a"}')
    )
    assert rg.detect(load, deployments(("dep", "web", start + 3 * HOUR)), load_settings()) == []


def test_windows_stop_at_the_neighbouring_deployments():
    assert rg.windows([10_000, 12_000, 40_000], 5_000) == [
        (5_000, 10_000, 12_000),
        (10_000, 12_000, 17_000),
        (35_000, 40_000, 45_000),
    ]


def test_a_regression_is_found_in_stored_samples_after_a_stored_deployment(engine, settings):
    """End to end through the store on both backends: samples and a system.deployment event, read back."""
    rng = np.random.default_rng(11)
    start = (now_ms() - 8 * HOUR) // HOUR * HOUR
    frame = history(rng, start, 6 * 60, start + 3 * HOUR, 2.0)
    samples = [
        Sample.of("api_request_duration_seconds", {"endpoint": "/reviews", "quantile": "0.95"}, float(v), int(t))
        for t, v in frame.select("ts", "value").iter_rows()
    ]
    deploy = Event(
        "dep-42", "system.deployment", start + 3 * HOUR, "test", {"component": "gateway", "version": "4.2"}, {}
    )
    write_batch(engine, samples, [deploy])
    run_rollup(engine, now_ms())
    query.clear_cache()

    values = read_values(engine, settings, start, start + 6 * HOUR, MIN)
    found = rg.detect(values, load_deployments(engine, start, start + 6 * HOUR, settings=settings), settings)
    assert [(r.deployment_id, r.deployed_component, r.version) for r in found] == [("dep-42", "gateway", "4.2")]


def test_sparse_history_gets_windows_wide_enough_and_is_still_judged():
    """15-minute points (the demo's older history): 8 per 2 h would be too few, so the windows widen to 2.5 h."""
    rng = np.random.default_rng(12)
    start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
    ts = start + np.arange(48) * 15 * MIN
    values = 0.2 * rng.lognormal(0, 0.2, ts.size) * np.where(ts >= start + 6 * HOUR, 3.0, 1.0)
    frame = pl.DataFrame({"series": SERIES, "ts": ts, "value": values})
    assert rg.window_for(ts, 2 * HOUR) == 150 * MIN
    found = rg.detect(frame, deployments(("dep-s", "web", start + 6 * HOUR)), load_settings())
    assert [(r.deployment_id, r.comparison.n_before, r.comparison.n_after) for r in found] == [("dep-s", 10, 10)]


def test_one_finding_per_deployment_names_its_worst_series_and_lists_the_others():
    rng = np.random.default_rng(13)
    start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR
    latency = history(rng, start, 6 * 60, start + 3 * HOUR, 3.0)
    errors = history(rng, start, 6 * 60, start + 3 * HOUR, 1.5).with_columns(
        series=pl.lit('api_errors_percent{endpoint="/search"}')
    )
    found = rg.detect(
        pl.concat([latency, errors]), deployments(("dep-9", "gateway", start + 3 * HOUR)), load_settings()
    )
    assert len(found) == 2
    (finding,) = findings.from_regressions(found)
    assert finding.id == "regression:dep-9" and finding.title == "2 series worse after gateway 1.0"
    assert finding.chart == SERIES  # the larger effect: the tripled latency
    assert (
        "affected endpoint /reviews, endpoint /search" in finding.detail and "Also: endpoint /search" in finding.detail
    )
    assert finding.confidence is not None and finding.confidence > 0.99


def test_autocorrelation_weakens_the_evidence_of_the_rank_test():
    assert rg.autocorrelated_p(1e-6, 0.0) == 1e-6
    assert rg.autocorrelated_p(1e-6, 0.9) > 0.05  # z 4.9 shrinks to 1.1: what 24 smooth values say
    assert rg.autocorrelated_p(1e-300, 0.5) < 1e-50
    smooth = np.convolve(np.random.default_rng(4).normal(0, 1, 300), np.ones(12) / 12, mode="valid")
    assert rg.lag1_autocorrelation(smooth - np.median(smooth)) > 0.8


def test_a_smooth_series_with_few_independent_values_is_not_judged():
    """14 values of a rolling mean after a deployment are one or two observations: no verdict, not a regression."""
    rng = np.random.default_rng(5)
    walk = np.convolve(rng.normal(0, 1, 60), np.ones(12) / 12, mode="valid")[:38]
    before, after = 1 + 0.05 * walk[:24], 1.2 + 0.05 * walk[24:]
    assert rg.compare_windows(before, after) is None
