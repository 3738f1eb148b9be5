"""The default escalation channel exists out of the box, so SLA escalations reach a channel of their own."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import dispatch
from core.alerts.objects import Channel, channels, delete_channel
from core.config import load_settings
from core.ingest import ingest
from core.model import Batch
from core.sla.jobs import check_slas
from core.store import schema
from core.store.migrate import upgrade
from tests.sla_history import NOW, step

IN_APP = Channel("in-app", "inapp", {}, ("warning", "error", "critical"), True)
DEFAULT = Channel("sla-escalation", "inapp", {}, (), True)


def test_migration_creates_the_default_channels_once(empty_engine):
    upgrade(empty_engine)
    assert sorted(channels(empty_engine), key=lambda c: c.name) == [IN_APP, DEFAULT]
    delete_channel(empty_engine, "sla-escalation", "ops")
    upgrade(empty_engine)  # already at head: an operator's deletion stands
    assert channels(empty_engine) == [IN_APP]


def test_a_channel_of_that_name_made_before_the_upgrade_is_kept(empty_engine):
    upgrade(empty_engine, "0007")
    with empty_engine.begin() as connection:
        connection.execute(
            schema.notification_channels.insert().values(
                name="sla-escalation",
                kind="email",
                config={"to": "boss@example.com"},
                severities=["critical"],
                enabled=True,
                updated_by="ops",
                updated_ms=1,
            )
        )
    upgrade(empty_engine)
    assert Channel("sla-escalation", "email", {"to": "boss@example.com"}, ("critical",), True) in channels(empty_engine)


def test_escalations_reach_their_own_channel_and_breaches_the_severity_routed_one(empty_engine, tmp_path):
    upgrade(empty_engine)
    settings = load_settings(
        database_url=empty_engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path,
        demo=False,
        collectors=False,
    )
    assert settings.sla_escalation_channels == ["sla-escalation"]  # the default setting, nothing configured
    # A DoD validation (target 10 min, escalate at 15 min) that ended 2 min over: a breach, not an escalation.
    ingest(empty_engine, Batch(events=tuple(step("LATE", "dod_validation", 40, 12))), origin="test", settings=settings)
    check_slas(empty_engine, settings, now_ms=NOW)
    dispatch.run(empty_engine, settings, {}, NOW)
    first = notified(
        empty_engine
    )  # the breach, or the burn-rate alert that inhibits it (same component, higher severity)
    assert set(first) == {"in-app"} and first["in-app"] <= {"sla_breach", "slo_burn"}
    # A DoR validation (escalate at 20 min) open for 25 min: the escalation goes to its own channel only.
    ingest(empty_engine, Batch(events=tuple(step("ESC", "dor_validation", 25, None))), origin="test", settings=settings)
    assert check_slas(empty_engine, settings, now_ms=NOW + 60_000).escalated["dor_validation"] == 1
    dispatch.run(empty_engine, settings, {}, NOW + 60_000)
    routed = notified(empty_engine, after_ms=NOW)
    assert routed["sla-escalation"] == {"sla_escalation"}
    assert "sla_escalation" not in routed.get("in-app", set())


def notified(engine: Engine, after_ms: int = 0) -> dict[str, set[str]]:
    """Rules of the alerts in each channel's notifications queued after ``after_ms``."""
    table = schema.notifications
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(table.c.channel, table.c.payload).where(table.c.created_ms > after_ms)
        ).all()
    rules: dict[str, set[str]] = {}
    for channel, payload in rows:
        rules.setdefault(channel, set()).update(alert["rule"] for alert in payload["alerts"])
    return rules
