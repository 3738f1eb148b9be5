"""Explore's query layer per viewer (core/query/visible.py): no cost metric,
no per-person label for roles without the right."""

from __future__ import annotations

import json

import polars as pl
import pytest

from core import query
from core.auth.access import NotAllowed, Viewer
from core.ingest import ingest
from core.model import Batch, Sample, now_ms

DEVELOPER = Viewer.of("dev", ["developer"])
OPERATIONS = Viewer.of("ops", ["operations"])
EXECUTIVE = Viewer.of("ceo", ["executive"])
ADMIN = Viewer.of("root", ["admin"])
MIN = 60_000


@pytest.fixture
def reviews(engine):
    query.clear_cache()
    now = now_ms()
    samples = []
    for i in range(3):
        ts = now - (i + 1) * MIN
        samples += [
            Sample.of("review_duration_seconds", {"repository": "org/api", "reviewer": "ann"}, 100.0, ts),
            Sample.of("review_duration_seconds", {"repository": "org/api", "reviewer": "bob"}, 300.0, ts),
            Sample.of("review_duration_seconds", {"repository": "org/web", "reviewer": "ann"}, 50.0, ts),
            Sample.of("review_cost_usd_total", {"repository": "org/api"}, 42.0, ts),
            Sample.of("cpu_percent", {"host": "h1"}, 10.0, ts),
        ]
    ingest(engine, Batch(tuple(samples)), origin="test")
    yield engine, now
    query.clear_cache()


def labels_of(frame: pl.DataFrame) -> set[str]:
    return {key for text in frame["labels"] for key in json.loads(text)}


def test_a_developer_never_sees_cost_metrics_or_reviewer_labels(reviews):
    engine, now = reviews
    assert query.visible_metric_names(engine, DEVELOPER) == ["cpu_percent", "review_duration_seconds"]
    assert query.visible_label_values(engine, "review_duration_seconds", DEVELOPER) == {
        "repository": ["org/api", "org/web"]
    }
    frame = query.visible_series(engine, "review_duration_seconds", now - 3_600_000, now, DEVELOPER, agg="avg")
    assert labels_of(frame) == {"repository"}
    assert not any("ann" in s or "bob" in s or "reviewer" in s for s in frame["series"])
    # ann and bob on org/api become one series: the mean of their averages, never either person's figure
    api = frame.filter(pl.col("series") == 'review_duration_seconds{repository="org/api"}')
    assert api["value"].to_list() == [200.0, 200.0, 200.0] and api["series_id"].n_unique() == 1
    summed = query.visible_series(engine, "review_duration_seconds", now - 3_600_000, now, DEVELOPER, agg="sum")
    assert set(summed.filter(pl.col("series").str.contains("org/api"))["value"]) == {400.0}


@pytest.mark.parametrize("viewer", [EXECUTIVE, ADMIN], ids=["executive", "admin"])
def test_executives_and_admins_see_costs_and_reviewers(reviews, viewer):
    engine, now = reviews
    assert "review_cost_usd_total" in query.visible_metric_names(engine, viewer)
    assert query.visible_label_values(engine, "review_duration_seconds", viewer)["reviewer"] == ["ann", "bob"]
    frame = query.visible_series(engine, 'review_duration_seconds{reviewer="bob"}', now - 3_600_000, now, viewer)
    assert set(frame["series"]) == {'review_duration_seconds{repository="org/api", reviewer="bob"}'}
    costs = query.visible_series(engine, "review_cost_usd_total", now - 3_600_000, now, viewer, agg="max")
    assert set(costs["value"]) == {42.0}


def test_operations_sees_reviewers_nowhere_and_costs_nowhere(reviews):
    engine, _ = reviews
    assert query.visible_metric_names(engine, OPERATIONS) == ["cpu_percent", "review_duration_seconds"]
    assert "reviewer" not in query.visible_label_values(engine, "review_duration_seconds", OPERATIONS)


