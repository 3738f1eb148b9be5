"""Deployments for the deployment-impact views, from git history and from events.

Two sources feed the ``deployments`` table. A configured git repository: each
first-parent commit of HEAD is one deployment (trunk-based deploy-on-merge), or only
tagged commits when ``tags_only``; the version is the tag on the commit, else
``<last tag>+<n>.g<sha7>`` like ``git describe``, else the short sha; the time is the
committer date. And ``system.deployment`` events (data: component, version, commit),
so deployments posted through the events API or written by the demo appear too; a
row from an event keeps the event's id and source. Rows are upserted, so re-reading
is harmless and a tag added later updates the version.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from core.config import Settings
from core.model import Batch
from core.store import schema
from core.store.collector_state import get_state, put_state

log = logging.getLogger(__name__)

NAME = "deployments"
SEP = "\x1f"
Runner = Callable[[Sequence[str]], str]


@dataclass(frozen=True)
class Deployment:
    """One row of the deployments table."""

    id: str
    component: str
    version: str
    commit: str | None
    ts: int
    source: str


def run_git(args: Sequence[str]) -> str:
    """Run git with a fixed argument list (never a shell) and return its stdout."""
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True, timeout=30).stdout


def git_deployments(
    repo: Path, component: str, *, tags_only: bool = False, max_commits: int = 500, git: Runner = run_git
) -> list[Deployment]:
    """Deployments read from ``repo``'s first-parent history, oldest first."""
    base = ["-C", str(repo)]
    tags: dict[str, str] = {}
    refs = git(
        [
            *base,
            "for-each-ref",
            "refs/tags",
            "--sort=creatordate",
            f"--format=%(objectname){SEP}%(*objectname){SEP}%(refname:short)",
        ]
    )
    for row in refs.splitlines():
        obj, peeled, name = [*row.split(SEP), "", "", ""][:3]
        tags[peeled or obj] = name  # an annotated tag points at a tag object; *objectname is its commit
    history = git([*base, "log", "--first-parent", f"-n{max_commits}", f"--format=%H{SEP}%ct"])
    commits = [line.split(SEP) for line in reversed(history.splitlines()) if SEP in line]
    found, last_tag, since_tag = [], None, 0
    for sha, stamp in commits:
        tag = tags.get(sha)
        if tag:
            last_tag, since_tag, version = tag, 0, tag
        else:
            since_tag += 1
            version = f"{last_tag}+{since_tag}.g{sha[:7]}" if last_tag else sha[:12]
        if tag or not tags_only:
            found.append(
                Deployment(f"git:{component}:{sha}"[:128], component, version[:128], sha[:64], int(stamp) * 1000, "git")
            )
    return found


def event_deployments(connection: Connection, since_received_ms: int) -> tuple[list[Deployment], int]:
    """Deployments from ``system.deployment`` events received since a watermark, and the new watermark."""
    table = schema.events
    rows = connection.execute(
        sa.select(table.c.id, table.c.ts, table.c.source, table.c.data, table.c.received_ms)
        .where(table.c.type == "system.deployment", table.c.received_ms >= since_received_ms)
        .order_by(table.c.received_ms)
    ).all()
    found, watermark = [], since_received_ms
    for event_id, ts, source, data, received in rows:
        data = data if isinstance(data, dict) else {}
        commit = data.get("commit")
        found.append(
            Deployment(
                event_id,
                str(data.get("component") or data.get("service") or "unknown")[:128],
                str(data.get("version") or "unknown")[:128],
                str(commit)[:64] if commit else None,
                int(ts),
                str(source)[:128],
            )
        )
        watermark = max(watermark, int(received))
    return found, watermark


def upsert_deployments(connection: Connection, rows: Sequence[Deployment]) -> None:
    """Insert or refresh deployment rows by id."""
    if not rows:
        return
    table = schema.deployments
    values: list[dict[str, Any]] = [r.__dict__ for r in {r.id: r for r in rows}.values()]
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)  # type: ignore[assignment]
    update = {c: getattr(statement.excluded, c) for c in ("component", "version", "commit", "ts", "source")}
    for start in range(0, len(values), 500):
        connection.execute(
            statement.on_conflict_do_update(index_elements=["id"], set_=update), values[start : start + 500]
        )


class DeploymentCollector:
    """Keeps ``deployments`` current from a git repository and from deployment events."""

    name = NAME

    def __init__(
        self,
        engine: Engine,
        repo: Path | None,
        component: str,
        *,
        tags_only: bool = False,
        interval: float = 60.0,
        git: Runner = run_git,
    ) -> None:
        self.engine, self.repo, self.component = engine, repo, component
        self.tags_only, self.interval, self.git = tags_only, interval, git

    def collect(self) -> Batch:
        """Record new deployments; rows go straight to the table, so the batch is empty."""
        rows: list[Deployment] = []
        if self.repo is not None:
            try:
                rows = git_deployments(self.repo, self.component, tags_only=self.tags_only, git=self.git)
            except (OSError, subprocess.SubprocessError) as error:
                detail = getattr(error, "stderr", "") or error
                log.warning(
                    "cannot read git history of %s (set PULSEBOARD_DEPLOYMENTS_REPO to a git checkout): %s",
                    self.repo,
                    detail,
                )
        state = get_state(self.engine, NAME, "events") or {}
        with self.engine.begin() as connection:
            from_events, watermark = event_deployments(connection, int(state.get("received_ms", 0)))
            upsert_deployments(connection, rows + from_events)
            put_state(connection, NAME, "events", {"received_ms": watermark})
        return Batch()


def build(settings: Settings, engine: Engine | None) -> list[DeploymentCollector]:
    """Registry factory, configured by the deployments_* settings (needs the store)."""
    if engine is None:
        return []
    return [
        DeploymentCollector(
            engine,
            settings.deployments_repo,
            settings.deployments_component,
            tags_only=settings.deployments_tags_only,
            interval=settings.deployments_interval_s,
        )
    ]
