"""Who may do what: roles mapped to pages, actions and sensitive fields.

The page half of the map is core/pages.py (one catalogue drives the menu and the
checks); the action half is :data:`ROLE_PERMISSIONS`. Data functions take a
:class:`Viewer` and pass their frames through :func:`redact`, so a field a role may
not see never reaches its page, instead of being drawn and then hidden.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from core.auth.catalogue import PAGES, ROLES, PageSpec

ACTIONS = (
    "acknowledge_alerts",  # acknowledge or resolve any alert
    "acknowledge_quality_alerts",  # acknowledge or resolve alerts labelled component=quality (is_quality_alert)
    "edit_rules",  # alert rules, silences, mute timings and notification channels
    "edit_slas",
    "manage_quality_gates",
    "open_tickets",  # "Open an issue" for a failing test through the ticket webhook (core/alerts/tickets.py)
    "export_reports",
    "view_audit_log",
    "manage_users",
    "manage_tokens",
    "view_costs",  # cost_* fields
    "view_people",  # per-person figures: reviewer, author, assignee
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "executive": frozenset({"export_reports", "view_costs", "view_people"}),
    "operations": frozenset(
        {
            "acknowledge_alerts",
            "acknowledge_quality_alerts",
            "edit_rules",
            "edit_slas",
            "export_reports",
            "view_audit_log",
        }
    ),
    "developer": frozenset(),
    "qa_lead": frozenset(
        {"acknowledge_quality_alerts", "manage_quality_gates", "open_tickets", "export_reports", "view_people"}
    ),
    "admin": frozenset(ACTIONS),
}

# The rules in alert_rules.yaml mark the QA pipeline's alerts with this label.
QUALITY_LABEL = ("component", "quality")

# Columns removed for viewers without the permission: a column is sensitive when one of
# the underscore-separated words of its name is listed (cost_per_review, review_cost_usd,
# reviewer, reviewer_hours, per_person_throughput, ...).
SENSITIVE_WORDS: dict[str, frozenset[str]] = {
    "view_costs": frozenset({"cost", "costs", "spend", "budget_usd"}),
    "view_people": frozenset({"person", "people", "reviewer", "reviewers", "author", "assignee", "username"}),
}


@dataclass(frozen=True)
class Viewer:
    """The person looking at a page or calling a data function."""

    username: str
    roles: frozenset[str]
    display_name: str = ""
    must_change_password: bool = False

    @classmethod
    def of(
        cls, username: str, roles: Iterable[str], display_name: str = "", must_change_password: bool = False
    ) -> Viewer:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; expected some of {', '.join(ROLES)}")
        return cls(username, frozenset(roles), display_name or username, must_change_password)

    @property
    def permissions(self) -> frozenset[str]:
        """Every action any of the viewer's roles allows."""
        granted: set[str] = set()
        for role in self.roles:
            granted |= ROLE_PERMISSIONS.get(role, frozenset())
        return frozenset(granted)


SYSTEM = Viewer("system", frozenset({"admin"}), "Pulseboard")
"""The actor of Pulseboard's own changes (default rules loaded at start), never a person."""


class NotAllowed(PermissionError):
    """A viewer tried an action none of their roles allows; the message names both."""

    def __init__(self, viewer: Viewer | None, action: str, doing: str) -> None:
        who = (
            "nobody logged in"
            if viewer is None
            else f"{viewer.username} ({', '.join(sorted(viewer.roles)) or 'no role'})"
        )
        super().__init__(f"not allowed to {doing}: {who} lacks the permission {action!r}")
        self.action = action


def can(viewer: Viewer | None, action: str) -> bool:
    """True when ``viewer`` may perform ``action`` (one of :data:`ACTIONS`)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    return viewer is not None and action in viewer.permissions


def require(viewer: Viewer | None, action: str, doing: str) -> None:
    """Raise :class:`NotAllowed` unless ``viewer`` may perform ``action``; ``doing`` says what, for the message."""
    if not can(viewer, action):
        raise NotAllowed(viewer, action, doing)


def is_quality_alert(labels: Mapping[str, str]) -> bool:
    """True for an alert of the QA pipeline: its labels carry ``component=quality`` (as its rule sets them)."""
    key, value = QUALITY_LABEL
    return labels.get(key) == value


def may_handle_alert(viewer: Viewer | None, labels: Mapping[str, str]) -> bool:
    """True when ``viewer`` may acknowledge or resolve an alert with ``labels``."""
    return can(viewer, "acknowledge_alerts") or (can(viewer, "acknowledge_quality_alerts") and is_quality_alert(labels))


def may_open(viewer: Viewer | None, slug: str) -> bool:
    """True when ``viewer`` may open the page with URL slug ``slug``."""
    if viewer is None:
        return False
    return any(spec.slug == slug and viewer.roles & set(spec.roles) for spec in PAGES)


def pages_for_viewer(viewer: Viewer) -> list[PageSpec]:
    """The pages ``viewer`` may open, in menu order (union over their roles)."""
    return [spec for spec in PAGES if viewer.roles & set(spec.roles)]


def is_sensitive(column: str, permission: str) -> bool:
    """True when ``column`` is guarded by ``permission``."""
    words = SENSITIVE_WORDS.get(permission, frozenset())
    return bool(set(column.lower().split("_")) & words) or column.lower() in words


def redact(frame: pl.DataFrame, viewer: Viewer) -> pl.DataFrame:
    """``frame`` without the columns ``viewer`` may not see (cost and per-person figures)."""
    hidden = [
        column
        for column in frame.columns
        if any(is_sensitive(column, permission) and not can(viewer, permission) for permission in SENSITIVE_WORDS)
    ]
    return frame.drop(hidden) if hidden else frame


def redact_record(record: dict[str, object], viewer: Viewer) -> dict[str, object]:
    """``record`` without the keys ``viewer`` may not see."""
    return {
        key: value
        for key, value in record.items()
        if not any(is_sensitive(key, permission) and not can(viewer, permission) for permission in SENSITIVE_WORDS)
    }


def hidden_by(name: str, viewer: Viewer | None) -> str | None:
    """The permission ``viewer`` lacks to see a field, label or metric called ``name``; None when they may see it."""
    return next((p for p in SENSITIVE_WORDS if is_sensitive(name, p) and not can(viewer, p)), None)
