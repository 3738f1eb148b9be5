"""The evaluation job end to end on a real store (SQLite and Postgres) with a synthetic clock and real receivers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import store
from core.alerts.engine import evaluate_all
from core.alerts.objects import Channel, add_silence, channels, delete_channel, save_channel
from core.alerts.rules import parse_rule
from core.auth import audit
from core.config import Settings
from core.ingest.writer import write_batch
from core.model import Event
from core.store import schema
from tests.alert_support import T0, alert_settings, feed, http_receiver

STEP = 15_000


def add_rule(engine: Engine, **spec: object) -> None:
    base = {
        "name": "q",
        "selector": "qms_queue_depth",
        "agg": "last",
        "window": "30s",
        "threshold": 15,
        "for": "1m",
        "labels": {"component": "workflow"},
        "summary": "queue {{ labels.queue }} at {{ value }}",
    }
    store.save_rule(engine, parse_rule(base | spec), "tester")


def states(engine: Engine) -> dict[str, str]:
    with engine.connect() as connection:
        return {r.rule: r.state for r in connection.execute(sa.select(schema.alerts.c.rule, schema.alerts.c.state))}


def notices(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                schema.notifications.c.channel, schema.notifications.c.notice, schema.notifications.c.alert_count
            ).order_by(schema.notifications.c.id)
        )
        return [tuple(r) for r in rows]


@pytest.fixture
def cfg(engine: Engine, settings: Settings, tmp_path: Path) -> Settings:
    """Alert settings over a store holding only the channels each test saves (the default ones removed)."""
    for channel in channels(engine):
        delete_channel(engine, channel.name, "tester")
    return alert_settings(settings, tmp_path)


def test_pending_firing_resolved_with_history_and_webhook(engine: Engine, cfg: Settings) -> None:
    values = [20.0] * 5 + [5.0]
    feed(engine, "qms_queue_depth", {"queue": "dor"}, values)
    add_rule(engine)
    with http_receiver() as hook:
        save_channel(engine, Channel("hook", "webhook-generic", {"url": hook.url}, ("warning", "critical")), "tester")
        seen = []
        for i in range(len(values)):
            evaluate_all(engine, cfg, T0 + i * STEP + 1)
            seen.append(states(engine)["q"])
        assert seen == ["pending", "pending", "pending", "pending", "firing", "resolved"]
        assert [b["status"] for b in hook.bodies] == ["firing", "resolved"]
        alert = hook.bodies[0]["alerts"][0]  # type: ignore[index]
        assert alert["summary"] == "queue dor at 20" and alert["labels"]["queue"] == "dor"
    history = store.history_frame(engine, T0)
    assert history.height == 1 and history["duration_s"][0] == 15.0
    with engine.connect() as connection:
        moves = connection.execute(
            sa.select(schema.alert_transitions.c.from_state, schema.alert_transitions.c.to_state).order_by(
                schema.alert_transitions.c.id
            )
        ).all()
    assert [tuple(m) for m in moves] == [("inactive", "pending"), ("pending", "firing"), ("firing", "resolved")]


def test_flapping_does_not_renotify(engine: Engine, cfg: Settings) -> None:
    flapping = [20.0, 5.0] * 4 + [5.0] * 6
    feed(engine, "qms_queue_depth", {"queue": "dor"}, flapping)
    add_rule(engine, **{"for": "0s"})
    save_channel(engine, Channel("app", "inapp", {}, ("warning",)), "tester")
    slow = cfg.model_copy(update={"alert_resolve_wait_s": 60.0})
    for i in range(len(flapping)):
        evaluate_all(engine, slow, T0 + i * STEP + 1)
    assert notices(engine) == [("app", "firing", 1), ("app", "resolved", 1)]


def test_silence_holds_notifications_but_not_state(engine: Engine, cfg: Settings) -> None:
    feed(engine, "qms_queue_depth", {"queue": "dor"}, [20.0] * 3)
    add_rule(engine, **{"for": "0s"})
    save_channel(engine, Channel("app", "inapp", {}, ("warning",)), "tester")
    silence = add_silence(engine, '{alertname="q", queue="dor"}', T0, T0 + 3_600_000, "maintenance", "tester")
    evaluate_all(engine, cfg, T0 + 1)
    assert states(engine) == {"q": "firing"} and notices(engine) == []
    frame = store.alerts_frame(engine)
    assert frame["suppressed"][0] == f"silence:{silence}"
    assert audit.entries(engine, actions=(audit.SILENCE_CHANGED,)).height == 1


def test_alerts_of_related_components_are_grouped_with_the_upstream_root_cause(engine: Engine, cfg: Settings) -> None:
    feed(engine, "db_connection_pool_used_percent", {}, [95.0] * 3)
    feed(engine, "api_errors_percent", {"endpoint": "/x"}, [30.0] * 3)
    add_rule(
        engine,
        name="api_errors",
        selector="api_errors_percent",
        threshold=5,
        labels={"component": "api"},
        **{"for": "0s"},
    )
    add_rule(
        engine,
        name="db_pool",
        selector="db_connection_pool_used_percent",
        threshold=90,
        labels={"component": "database"},
        **{"for": "0s"},
        summary="pool at {{ value }} %",
    )
    with http_receiver() as hook:
        save_channel(engine, Channel("slack", "webhook-slack", {"url": hook.url}, ("warning",)), "tester")
        evaluate_all(engine, cfg, T0 + 1)
        assert len(hook.bodies) == 1, "one message for the group, not one per alert"
        text = json.dumps(hook.bodies[0])
        assert "2 alerts firing in api, database; probable root cause: pool at 95 %" in text
    frame = store.alerts_frame(engine)
    roots = dict(zip(frame["rule"], frame["root_cause"], strict=True))
    assert roots == {"db_pool": True, "api_errors": False} and frame["group_key"].n_unique() == 1


def test_critical_inhibits_the_warning_of_the_same_group(engine: Engine, cfg: Settings) -> None:
    feed(engine, "api_errors_percent", {"endpoint": "/x"}, [30.0])
    group = {"component": "api", "alertgroup": "api_error_rate"}
    add_rule(engine, name="err_warn", selector="api_errors_percent", threshold=5, labels=group, **{"for": "0s"})
    add_rule(
        engine,
        name="err_crit",
        selector="api_errors_percent",
        threshold=10,
        labels=group,
        severity="critical",
        **{"for": "0s"},
    )
    evaluate_all(engine, cfg, T0 + 1)
    frame = store.alerts_frame(engine)
    suppressed = dict(zip(frame["rule"], frame["suppressed"], strict=True))
    assert suppressed["err_crit"] is None and suppressed["err_warn"].startswith("inhibited:")


@pytest.mark.parametrize(("mode", "expected"), [("ok", {}), ("alerting", {"q": "firing"})])
def test_no_data_modes(engine: Engine, cfg: Settings, mode: str, expected: dict[str, str]) -> None:
    add_rule(engine, no_data=mode, **{"for": "0s"})
    evaluate_all(engine, cfg, T0 + 1)
    assert states(engine) == expected


def test_no_data_keep_leaves_a_firing_alert_firing(engine: Engine, cfg: Settings) -> None:
    feed(engine, "qms_queue_depth", {"queue": "dor"}, [20.0])
    add_rule(engine, no_data="keep", **{"for": "0s"})
    evaluate_all(engine, cfg, T0 + 1)
    evaluate_all(engine, cfg, T0 + 10 * STEP)  # the only sample has left the 30 s window
    assert states(engine) == {"q": "firing"}


def test_critical_defect_event_fires_immediately(engine: Engine, cfg: Settings) -> None:
    found = Event("d-1", "qa.defect_found", T0, "qms", {"severity": "critical", "repository": "org/repo"})
    minor = Event("d-2", "qa.defect_found", T0, "qms", {"severity": "minor", "repository": "org/other"})
    write_batch(engine, [], [found, minor])
    add_rule(
        engine,
        name="defect",
        source="events",
        selector='{type="qa.defect_found", severity="critical"}',
        agg="count",
        window="5m",
        by=["repository"],
        threshold=0,
        labels={"component": "quality"},
        **{"for": "0s"},
    )
    evaluate_all(engine, cfg, T0 + 1000)
    frame = store.alerts_frame(engine)
    assert frame["state"].to_list() == ["firing"] and json.loads(frame["labels"][0])["repository"] == "org/repo"


def test_acknowledge_and_manual_resolve_are_audited(engine: Engine, cfg: Settings) -> None:
    feed(engine, "qms_queue_depth", {"queue": "dor"}, [20.0])
    add_rule(engine, **{"for": "0s"})
    evaluate_all(engine, cfg, T0 + 1)
    key = store.alerts_frame(engine)["fingerprint"][0]
    assert store.acknowledge(engine, key, "alice", "looking", when=T0 + 1 + 60_000)
    assert store.resolve(engine, key, "alice", "fixed by restart", when=T0 + 120_000)
    history = store.history_frame(engine, T0)
    assert history["acknowledged_by"][0] == "alice" and history["time_to_ack_s"][0] == 60.0
    assert history["resolved_by"][0] == "alice"
    actions = set(audit.entries(engine, actor="alice")["action"])
    assert actions == {audit.ALERT_ACKNOWLEDGED, "alert_resolved"}


def test_still_firing_alert_is_renotified_after_the_repeat_interval_only(engine: Engine, cfg: Settings) -> None:
    feed(engine, "qms_queue_depth", {"queue": "dor"}, [20.0] * 20)  # five minutes of a full queue
    add_rule(engine, **{"for": "0s"})
    save_channel(engine, Channel("app", "inapp", {}, ("warning",)), "tester")
    repeat = cfg.model_copy(update={"alert_repeat_interval_s": 60.0})
    sent = []
    for i in range(10):  # every 15 s for 150 s
        evaluate_all(engine, repeat, T0 + i * STEP + 1)
        sent.append(len(notices(engine)))
    assert states(engine) == {"q": "firing"}
    # first notice at 0 s; nothing at 15-45 s; again at 60 s and at 120 s, each a "firing" notice
    assert sent == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    assert [n[1] for n in notices(engine)] == ["firing"] * 3
    assert store.acknowledge(
        engine, store.alerts_frame(engine)["fingerprint"][0], "alice", "on it", when=T0 + 10 * STEP
    )
    for i in range(10, 20):  # acknowledged: no more repeats, however long it fires
        evaluate_all(engine, repeat, T0 + i * STEP + 1)
    assert len(notices(engine)) == 3 and states(engine) == {"q": "firing"}
