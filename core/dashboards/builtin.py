"""Role pages' panels as shipped dashboard definitions, with the warning/critical levels admins set on top.

The KPI cards and gauges of a role page (Executive, Overview, …) are declared once, in
``core/dashboards/defaults/<page>.json`` — ordinary dashboard documents, validated by the same
model as any saved or provisioned dashboard. The page keeps its layout in code and takes each
panel's config from here by id, so titles, units, help texts and levels are data, not literals.

An admin changes a page's levels on Dashboards → Built-in thresholds without touching code. The
change is stored as a new version of the dashboard ``builtin-<page>`` (origin ``builtin``, never
listed among people's dashboards) and audited; it applies to every viewer on their next rerun.
Only the levels are read back from the stored copy: a later release that adds, renames or
rewords panels keeps its own wording, and a panel the stored copy does not know keeps its
shipped levels. Resetting deletes the stored copy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from sqlalchemy.engine import Engine

from core.auth.access import Viewer
from core.dashboards import store
from core.dashboards.kinds import Thresholds, WidgetConfig
from core.dashboards.model import Dashboard, DashboardError, Panel, validate

DEFAULTS = Path(__file__).with_name("defaults")
PAGES = ("overview", "executive", "developer", "qa")
PREFIX = "builtin-"


def slug_of(page: str) -> str:
    """The stored dashboard that holds ``page``'s adjusted levels."""
    return PREFIX + page


@cache
def shipped(page: str) -> Dashboard:
    """``page``'s panels as the release ships them; KeyError for a page without built-in panels."""
    if page not in PAGES:
        raise KeyError(f"no built-in panels for {page!r}; pages with them: {', '.join(PAGES)}")
    return validate(json.loads((DEFAULTS / f"{page}.json").read_text(encoding="utf-8")))


def stored_levels(engine: Engine, page: str) -> tuple[dict[str, Thresholds], int | None]:
    """The levels admins set for ``page`` by panel id, and the stored version (None: never adjusted)."""
    saved = store.get(engine, slug_of(page))
    if saved is None:
        return {}, None
    return {panel.widget.key: panel.widget.thresholds for panel in saved.dashboard.widgets}, saved.version


def panels(engine: Engine, page: str) -> dict[str, WidgetConfig]:
    """``page``'s panel configs by id, each with the levels in force (an admin's, else the shipped ones)."""
    levels, _version = stored_levels(engine, page)
    out: dict[str, WidgetConfig] = {}
    for panel in shipped(page).widgets:
        config = panel.widget
        if config.key in levels:
            config = config.model_copy(update={"thresholds": levels[config.key]})
        out[config.key] = config
    return out


def _problem(index: int, levels: Thresholds) -> str | None:
    for name in ("warning", "critical"):
        value = getattr(levels, name)
        if value is not None and not math.isfinite(value):
            return f"widgets[{index}].config.thresholds.{name}: give a finite number"
    if levels.warning is not None and levels.critical is not None:
        if levels.higher_is_worse and levels.critical < levels.warning:
            return f"widgets[{index}].config.thresholds.critical: must be at or above warning (higher is worse)"
        if not levels.higher_is_worse and levels.critical > levels.warning:
            return f"widgets[{index}].config.thresholds.critical: must be at or below warning (lower is worse)"
    return None


def adjusted(page: str, levels: Mapping[str, Thresholds]) -> Dashboard:
    """The shipped definition of ``page`` with ``levels`` (by panel id) in place; DashboardError names a bad one."""
    base = shipped(page)
    ids = [panel.widget.key for panel in base.widgets]
    problems = [(f"thresholds.{key}", f"{page} has no panel {key!r}") for key in levels if key not in ids]
    widgets: list[Panel] = []
    for index, panel in enumerate(base.widgets):
        config = panel.widget
        if config.key in levels:
            new = levels[config.key]
            if new.higher_is_worse != config.thresholds.higher_is_worse:
                problems.append((f"widgets[{index}].config.thresholds.higher_is_worse", "is fixed by the panel"))
            elif wrong := _problem(index, new):
                field, message = wrong.split(": ", 1)
                problems.append((field, message))
            config = config.model_copy(update={"thresholds": new})
        widgets.append(panel.model_copy(update={"config": config}))
    if problems:
        raise DashboardError(problems)
    return validate(base.model_copy(update={"widgets": widgets}).model_dump(mode="json"))


def adjust(
    engine: Engine,
    page: str,
    levels: Mapping[str, Thresholds],
    viewer: Viewer,
    *,
    expected_version: int | None,
    address: str | None = None,
) -> int:
    """Store ``levels`` (by panel id; panels left out keep what they had) for ``page``; returns the new version.

    Admins only (store.Refused otherwise). ``expected_version`` is the stored version the editor
    started from (None when never adjusted): another admin's save in between raises store.Conflict.
    """
    ids = {panel.widget.key for panel in shipped(page).widgets}
    current = {key: kept for key, kept in stored_levels(engine, page)[0].items() if key in ids}
    return store.put_builtin(
        engine, adjusted(page, {**current, **levels}), viewer, expected_version=expected_version, address=address
    )


def reset(engine: Engine, page: str, viewer: Viewer, *, address: str | None = None) -> None:
    """Back to the shipped levels for ``page`` (admins only; audited)."""
    shipped(page)
    if store.get(engine, slug_of(page)) is not None:
        store.delete(engine, slug_of(page), viewer, address=address)
