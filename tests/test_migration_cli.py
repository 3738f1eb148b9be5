"""``python -m core.cli stats show|summary|report`` run as a user runs it: a subprocess against a real SQLite store.

Exit codes, the JSON's shape, the HTML report's self-containment, and one-line errors for no store, an empty
store, a bad range and a broken plan.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Event, Sample, now_ms
from core.store import make_engine, upgrade
from core.store.rollup import run_rollup

HOUR, DAY = 3_600_000, 86_400_000


def stats(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEBOARD_")}
    env |= {"PULSEBOARD_DATABASE_URL": url, "PULSEBOARD_DATA_DIR": str(cwd), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "stats", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A store with a migration: two phases, a component, an open issue, batches, a rollback, old/new timings."""
    tmp = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{tmp / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    now = now_ms()
    iso = lambda ms: __import__("datetime").datetime.fromtimestamp(ms / 1000, __import__("datetime").UTC).isoformat()  # noqa: E731
    planned = {"planned_start": iso(now - 20 * DAY), "planned_end": iso(now + 20 * DAY)}
    events = [
        Event("p1", "migration.phase_started", now - 20 * DAY, "tool", {"phase_id": "load", "name": "Load"} | planned),
        Event(
            "p2",
            "migration.phase_progress",
            now - HOUR,
            "tool",
            {"phase_id": "load", "progress": 50, "status": "in_progress"} | planned,
        ),
        Event(
            "c1",
            "migration.component_status",
            now - HOUR,
            "tool",
            {
                "component": "storage",
                "migration_progress": 40,
                "old_health": "healthy",
                "new_health": "degraded",
                "tests_passed": 30,
                "tests_total": 40,
            },
        ),
        Event(
            "i1",
            "migration.issue_detected",
            now - 3 * HOUR,
            "tool",
            {"issue_id": "I-1", "severity": "warning", "component": "storage", "title": "slow <b>writes</b>"},
        ),
        Event(
            "r1",
            "migration.rollback",
            now - 2 * HOUR,
            "tool",
            {"batch_id": "B-2", "dataset": "orders", "reason": "bad rows"},
        ),
    ]
    events += [
        Event(
            f"b{n}",
            "migration.batch_completed",
            now - n * 600_000,
            "tool",
            {"batch_id": f"B-{n}", "dataset": "orders", "records": 100, "succeeded": 99, "failed": 1, "duration_s": 60},
        )
        for n in range(1, 13)
    ]
    events += [
        Event(
            f"t{n}{side}",
            "migration.operation_timed",
            now - n * 300_000,
            "tool",
            {"operation": "register", "system": side, "duration_s": value},
        )
        for n in range(1, 9)
        for side, value in (("old", 2.0 + n / 100), ("new", 1.5 + n / 100))
    ]
    samples = [
        Sample.of("migration_response_time_seconds", {"system": s}, v, now - n * 60_000)
        for n in range(1, 30)
        for s, v in (("old", 0.3), ("new", 0.2 + n / 1000))
    ]
    ingest(engine, Batch(tuple(samples), tuple(events)), origin="test")
    run_rollup(engine, now)  # the server's rollup job: a day's range reads the series from the 1-minute tier
    engine.dispose()
    return url, tmp


def test_summary_json_has_the_headline_figures(store):
    url, tmp = store
    done = stats("summary", "--json", "--range", "24h", "--plan", "none", url=url, cwd=tmp)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert {
        "health",
        "findings",
        "progress_percent",
        "estimated_completion",
        "success_rate_percent",
        "rollbacks",
        "blockers",
        "open_issues",
        "performance",
        "phases",
        "test_suites",
    } <= set(summary)
    assert summary["health"] == "at risk"  # the rollback
    assert summary["success_rate_percent"] == 99.0 and summary["batches"] == 12 and summary["rollbacks"] == 1
    assert summary["progress_percent"] == 50.0 and summary["phases"][0]["id"] == "load"
    assert summary["open_issues"]["warning"] == 1
    # the estimated completion's 80 % interval (tests/test_migration_pace.py): one progress report is no pace yet
    assert summary["estimated_completion_low"] is None and summary["estimated_completion_high"] is None
    assert "No interval yet" in summary["estimated_completion_interval"]
    operations = {p["operation"]: p for p in summary["performance"]}
    assert operations["register"]["verdict"] == "improved" and operations["register"]["old_n"] == 8
    assert "response time" in operations  # the series tagged system=old|new


def test_summary_prints_aligned_tables(store):
    url, tmp = store
    done = stats("summary", "--range", "24h", "--plan", "none", url=url, cwd=tmp)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].startswith("health") and "AT RISK" in lines[2]
    header = next(line for line in lines if line.startswith("operation"))
    rule = lines[lines.index(header) + 1]
    assert set(rule.replace(" ", "")) == {"-"}  # a rule under every column
    assert "register" in done.stdout and "improved" in done.stdout
    interval = next(line for line in lines if line.startswith("80 % interval"))
    assert "No interval yet" in interval  # beside the estimated end, saying why there is none


