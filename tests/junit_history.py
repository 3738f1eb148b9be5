"""Crafted JUnit run histories for the test-results tests: outcome strings written as pytest-style XML.

Each history maps a test name to its outcome in runs 1..n (P passed, F failed, E error, S skipped).
The runs go through the real parser and store (core.ingest.junit), like a report pushed to the API.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from core.ingest.junit import parse_junit, store_test_run

HOUR = 3_600_000
CLASSNAME = "tests.test_shop.TestCart"

HISTORY = {
    "test_steady": "PPPPPPPP",
    "test_alternating": "PFPFPFPF",
    "test_twice_broken": "PPFFPPFF",
    "test_broke_once": "PPPPPFFF",
    "test_fixed": "FFPPPPPP",
    "test_with_skips": "PPFSPFSF",
    "test_erroring": "PPPPPPEE",
}
# durations (s) in runs 1..8: a real regression, a relative jump under the ms floor, a rise under the factor
DURATIONS = {
    "test_steady": [0.5, 0.52, 0.48, 0.5, 0.51, 0.49, 0.5, 1.6],
    "test_fixed": [0.002, 0.002, 0.002, 0.002, 0.002, 0.002, 0.002, 0.010],
    "test_broke_once": [1.0, 1.0, 1.1, 0.9, 1.0, 1.0, 1.0, 1.9],
}


def run_xml(run: int, t0: int, history: dict[str, str] = HISTORY) -> bytes:
    """Run ``run`` (0-based, at ``t0`` + run hours) of ``history`` as a pytest-style JUnit report."""
    stamp = datetime.fromtimestamp((t0 + run * HOUR) / 1000, UTC).isoformat()
    cases = []
    for name, outcomes in history.items():
        seconds = DURATIONS.get(name, [0.1] * len(outcomes))[run]
        child = {
            "P": "",
            "F": f'<failure message="AssertionError: {name} run {run + 1}">trace line 1\ntrace line 2</failure>',
            "E": '<error message="ConnectionError: db down">Traceback: db down</error>',
            "S": '<skipped message="not today"/>',
        }[outcomes[run]]
        cases.append(f'<testcase classname="{CLASSNAME}" name="{name}" time="{seconds}">{child}</testcase>')
    return (f'<testsuite name="shop" timestamp="{stamp}">' + "".join(cases) + "</testsuite>").encode()


def store_history(
    engine: Engine,
    t0: int,
    history: dict[str, str] = HISTORY,
    suite: str = "shop",
    commits: str | None = None,
) -> None:
    """Store every run of ``history`` as suite ``suite``, run n at ``t0`` + n hours; ``commits`` has one letter per
    run, the commit it tested (None: runs pushed without a commit)."""
    for run in range(len(next(iter(history.values())))):
        labels = {"suite": suite, "run_key": f"{suite}-{run}"}
        if commits:
            labels["commit"] = commits[run]
        store_test_run(engine, parse_junit(run_xml(run, t0, history)), labels)