@pytest.mark.parametrize(
    ("selector", "permission", "what"),
    [
        ("review_cost_usd_total", "view_costs", "metric 'review_cost_usd_total'"),
        ('{__name__="review_cost_usd_total"}', "view_costs", "metric 'review_cost_usd_total'"),
        ('review_duration_seconds{reviewer="ann"}', "view_people", "label 'reviewer'"),
        ('review_duration_seconds{reviewer!=""}', "view_people", "label 'reviewer'"),
        ('{reviewer=~"a.*"}', "view_people", "label 'reviewer'"),
    ],
)
def test_a_typed_selector_on_a_hidden_metric_or_label_is_refused(reviews, selector, permission, what):
    engine, now = reviews
    with pytest.raises(NotAllowed, match=f"{what}.*dev \\(developer\\) lacks the permission '{permission}'"):
        query.visible_series(engine, selector, now - 3_600_000, now, DEVELOPER)
    with pytest.raises(NotAllowed):
        query.visible_comparison(engine, selector, now - 3_600_000, now, DEVELOPER)
    with pytest.raises(NotAllowed):
        query.visible_label_values(engine, "review_cost_usd_total", DEVELOPER)


def test_a_selector_without_a_fixed_name_cannot_reach_hidden_metrics(reviews):
    engine, now = reviews
    wide = '{repository="org/api"}'
    mine = query.visible_series(engine, wide, now - 3_600_000, now, DEVELOPER)
    assert {s.split("{")[0] for s in mine["series"]} == {"review_duration_seconds"}
    everything = query.visible_series(engine, wide, now - 3_600_000, now, EXECUTIVE)
    assert {s.split("{")[0] for s in everything["series"]} == {"review_duration_seconds", "review_cost_usd_total"}
    assert (
        query.visible_comparison(
            engine, '{__name__=~"review_cost.*"}', now - 3_600_000, now, DEVELOPER, agg="max"
        ).current
        is None
    )
    assert (
        query.visible_comparison(
            engine, '{__name__=~"review_cost.*"}', now - 3_600_000, now, EXECUTIVE, agg="max"
        ).current
        == 42.0
    )


def test_redact_series_is_pure_and_keeps_frames_without_hidden_labels():
    frame = pl.DataFrame(
        {
            "ts": [0, 0, 60_000],
            "series_id": [7, 3, 7],
            "series": ['m{reviewer="ann", team="a"}', 'm{reviewer="bob", team="a"}', 'm{reviewer="ann", team="a"}'],
            "labels": [
                '{"reviewer":"ann","team":"a"}',
                '{"reviewer":"bob","team":"a"}',
                '{"reviewer":"ann","team":"a"}',
            ],
            "value": [1.0, 5.0, 2.0],
        }
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))
    out = query.redact_series(frame, DEVELOPER, "max")
    assert out.select("series_id", "series", "labels", "value").rows() == [
        (3, 'm{team="a"}', '{"team":"a"}', 5.0),
        (3, 'm{team="a"}', '{"team":"a"}', 2.0),
    ]
    assert query.redact_series(frame, EXECUTIVE, "max") is frame


def test_compare_previous_of_last_reads_the_raw_tier(engine):
    """agg="last" over a short range (raw samples) used to ask for ``last_ts`` twice and fail in polars."""
    query.clear_cache()
    now = now_ms()
    ingest(
        engine,
        Batch(
            tuple(
                Sample.of("cpu_percent", {"host": "h1"}, v, now - m * MIN)
                for m, v in ((90, 12.0), (70, 10.0), (30, 14.0), (20, 15.0))
            )
        ),
        origin="test",
    )
    found = query.compare_previous(engine, "cpu_percent", now - 3_600_000, now, agg="last")
    assert (found.current, found.previous, found.text) == (15.0, 10.0, "↑ 50% vs previous hour")
    query.clear_cache()
