"""Correlation: firing alerts of related components close in time form one group with a probable root cause.

Two firing alerts are related when they fired within the correlation window of each
other and their ``component`` labels are equal or connected in the dependency map
(``{"api": ["database"], "workflow": ["api"]}``: the API depends on the database, the
workflow on the API). Groups are the connected sets of that relation. The root cause
of a group is the alert of its most upstream component (one that depends on no other
component in the group), the earliest such alert if there are several. Alerts
without a component are groups of their own. One notification goes out per group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Fired:
    """A firing alert as correlation sees it."""

    fingerprint: str
    component: str
    fired_at: int


@dataclass(frozen=True)
class Group:
    """One correlated group: its key, root cause and members (earliest first)."""

    key: str
    root: str
    members: tuple[str, ...]
    components: tuple[str, ...]


def upstream_of(dependencies: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """Every component → all components it depends on, directly or through others."""
    closure: dict[str, set[str]] = {}

    def walk(component: str, seen: set[str]) -> set[str]:
        if component in closure:
            return closure[component]
        found: set[str] = set()
        for dep in dependencies.get(component, ()):
            if dep not in seen:
                found |= {dep} | walk(dep, seen | {dep})
        closure[component] = found
        return found

    for component in list(dependencies):
        walk(component, {component})
    return closure


def correlate(alerts: Iterable[Fired], window_ms: int, dependencies: Mapping[str, Iterable[str]]) -> list[Group]:
    """Group firing alerts as the module docstring says; groups ordered by their first alert."""
    ordered = sorted(alerts, key=lambda a: (a.fired_at, a.fingerprint))
    upstream = upstream_of(dependencies)
    parent = {a.fingerprint: a.fingerprint for a in ordered}

    def find(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def related(a: Fired, b: Fired) -> bool:
        if not a.component or not b.component:
            return False
        return (
            a.component == b.component
            or b.component in upstream.get(a.component, ())
            or a.component in upstream.get(b.component, ())
        )

    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            if second.fired_at - first.fired_at > window_ms:
                break
            if related(first, second):
                parent[find(second.fingerprint)] = find(first.fingerprint)
    members: dict[str, list[Fired]] = {}
    for alert in ordered:
        members.setdefault(find(alert.fingerprint), []).append(alert)
    groups = []
    for found in members.values():
        components = {a.component for a in found}
        roots = [a for a in found if not (upstream.get(a.component, set()) & (components - {a.component}))] or found
        root = roots[0]
        groups.append(
            Group(
                f"grp-{root.fingerprint[:12]}",
                root.fingerprint,
                tuple(a.fingerprint for a in found),
                tuple(sorted(c for c in components if c)),
            )
        )
    return groups
