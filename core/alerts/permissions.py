"""Who may change alerting: every write in core.alerts asks here before it touches the store.

Acknowledging or resolving needs ``acknowledge_alerts``, or ``acknowledge_quality_alerts``
for an alert labelled ``component=quality``; rules, silences, mute timings and channels
need ``edit_rules`` (core.auth.access). A refusal raises :class:`AlertPermissionError`.

Callers pass the :class:`~core.auth.access.Viewer` (pages do) or a username. A username of a
stored user is checked against that user's stored roles, so a caller that only has the
name (core.kpis.alerting, used by the Operations page) is held to the same rules. A name
no user has is Pulseboard's own code (jobs, scripts, :data:`~core.auth.access.SYSTEM`): people
only reach these functions through pages, which always pass their logged-in viewer.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Engine

from core.auth import users
from core.auth.access import NotAllowed, Viewer, can, is_quality_alert, may_handle_alert

Actor = Viewer | str


class AlertPermissionError(NotAllowed):
    """An alerting change the actor's roles do not allow."""


def viewer_of(engine: Engine, actor: Actor) -> Viewer | None:
    """The viewer to check: ``actor`` itself, a stored user's current roles, or None for Pulseboard's own code."""
    if isinstance(actor, Viewer):
        return actor
    user = users.get_user(engine, actor)
    if user is None:
        return None
    return Viewer(user.username, frozenset() if user.disabled else frozenset(user.roles))


def name_of(actor: Actor) -> str:
    return actor.username if isinstance(actor, Viewer) else actor


def require_edit(engine: Engine, actor: Actor, doing: str) -> str:
    """The actor's name when they may edit rules, silences and channels; raises otherwise."""
    viewer = viewer_of(engine, actor)
    if viewer is not None and not can(viewer, "edit_rules"):
        raise AlertPermissionError(viewer, "edit_rules", doing)
    return name_of(actor)


def require_handle(engine: Engine, actor: Actor, labels: Mapping[str, str] | None, doing: str) -> str:
    """The actor's name when they may acknowledge or resolve an alert with ``labels``; raises otherwise.

    ``labels`` None (the alert is gone) asks only that the actor may handle some alerts.
    """
    viewer = viewer_of(engine, actor)
    if viewer is None:
        return name_of(actor)
    if labels is None:
        allowed = can(viewer, "acknowledge_alerts") or can(viewer, "acknowledge_quality_alerts")
    else:
        allowed = may_handle_alert(viewer, labels)
    if not allowed:
        quality = labels is not None and is_quality_alert(labels)
        raise AlertPermissionError(viewer, "acknowledge_quality_alerts" if quality else "acknowledge_alerts", doing)
    return viewer.username
