"""The state each rule shows in the rule list: a rule whose metric is silent says "no data", never a quiet "ok"."""

from __future__ import annotations

import polars as pl

from core.alerts import store, views
from core.alerts.engine import evaluate_all
from core.alerts.rules import parse_rule
from tests.alert_support import T0, alert_settings, feed

MIN = 60_000


def rule(name: str, **spec: object):
    return parse_rule({"name": name, "selector": name, "threshold": 50, "window": "2m"} | spec)


def states(engine) -> dict[str, str]:
    frame = views.rule_states(store.load_rules(engine), store.alerts_frame(engine), store.load_health(engine))
    return dict(frame.select("rule", "state").iter_rows())


def test_each_rule_shows_firing_pending_ok_no_data_or_disabled(engine, settings, tmp_path):
    settings = alert_settings(settings, tmp_path)
    for spec in (
        rule("hot"),
        rule("warming", **{"for": "10m"}),
        rule("calm"),
        rule("silent"),
        rule("off", enabled=False),
        parse_rule(
            {
                "name": "defects",
                "source": "events",
                "selector": '{type="qa.defect_found"}',
                "agg": "count",
                "threshold": 0,
            }
        ),
    ):
        store.save_rule(engine, spec, "tester")
    assert set(states(engine).values()) == {"not evaluated yet", "disabled"}
    for name, value in (("hot", 90.0), ("warming", 90.0), ("calm", 10.0)):
        feed(engine, name, {"host": "a"}, [value] * 8)
    evaluate_all(engine, settings, now_ms=T0 + 2 * MIN)
    assert states(engine) == {
        "hot": "firing",
        "warming": "pending",
        "calm": "ok",
        "silent": "no data",  # nothing writes its metric: said, not hidden behind "ok"
        "off": "disabled",
        "defects": "ok",  # an event count of zero is a value
    }
    health = store.load_health(engine)
    assert health["silent"] == {"at": T0 + 2 * MIN, "series": 0} and health["calm"]["series"] == 1


def test_a_broken_rule_shows_its_error():
    broken = rule("broken")
    frame = views.rule_states([broken], pl.DataFrame(schema={"rule": pl.String, "state": pl.String}), {})
    assert frame["state"].to_list() == ["not evaluated yet"]
    health = {"broken": {"at": 1, "series": 0, "error": "OperationalError: no such table"}}
    frame = views.rule_states([broken], pl.DataFrame(schema={"rule": pl.String, "state": pl.String}), health)
    assert frame.row(0, named=True) == {
        "rule": "broken",
        "state": "error",
        "series": 0,
        "evaluated_at": 1,
        "error": "OperationalError: no such table",
    }
