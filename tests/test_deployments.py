"""Deployments from a real temporary git repository and from system.deployment events."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from collectors.deployments import DeploymentCollector, git_deployments
from core.ingest import ingest
from core.model import Batch, Event, now_ms
from core.store import schema


def git(repo: Path, *args: str, when: int = 1_700_000_000) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_DATE": f"@{when} +0000",
        "GIT_COMMITTER_DATE": f"@{when} +0000",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    }
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    for n in range(4):
        (path / "f.txt").write_text(str(n))
        git(path, "add", "f.txt")
        git(path, "commit", "-q", "-m", f"change {n}", when=1_700_000_000 + n * 3600)
        if n == 1:
            git(path, "tag", "-a", "v1.0.0", "-m", "release", when=1_700_000_000 + n * 3600)
    return path


def rows(engine: Engine) -> list[tuple[str, str, str]]:
    table = schema.deployments
    with engine.connect() as connection:
        result = connection.execute(
            sa.select(table.c.component, table.c.version, table.c.source).order_by(table.c.ts, table.c.id)
        )
        return [tuple(r) for r in result]  # type: ignore[misc]


def test_versions_follow_tags_like_git_describe(repo: Path) -> None:
    found = git_deployments(repo, "api")
    assert [d.version[:12] for d in found][:2] == [found[0].commit[:12], "v1.0.0"]  # type: ignore[index]
    assert found[2].version.startswith("v1.0.0+1.g") and found[3].version.startswith("v1.0.0+2.g")
    assert [d.ts for d in found] == [1_700_000_000_000 + n * 3_600_000 for n in range(4)]
    assert [d.version for d in git_deployments(repo, "api", tags_only=True)] == ["v1.0.0"]


def test_collector_records_git_and_event_deployments_once(engine: Engine, repo: Path) -> None:
    collector = DeploymentCollector(engine, repo, "api")
    event = Event(
        "dep-1",
        "system.deployment",
        now_ms() - 1000,
        "ci",
        {"component": "decision-engine", "version": "2.4.1", "commit": "9f1c2ab"},
    )
    ingest(engine, Batch(events=(event,)), origin="test")
    collector.collect()
    collector.collect()
    found = rows(engine)
    assert len(found) == 5
    assert found[-1] == ("decision-engine", "2.4.1", "ci")
    assert sum(1 for r in found if r[2] == "git") == 4
    (repo / "f.txt").write_text("new")
    git(repo, "commit", "-qam", "later", when=1_700_100_000)
    git(repo, "tag", "v1.1.0", when=1_700_100_000)
    collector.collect()
    assert rows(engine)[-2][1] == "v1.1.0"


def test_missing_repository_is_logged_not_raised(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    DeploymentCollector(engine, tmp_path / "nope", "api").collect()
    assert "cannot read git history" in caplog.text
