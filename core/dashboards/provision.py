"""Dashboards as code: every ``*.json`` file in a folder loaded into the store at start (like Grafana provisioning).

A file is a dashboard document (core.dashboards.model, any supported schema_version) with an
optional ``"share": {"roles": [...], "default_for": [...]}``; without it the dashboard is
shared with every role. A file that is not JSON, fails validation, names an unknown role,
repeats another file's slug or takes a user's slug is reported as (file, field, message)
and skipped — never fatal: the other files load and the server starts. Loading twice is a
no-op for unchanged files; a changed file becomes a new version (audited as ``provisioning``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from core.auth.catalogue import ROLES
from core.dashboards import store
from core.dashboards.model import Dashboard, DashboardError, validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """Why one file was skipped: the file, the field path in it ('' for the whole file) and the reason."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field + ': ' if self.field else ''}{self.message}"


@dataclass(frozen=True)
class Provisioned:
    """A file that validated: its dashboard and sharing."""

    file: str
    dashboard: Dashboard
    roles: tuple[str, ...]
    default_for: tuple[str, ...]


@dataclass
class Report:
    """What one provisioning run did: slugs per change ('created', 'updated', 'unchanged') and the problems."""

    changes: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _share(name: str, document: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    share = document.pop("share", {"roles": list(ROLES)})
    if not isinstance(share, dict) or set(share) - {"roles", "default_for"}:
        raise DashboardError([("share", 'an object with "roles" and "default_for" lists')])
    out: list[tuple[str, ...]] = []
    for key in ("roles", "default_for"):
        roles = share.get(key, [])
        if not isinstance(roles, list) or any(r not in ROLES for r in roles):
            raise DashboardError([(f"share.{key}", f"a list of roles from {', '.join(ROLES)}; got {roles!r}")])
        out.append(tuple(roles))
    return out[0], out[1]


def read_file(path: Path) -> Provisioned:
    """One provisioning file validated (no store involved); raises DashboardError naming the field."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DashboardError([("", "not UTF-8 text")]) from None
    except json.JSONDecodeError as error:
        raise DashboardError([("", f"not JSON: {error.msg} at line {error.lineno}, column {error.colno}")]) from None
    if not isinstance(document, dict):
        raise DashboardError([("", "a dashboard file holds one JSON object")])
    roles, defaults = _share(path.name, document)
    return Provisioned(path.name, validate(document), roles, defaults)


def read_folder(folder: Path) -> tuple[list[Provisioned], list[Problem]]:
    """Every valid file of ``folder`` (sorted by name) and a problem per invalid one; a missing folder is empty."""
    if not folder.is_dir():
        return [], []
    good: list[Provisioned] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            item = read_file(path)
        except DashboardError as error:
            problems.extend(Problem(path.name, where, message) for where, message in error.problems)
            continue
        except OSError as error:
            problems.append(Problem(path.name, "", f"cannot be read: {error.strerror or error}"))
            continue
        if item.dashboard.slug in seen:
            problems.append(
                Problem(path.name, "slug", f"{item.dashboard.slug!r} is also {seen[item.dashboard.slug]}'s")
            )
            continue
        seen[item.dashboard.slug] = path.name
        good.append(item)
    return good, problems


def provision(engine: Engine, folder: Path) -> Report:
    """Load ``folder`` into the store; every problem is logged and returned, none raised."""
    report = Report()
    good, report.problems = read_folder(folder)
    for item in good:
        try:
            report.changes[item.dashboard.slug] = store.put_provisioned(
                engine, item.dashboard, f"file:{item.file}", item.roles, item.default_for
            )
        except Exception as error:  # noqa: BLE001  (a store error on one file must not stop the start)
            report.problems.append(Problem(item.file, "slug", str(error)))
    for problem in report.problems:
        log.warning("dashboard provisioning skipped %s", problem)
    if report.changes:
        log.info("dashboards provisioned from %s: %s", folder, report.changes)
    return report