def test_show_lists_recent_operations_newest_first(store):
    url, tmp = store
    done = stats("show", "--limit", "3", "--plan", "none", url=url, cwd=tmp)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    assert rows[0].split() == ["time", "type", "subject", "detail"] and len(rows) == 2 + 3
    as_json = stats("show", "--json", "--type", "rollback", "--plan", "none", url=url, cwd=tmp)
    assert as_json.returncode == 0, as_json.stderr
    [rollback] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert rollback["type"] == "rollback" and rollback["subject"] == "B-2" and "bad rows" in rollback["detail"]


def test_report_is_one_self_contained_html_file(store):
    url, tmp = store
    out = tmp / "report.html"
    done = stats("report", "--out", str(out), "--range", "24h", url=url, cwd=tmp)  # with the shipped plan
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "</html>" in html
    assert not re.search(r"https?://", html), "the report must not reference anything outside itself"
    assert not re.search(r"<(script|link|img|iframe)\b", html, re.IGNORECASE)
    assert not re.search(r"\b(src|href)\s*=", html, re.IGNORECASE)
    assert "slow &lt;b&gt;writes&lt;/b&gt;" in html  # event text is escaped, never markup
    assert "MDM refactoring" in html  # the plan's name


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("summary", "--range", "2w"), 2, "bad --range '2w'"),
        (("summary", "--from", "2025-03-10", "--to", "2025-03-01"), 2, "is after --to"),
        (("summary", "--from", "2025-03-10"), 2, "give both --from and --to"),
        (("summary", "--from", "soon", "--to", "later"), 2, "bad date"),
        (("show", "--limit", "0"), 2, "--limit must be at least 1"),
        (("summary", "--range", "1h", "--plan", "none", "--from", "2020-01-01", "--to", "2020-01-02"), 2, "not both"),
        (("summary", "--from", "2020-01-01", "--to", "2020-01-02", "--plan", "none"), 1, "no migration data between"),
    ],
)
def test_bad_arguments_are_one_line_and_a_non_zero_exit(store, args, code, message):
    url, tmp = store
    done = stats(*args, url=url, cwd=tmp)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and message in done.stderr and done.stdout == ""


def test_no_store_is_exit_3_and_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere" / "pulseboard.db"
    done = stats("summary", url=f"sqlite:///{missing}", cwd=tmp_path)
    assert done.returncode == 3 and done.stderr.count("\n") == 1 and "no store at" in done.stderr
    assert not missing.parent.exists()
    not_ours = tmp_path / "other.db"
    not_ours.write_bytes(b"")
    done = stats("summary", url=f"sqlite:///{not_ours}", cwd=tmp_path)
    assert done.returncode == 3 and "not a Pulseboard store" in done.stderr


def test_an_empty_store_is_exit_1(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    upgrade(make_engine(url))
    for action in ("summary", "show"):
        done = stats(action, url=url, cwd=tmp_path)
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and "no migration data yet" in done.stderr


def test_a_broken_plan_is_exit_2_naming_file_and_line(store):
    url, tmp = store
    plan = tmp / "broken.yaml"
    plan.write_text("phases:\n  - id: a\n    start_week: 0\n    end_week: 2\n    owner: me\n")
    done = stats("summary", "--plan", str(plan), url=url, cwd=tmp)
    assert done.returncode == 2
    unknown = "unknown field (see docs/migration.md for the fields a plan may have)"
    assert done.stderr.strip() == f"stats: plan: {plan}, line 5: phases[0].owner: {unknown}"


def console_script() -> Path:
    """``pulseboard-stats`` in the virtual environment running the tests (make installs the project editable)."""
    script = Path(sys.executable).parent / "pulseboard-stats"
    assert script.is_file(), f"{script} missing: `make test` installs the project (pip install --no-deps -e .)"
    return script


def test_the_console_script_is_declared_for_the_stats_command():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["pulseboard-stats"] == "core.cli.console:stats"


def test_the_console_script_runs_the_stats_command_from_anywhere(store):
    """``.venv/bin/pulseboard-stats`` from a folder outside the project and without PYTHONPATH: the same JSON as
    ``python -m core.cli stats summary --json``, and the same one-line errors and exit codes."""
    url, tmp = store
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEBOARD_") and k != "PYTHONPATH"}
    env |= {"PULSEBOARD_DATABASE_URL": url, "PULSEBOARD_DATA_DIR": str(tmp)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(console_script()), *args], cwd=tmp, env=env, capture_output=True, text=True, timeout=120
        )

    direct, module = run("summary", "--json"), stats("summary", "--json", url=url, cwd=tmp)
    assert direct.returncode == 0, direct.stderr
    ours, theirs = json.loads(direct.stdout), json.loads(module.stdout)
    assert ours.pop("range")["start"][:13] == theirs.pop("range")["start"][:13]  # seconds apart
    assert ours == theirs and ours["health"] in ("healthy", "at risk", "critical")
    bad = run("summary", "--range", "2w")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "bad --range '2w'" in bad.stderr
    usage = run("--help")
    assert usage.returncode == 0 and usage.stdout.startswith("usage: pulseboard-stats [-h] {show,summary,report}")
    wrong = run("show", "--limit", "many")
    assert wrong.returncode == 2 and "usage: pulseboard-stats show" in wrong.stderr
    missing = run("show", "--database-url", f"sqlite:///{tmp / 'absent.db'}")
    assert missing.returncode == 3 and "no store at" in missing.stderr and not (tmp / "absent.db").exists()
