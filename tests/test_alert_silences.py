"""Mute timings in a time zone, silences, inhibition and correlation — pure functions."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.alerts.correlate import Fired, correlate
from core.alerts.silences import Candidate, MuteTiming, Silence, inhibited, suppression


def at(text: str, zone: str = "Europe/Berlin") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


SUNDAY_NIGHT = MuteTiming.model_validate(
    {
        "name": "maintenance",
        "matchers": '{component="database"}',
        "timezone": "Europe/Berlin",
        "intervals": [{"weekdays": ["sunday"], "times": [["02:00", "04:00"]]}],
    }
)
OFF_HOURS = MuteTiming.model_validate(
    {
        "name": "off-hours",
        "matchers": '{severity=~"info|warning"}',
        "timezone": "America/New_York",
        "intervals": [
            {"weekdays": ["monday:friday"], "times": [["00:00", "08:00"], ["18:00", "24:00"]]},
            {"weekdays": ["saturday", "sunday"]},
        ],
    }
)


@pytest.mark.parametrize(
    ("when", "muted"),
    [
        ("2026-03-01T02:30", True),  # Sunday 02:30 Berlin
        ("2026-03-01T04:00", False),  # end is exclusive
        ("2026-03-02T02:30", False),  # Monday
        ("2026-03-29T03:30", True),  # the night clocks go forward: 03:30 CEST still counts
    ],
)
def test_weekly_mute_timing_in_its_time_zone(when: str, muted: bool) -> None:
    assert SUNDAY_NIGHT.active(at(when)) is muted


@pytest.mark.parametrize(
    ("when", "muted"),
    [
        ("2026-03-03T07:59", True),
        ("2026-03-03T08:00", False),
        ("2026-03-03T17:59", False),
        ("2026-03-03T18:00", True),
        ("2026-03-07T12:00", True),
    ],
)
def test_weekdays_outside_office_hours(when: str, muted: bool) -> None:
    assert OFF_HOURS.active(at(when, "America/New_York")) is muted


def test_bad_mute_timings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        MuteTiming.model_validate({"name": "x", "matchers": '{a="b"}', "timezone": "Mars/Olympus", "intervals": [{}]})
    with pytest.raises(ValueError, match="ends before it starts"):
        MuteTiming.model_validate({"name": "x", "matchers": '{a="b"}', "intervals": [{"times": [["22:00", "02:00"]]}]})
    with pytest.raises(ValueError, match="unknown weekday"):
        MuteTiming.model_validate({"name": "x", "matchers": '{a="b"}', "intervals": [{"weekdays": ["funday"]}]})


def test_suppression_prefers_silences_and_respects_their_period() -> None:
    silence = Silence(7, '{alertname="db_pool"}', 1_000, 2_000, "planned failover", "alice")
    labels = {"alertname": "db_pool", "component": "database", "severity": "critical"}
    assert suppression(labels, 1_500, [silence], []) == "silence:7"
    assert suppression(labels, 2_000, [silence], []) is None
    assert suppression(labels, at("2026-03-01T03:00"), [silence], [SUNDAY_NIGHT]) == "mute:maintenance"


def test_inhibition() -> None:
    def alert(
        fp: str, severity: str, component: str, group: str = "", series: frozenset[tuple[str, str]] = frozenset()
    ) -> Candidate:
        labels = {"component": component} | ({"alertgroup": group} if group else {})
        return Candidate(fp, labels, severity, True, series)

    a, b = frozenset({("endpoint", "/a")}), frozenset({("endpoint", "/b")})
    found = inhibited(
        [
            alert("crit-a", "critical", "api", "errors", a),
            alert("warn-a", "warning", "api", "errors", a),
            alert("warn-b", "warning", "api", "errors", b),
            alert("db-crit", "critical", "database"),
            alert("db-warn", "warning", "database"),
            alert("web-warn", "warning", "web"),
        ]
    )
    assert found == {"warn-a": "crit-a", "db-warn": "db-crit"}


def test_correlation_picks_the_upstream_component_as_root_cause() -> None:
    deps = {"api": ["database"], "workflow": ["api"]}
    alerts = [
        Fired("wf", "workflow", 0),
        Fired("api", "api", 30_000),
        Fired("db", "database", 60_000),
        Fired("late", "database", 900_000),
        Fired("other", "", 10_000),
    ]
    groups = correlate(alerts, 300_000, deps)
    main = next(g for g in groups if "wf" in g.members)
    assert (
        main.root == "db"
        and set(main.members) == {"wf", "api", "db"}
        and main.components == ("api", "database", "workflow")
    )
    assert {g.members for g in groups if g is not main} == {("other",), ("late",)}


def test_correlation_without_dependencies_takes_the_earliest() -> None:
    (group,) = correlate([Fired("b", "queue", 5), Fired("a", "queue", 1)], 60_000, {})
    assert group.root == "a" and group.members == ("a", "b")
