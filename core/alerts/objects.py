"""Store access for silences, mute timings and notification channels.

Each change needs ``edit_rules`` and is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.alerts.notify import notifier, options
from core.alerts.permissions import Actor, require_edit
from core.alerts.rules import SEVERITIES
from core.alerts.silences import MuteTiming, Silence, parse_matchers
from core.alerts.store import audit
from core.auth import audit as audit_log
from core.model import now_ms
from core.store import schema


def add_silence(
    engine: Engine, matchers: str, starts_ms: int, ends_ms: int, reason: str, actor: Actor, address: str | None = None
) -> int:
    """Create a silence; refuses bad matchers, an empty reason or an end before the start."""
    actor = require_edit(engine, actor, "create a silence")
    parse_matchers(matchers)
    if ends_ms <= starts_ms:
        raise ValueError("the silence must end after it starts")
    if not reason.strip():
        raise ValueError("give a reason, so others know why these alerts are quiet")
    with engine.begin() as connection:
        key = connection.execute(
            schema.silences.insert().values(
                matchers=matchers,
                starts_ms=starts_ms,
                ends_ms=ends_ms,
                reason=reason.strip(),
                created_by=actor,
                created_ms=now_ms(),
            )
        ).inserted_primary_key
    silence_id = int(key[0]) if key else 0
    audit(
        engine,
        actor,
        audit_log.SILENCE_CHANGED,
        f"silence:{silence_id}",
        {"op": "create", "matchers": matchers, "starts_ms": starts_ms, "ends_ms": ends_ms, "reason": reason},
        address,
    )
    return silence_id


def expire_silence(
    engine: Engine, silence_id: int, actor: Actor, when: int | None = None, address: str | None = None
) -> None:
    """End a silence now."""
    actor = require_edit(engine, actor, f"expire silence {silence_id}")
    when = now_ms() if when is None else when
    with engine.begin() as connection:
        connection.execute(
            schema.silences.update()
            .where(schema.silences.c.id == silence_id)
            .where(schema.silences.c.ends_ms > when)
            .values(ends_ms=when)
        )
    audit(engine, actor, audit_log.SILENCE_CHANGED, f"silence:{silence_id}", {"op": "expire"}, address)


def silences(engine: Engine, since_ms: int | None = None) -> list[Silence]:
    """Silences ending after ``since_ms`` (all when None), newest first."""
    table = schema.silences
    query = sa.select(table).order_by(table.c.id.desc())
    if since_ms is not None:
        query = query.where(table.c.ends_ms > since_ms)
    with engine.connect() as connection:
        return [
            Silence(r.id, r.matchers, r.starts_ms, r.ends_ms, r.reason, r.created_by) for r in connection.execute(query)
        ]


def save_mute_timing(engine: Engine, timing: MuteTiming, actor: Actor, address: str | None = None) -> None:
    """Insert or replace a mute timing."""
    actor = require_edit(engine, actor, f"save the mute timing {timing.name}")
    table = schema.mute_timings
    values = {
        "matchers": timing.matchers,
        "spec": timing.model_dump(mode="json"),
        "enabled": timing.enabled,
        "updated_by": actor,
        "updated_ms": now_ms(),
    }
    with engine.begin() as connection:
        if not connection.execute(table.update().where(table.c.name == timing.name).values(**values)).rowcount:
            connection.execute(table.insert().values(name=timing.name, **values))
    audit(
        engine, actor, audit_log.SILENCE_CHANGED, f"mute:{timing.name}", {"op": "save", "spec": values["spec"]}, address
    )


def delete_mute_timing(engine: Engine, name: str, actor: Actor, address: str | None = None) -> None:
    """Remove a mute timing."""
    actor = require_edit(engine, actor, f"delete the mute timing {name}")
    with engine.begin() as connection:
        connection.execute(schema.mute_timings.delete().where(schema.mute_timings.c.name == name))
    audit(engine, actor, audit_log.SILENCE_CHANGED, f"mute:{name}", {"op": "delete"}, address)


def mute_timings(engine: Engine) -> list[MuteTiming]:
    """Every mute timing."""
    with engine.connect() as connection:
        specs = connection.execute(sa.select(schema.mute_timings.c.spec).order_by(schema.mute_timings.c.name)).scalars()
        return [MuteTiming.model_validate(spec) for spec in specs]


@dataclass(frozen=True)
class Channel:
    """A configured destination: a notifier kind, its config, and the severities routed to it."""

    name: str
    kind: str
    config: dict[str, Any]
    severities: tuple[str, ...]
    enabled: bool = True


def check_channel(channel: Channel) -> None:
    """Raise ValueError naming what is wrong: no name, a bad config value or delivery option, or no severity."""
    if not channel.name.strip():
        raise ValueError("give the channel a name")
    if not isinstance(channel.config, dict):
        raise ValueError("config: give a JSON object of the kind's fields")
    notifier(channel.kind).check(channel.config)
    options.check(channel.config)
    bad = [s for s in channel.severities if s not in SEVERITIES]
    if bad or not channel.severities:
        raise ValueError(f"severities: choose from {', '.join(SEVERITIES)}")


def save_channel(engine: Engine, channel: Channel, actor: Actor, address: str | None = None) -> None:
    """Validate with the notifier's own check, then insert or replace."""
    actor = require_edit(engine, actor, f"save the channel {channel.name}")
    check_channel(channel)
    table = schema.notification_channels
    values = {
        "kind": channel.kind,
        "config": channel.config,
        "severities": list(channel.severities),
        "enabled": channel.enabled,
        "updated_by": actor,
        "updated_ms": now_ms(),
    }
    with engine.begin() as connection:
        if not connection.execute(table.update().where(table.c.name == channel.name).values(**values)).rowcount:
            connection.execute(table.insert().values(name=channel.name, **values))
    audit(
        engine,
        actor,
        audit_log.CHANNEL_CHANGED,
        channel.name,
        {"op": "save", "kind": channel.kind, "severities": list(channel.severities)},
        address,
    )


def delete_channel(engine: Engine, name: str, actor: Actor, address: str | None = None) -> None:
    """Remove a channel (its delivery log stays)."""
    actor = require_edit(engine, actor, f"delete the channel {name}")
    with engine.begin() as connection:
        connection.execute(schema.notification_channels.delete().where(schema.notification_channels.c.name == name))
    audit(engine, actor, audit_log.CHANNEL_CHANGED, name, {"op": "delete"}, address)


def channels(engine: Engine) -> list[Channel]:
    """Every channel, by name."""
    table = schema.notification_channels
    with engine.connect() as connection:
        rows = connection.execute(sa.select(table).order_by(table.c.name)).mappings().all()
    return [Channel(r["name"], r["kind"], dict(r["config"]), tuple(r["severities"]), bool(r["enabled"])) for r in rows]
