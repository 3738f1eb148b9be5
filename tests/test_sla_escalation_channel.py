"""The default escalation channel exists out of the box, so SLA escalations reach a channel of their own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts import dispatch
from core.alerts.objects import Channel, channels, delete_channel
from core.config import load_settings
from core.ingest import ingest
from core.model import Batch
from core.sla.jobs import check_slas
from core.store import schema
from core.store.engine import make_engine
from core.store.migrate import upgrade
from tests.conftest import POSTGRES_ADMIN_URL
from tests.sla_history import NOW, step

IN_APP = Channel("in-app", "inapp", {}, ("warning", "error", "critical"), True)
DEFAULT = Channel("sla-escalation", "inapp", {}, (), True)


@pytest.fixture(params=["sqlite", "pg"])
def fresh(request, tmp_path) -> Iterator[Engine]:
    """An empty database of this test's own (migrations are the subject, so no shared template)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        yield engine
        engine.dispose()
        return
    request.getfixturevalue("postgres_url")  # skips (or fails in CI) when Postgres is unreachable
    name = f"pulseboard_esc_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


def test_migration_creates_the_default_channels_once(fresh):
    upgrade(fresh)
    assert sorted(channels(fresh), key=lambda c: c.name) == [IN_APP, DEFAULT]
    delete_channel(fresh, "sla-escalation", "ops")
    upgrade(fresh)  # already at head: an operator's deletion stands
    assert channels(fresh) == [IN_APP]


def test_a_channel_of_that_name_made_before_the_upgrade_is_kept(fresh):
    upgrade(fresh, "0007")
    with fresh.begin() as connection:
        connection.execute(schema.notification_channels.insert().values(
            name="sla-escalation", kind="email", config={"to": "boss@example.com"}, severities=["critical"], enabled=True,
            updated_by="ops", updated_ms=1))
    upgrade(fresh)
    assert Channel("sla-escalation", "email", {"to": "boss@example.com"}, ("critical",), True) in channels(fresh)


def test_escalations_reach_their_own_channel_and_breaches_the_severity_routed_one(fresh, tmp_path):
    upgrade(fresh)
    settings = load_settings(database_url=fresh.url.render_as_string(hide_password=False), data_dir=tmp_path, demo=False,
                             collectors=False)
    assert settings.sla_escalation_channels == ["sla-escalation"]  # the default setting, nothing configured
    # A DoD validation (target 10 min, escalate at 15 min) that ended 2 min over: a breach, not an escalation.
    ingest(fresh, Batch(events=tuple(step("LATE", "dod_validation", 40, 12))), origin="test", settings=settings)
    check_slas(fresh, settings, now_ms=NOW)
    dispatch.run(fresh, settings, {}, NOW)
    first = notified(fresh)  # the breach, or the burn-rate alert that inhibits it (same component, higher severity)
    assert set(first) == {"in-app"} and first["in-app"] <= {"sla_breach", "slo_burn"}
    # A DoR validation (escalate at 20 min) open for 25 min: the escalation goes to its own channel only.
    ingest(fresh, Batch(events=tuple(step("ESC", "dor_validation", 25, None))), origin="test", settings=settings)
    assert check_slas(fresh, settings, now_ms=NOW + 60_000).escalated["dor_validation"] == 1
    dispatch.run(fresh, settings, {}, NOW + 60_000)
    routed = notified(fresh, after_ms=NOW)
    assert routed["sla-escalation"] == {"sla_escalation"}
    assert "sla_escalation" not in routed.get("in-app", set())


def notified(engine: Engine, after_ms: int = 0) -> dict[str, set[str]]:
    """Rules of the alerts in each channel's notifications queued after ``after_ms``."""
    table = schema.notifications
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.channel, table.c.payload).where(table.c.created_ms > after_ms)).all()
    rules: dict[str, set[str]] = {}
    for channel, payload in rows:
        rules.setdefault(channel, set()).update(alert["rule"] for alert in payload["alerts"])
    return rules
