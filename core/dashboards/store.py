"""Saved dashboards: per user, shared with roles, a role's default; every change audited.

Who may do what:

* anyone may create a dashboard; it is theirs (``owner``) and only they (and admins) see it
  until they share it with roles;
* the owner or an admin may save a new version, share, mark as a role's default, delete;
* a role's default dashboard is also shared with that role; one default per role (marking
  another one moves the mark);
* provisioned dashboards (core.dashboards.provision) are owned by ``provisioning`` and
  changed by admins only;
* slugs starting ``builtin-`` hold admins' levels for the role pages' panels
  (core.dashboards.builtin): admins only, never listed, never taken by a person or a file.

Saves carry the version they started from: a save against an older version raises
:class:`Conflict` instead of silently overwriting another person's change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.auth import audit
from core.auth.access import Viewer
from core.auth.catalogue import ROLES
from core.dashboards.model import Dashboard, DashboardError, validate
from core.model import now_ms
from core.store.schema import dashboards

PROVISIONING = "provisioning"
BUILTIN = "builtin"
RESERVED = "builtin-"
log = logging.getLogger(__name__)


class Refused(PermissionError):
    """The viewer may not change (or see) this dashboard; the message says why."""


class Conflict(ValueError):
    """The dashboard changed since the editor loaded it."""


class NotFound(KeyError):
    """No dashboard has this slug."""


@dataclass(frozen=True)
class Saved:
    """A stored dashboard and its sharing."""

    dashboard: Dashboard
    owner: str
    shared_roles: tuple[str, ...]
    default_for: tuple[str, ...]
    version: int
    origin: str
    updated_ms: int
    updated_by: str

    @property
    def slug(self) -> str:
        """The dashboard's URL name."""
        return self.dashboard.slug


def _is_admin(viewer: Viewer) -> bool:
    return "admin" in viewer.roles


def may_view(saved: Saved, viewer: Viewer) -> bool:
    """The owner, admins and the roles it is shared with may open a dashboard."""
    return saved.owner == viewer.username or _is_admin(viewer) or bool(viewer.roles & set(saved.shared_roles))


def may_edit(saved: Saved, viewer: Viewer) -> bool:
    """The owner and admins may change a dashboard (provisioned ones: admins only)."""
    return _is_admin(viewer) or (saved.owner == viewer.username and saved.origin == "user")


def _roles(roles: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(sorted(set(roles)))
    if unknown := [r for r in chosen if r not in ROLES]:
        raise ValueError(f"unknown role(s) {unknown}; expected some of {', '.join(ROLES)}")
    return chosen


def _row(row: Any) -> Saved:
    return Saved(
        validate(row.definition),
        row.owner,
        tuple(row.shared_roles),
        tuple(row.default_for),
        row.version,
        row.origin,
        row.updated_ms,
        row.updated_by,
    )


def get(engine: Engine, slug: str) -> Saved | None:
    """The dashboard called ``slug``, or None."""
    with engine.connect() as connection:
        row = connection.execute(sa.select(dashboards).where(dashboards.c.slug == slug)).first()
    return None if row is None else _row(row)


def visible(engine: Engine, viewer: Viewer) -> list[Saved]:
    """Every dashboard ``viewer`` may open, by title; a stored definition this version cannot read is logged and
    left out (one broken row must not take the page down for everyone)."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(dashboards).order_by(dashboards.c.title, dashboards.c.slug)).all()
    out = []
    for row in rows:
        try:
            saved = _row(row)
        except DashboardError as error:
            log.warning("dashboard %r cannot be read and is left out: %s", row.slug, error)
            continue
        if saved.origin != BUILTIN and may_view(saved, viewer):
            out.append(saved)
    return out


def default_for(engine: Engine, viewer: Viewer) -> Saved | None:
    """The first dashboard marked as the default of one of ``viewer``'s roles, if any."""
    return next((s for s in visible(engine, viewer) if viewer.roles & set(s.default_for)), None)


def _editable(connection: Connection, slug: str, viewer: Viewer) -> Saved:
    row = connection.execute(sa.select(dashboards).where(dashboards.c.slug == slug)).first()
    if row is None:
        raise NotFound(slug)
    saved = _row(row)
    if not may_edit(saved, viewer):
        raise Refused(
            f"{viewer.username} may not change the dashboard {slug!r}: "
            + ("provisioned dashboards are changed by admins" if saved.origin != "user" else f"it is {saved.owner}'s")
        )
    return saved


def _not_reserved(slug: str) -> None:
    if slug.startswith(RESERVED):
        raise Conflict(f"the slug {slug!r} is reserved: '{RESERVED}…' holds the role pages' built-in panels")


def save(
    engine: Engine,
    dashboard: Dashboard,
    viewer: Viewer,
    *,
    expected_version: int | None = None,
    address: str | None = None,
) -> int:
    """Store ``dashboard`` (new, or a new version of the viewer's own); returns the stored version.

    ``expected_version`` is the version the editor started from (None for a new dashboard): a
    dashboard with that slug at another version raises :class:`Conflict`.
    """
    _not_reserved(dashboard.slug)
    now, definition = now_ms(), dashboard.model_dump(mode="json")
    with engine.begin() as connection:
        row = connection.execute(sa.select(dashboards.c.version).where(dashboards.c.slug == dashboard.slug)).first()
        if row is None:
            if expected_version is not None:
                raise Conflict(f"the dashboard {dashboard.slug!r} was deleted since you opened it")
            connection.execute(
                dashboards.insert().values(
                    slug=dashboard.slug,
                    title=dashboard.title,
                    owner=viewer.username,
                    shared_roles=[],
                    default_for=[],
                    definition=definition,
                    version=1,
                    origin="user",
                    updated_ms=now,
                    updated_by=viewer.username,
                )
            )
            version, change = 1, "created"
        else:
            if expected_version is None:
                raise Conflict(f"the slug {dashboard.slug!r} is taken; pick another")
            _editable(connection, dashboard.slug, viewer)
            if row.version != expected_version:
                raise Conflict(
                    f"{dashboard.slug!r} was saved by someone else since you opened it "
                    f"(version {row.version}, you started from {expected_version}); reload it and apply your change"
                )
            version, change = row.version + 1, "saved"
            connection.execute(
                dashboards.update()
                .where(dashboards.c.slug == dashboard.slug)
                .values(
                    title=dashboard.title,
                    definition=definition,
                    version=version,
                    updated_ms=now,
                    updated_by=viewer.username,
                )
            )
    audit.record(
        engine,
        viewer.username,
        audit.DASHBOARD_CHANGED,
        dashboard.slug,
        {"change": change, "version": version},
        address,
    )
    return version


def share(
    engine: Engine,
    slug: str,
    roles: Iterable[str],
    viewer: Viewer,
    *,
    default_for: Iterable[str] = (),
    address: str | None = None,
) -> None:
    """Share ``slug`` with exactly ``roles`` and make it the default of ``default_for`` (shared with them too)."""
    chosen, defaults = _roles(roles), _roles(default_for)
    chosen = tuple(sorted(set(chosen) | set(defaults)))
    with engine.begin() as connection:
        _editable(connection, slug, viewer)
        for other in connection.execute(sa.select(dashboards.c.slug, dashboards.c.default_for)).all():
            if other.slug != slug and set(other.default_for) & set(defaults):
                kept = sorted(set(other.default_for) - set(defaults))
                connection.execute(dashboards.update().where(dashboards.c.slug == other.slug).values(default_for=kept))
        connection.execute(
            dashboards.update()
            .where(dashboards.c.slug == slug)
            .values(shared_roles=list(chosen), default_for=list(defaults), updated_ms=now_ms())
        )
    detail = {"change": "shared", "roles": list(chosen), "default_for": list(defaults)}
    audit.record(engine, viewer.username, audit.DASHBOARD_CHANGED, slug, detail, address)


def delete(engine: Engine, slug: str, viewer: Viewer, *, address: str | None = None) -> None:
    """Remove ``slug`` (the owner or an admin)."""
    with engine.begin() as connection:
        _editable(connection, slug, viewer)
        connection.execute(dashboards.delete().where(dashboards.c.slug == slug))
    audit.record(engine, viewer.username, audit.DASHBOARD_CHANGED, slug, {"change": "deleted"}, address)


def put_provisioned(
    engine: Engine, dashboard: Dashboard, origin: str, roles: Iterable[str], default: Iterable[str]
) -> str:
    """Create or update a provisioned dashboard from its file; returns 'created', 'updated' or 'unchanged'.

    A slug already used by a user's own dashboard is left alone (raises Conflict): a file never takes a
    person's dashboard over.
    """
    _not_reserved(dashboard.slug)
    definition, chosen, defaults = dashboard.model_dump(mode="json"), _roles(roles), _roles(default)
    chosen = tuple(sorted(set(chosen) | set(defaults)))
    values = {
        "title": dashboard.title,
        "definition": definition,
        "shared_roles": list(chosen),
        "default_for": list(defaults),
        "origin": origin,
        "updated_ms": now_ms(),
        "updated_by": PROVISIONING,
    }
    with engine.begin() as connection:
        row = connection.execute(sa.select(dashboards).where(dashboards.c.slug == dashboard.slug)).first()
        if row is None:
            connection.execute(dashboards.insert().values(slug=dashboard.slug, owner=PROVISIONING, version=1, **values))
            change = "created"
        elif row.origin == "user":
            raise Conflict(f"the slug {dashboard.slug!r} belongs to {row.owner}'s own dashboard")
        elif (row.definition, list(row.shared_roles), list(row.default_for), row.origin) == (
            definition,
            list(chosen),
            list(defaults),
            origin,
        ):
            return "unchanged"
        else:
            connection.execute(
                dashboards.update().where(dashboards.c.slug == dashboard.slug).values(version=row.version + 1, **values)
            )
            change = "updated"
    audit.record(engine, PROVISIONING, audit.DASHBOARD_CHANGED, dashboard.slug, {"change": change, "from": origin})
    return change


def put_builtin(
    engine: Engine, dashboard: Dashboard, viewer: Viewer, *, expected_version: int | None, address: str | None = None
) -> int:
    """Store an admin's version of a role page's built-in panels (core.dashboards.builtin); returns the version.

    ``expected_version`` is the version the editor started from (None: none stored yet); another
    admin's save in between raises :class:`Conflict`.
    """
    if not dashboard.slug.startswith(RESERVED):
        raise ValueError(f"{dashboard.slug!r} is not a built-in slug")
    if not _is_admin(viewer):
        raise Refused(f"{viewer.username} may not change built-in thresholds: admins only")
    definition = dashboard.model_dump(mode="json")
    with engine.begin() as connection:
        row = connection.execute(sa.select(dashboards.c.version).where(dashboards.c.slug == dashboard.slug)).first()
        found = None if row is None else row.version
        if found != expected_version:
            raise Conflict(
                f"the levels of {dashboard.slug!r} were changed by someone else since you opened them "
                f"(version {found}, you started from {expected_version}); reload and apply your change"
            )
        values = {"title": dashboard.title, "definition": definition, "updated_ms": now_ms()}
        if row is None:
            version = 1
            connection.execute(
                dashboards.insert().values(
                    slug=dashboard.slug,
                    owner=BUILTIN,
                    shared_roles=[],
                    default_for=[],
                    version=version,
                    origin=BUILTIN,
                    updated_by=viewer.username,
                    **values,
                )
            )
        else:
            version = row.version + 1
            connection.execute(
                dashboards.update()
                .where(dashboards.c.slug == dashboard.slug)
                .values(version=version, updated_by=viewer.username, **values)
            )
    levels = {p.widget.key: p.widget.thresholds.model_dump() for p in dashboard.widgets}
    detail = {"change": "thresholds", "version": version, "levels": levels}
    audit.record(engine, viewer.username, audit.DASHBOARD_CHANGED, dashboard.slug, detail, address)
    return version
