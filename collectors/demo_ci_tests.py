"""Demo CI test runs: a pytest suite of the QMS API run every four hours, with a story to tell.

So the QA page's "Test results" section has something to show under ``make run``: two flaky
tests (one times out now and then, one depends on the wall clock), one test failing for the last
20 hours that had also failed for a while nine days earlier (its streak and its first failure
differ), one integration test erroring since the newest commit, one report test about four
times slower for the newest one or two commits, and one test always skipped. Times are relative to the demo's
anchor (its first start), so the story is the same in every fresh store; runs are deterministic
in the seed and the run's slot, and stored with ``source = "demo"`` like the rest of the demo.
Each commit is tested by two consecutive runs, so a flaky test can pass and fail on one commit;
the scripted breakages and the slow-down start with a commit (both of its runs agree), as real
ones do.
"""

from __future__ import annotations

from dataclasses import dataclass

from collectors.demo_workflow import DAY, HOUR, MIN, rng
from core.ingest.demo_data import DEMO_SOURCE
from core.ingest.junit import TestCase, TestRun

SUITE = "qms-api (pytest)"
EVERY = 4 * HOUR
OFFSET = 30 * MIN  # runs at 00:30, 04:30, ... UTC


@dataclass(frozen=True)
class DemoTest:
    classname: str
    name: str
    seconds: float
    flaky: float = 0.0  # chance of failing in any run
    message: str = ""  # first line of the failure
    trace: str = ""


ROUTING_TRACE = """tests/engine/test_decisions.py:88: in test_routes_to_senior_reviewer
    assert route(workflow).reviewer_level == "senior"
E   AssertionError: assert 'junior' == 'senior'
E     - senior
E     + junior"""
TESTS = (
    DemoTest("tests.api.test_workflows.TestCreate", "test_create_workflow", 0.12),
    DemoTest("tests.api.test_workflows.TestCreate", "test_create_rejects_empty_title", 0.05),
    DemoTest("tests.api.test_workflows.TestList", "test_list_paginates", 0.31),
    DemoTest("tests.api.test_workflows.TestList", "test_list_filters_by_status", 0.22),
    DemoTest("tests.api.test_agents", "test_agent_heartbeat", 0.08),
    DemoTest(
        "tests.api.test_agents",
        "test_agent_reassignment_on_timeout",
        1.9,
        flaky=0.3,
        message="TimeoutError: agent a-3 still busy after 2.0 s",
        trace="""tests/api/test_agents.py:141: in test_agent_reassignment_on_timeout
    await wait_for(lambda: pool.free("a-3"), timeout=2.0)
src/qms/testing.py:22: in wait_for
    raise TimeoutError(f"{what} still busy after {timeout} s")
E   TimeoutError: agent a-3 still busy after 2.0 s""",
    ),
    DemoTest("tests.api.test_reports", "test_pdf_report_renders", 2.4),
    DemoTest("tests.api.test_reports", "test_csv_export_escapes_formulas", 0.09),
    DemoTest(
        "tests.engine.test_decisions.TestRouting",
        "test_routes_to_senior_reviewer",
        0.15,
        message="AssertionError: assert 'junior' == 'senior'",
        trace=ROUTING_TRACE,
    ),
    DemoTest(
        "tests.engine.test_decisions.TestRouting",
        "test_routing_respects_quiet_hours",
        0.11,
        flaky=0.2,
        message="AssertionError: expected no routing between 22:00 and 06:00, got 1 assignment",
        trace="""tests/engine/test_decisions.py:120: in test_routing_respects_quiet_hours
    assert assignments(at=datetime.now()) == []
E   AssertionError: expected no routing between 22:00 and 06:00, got 1 assignment""",
    ),
    DemoTest("tests.engine.test_sla", "test_breach_notifies_once", 0.4),
    DemoTest("tests.engine.test_sla", "test_escalation_after_grace[eu]", 0.35),
    DemoTest("tests.engine.test_sla", "test_escalation_after_grace[us]", 0.36),
    DemoTest(
        "tests.integration.test_db",
        "test_migrations_round_trip",
        6.5,
        message="psycopg.OperationalError: connection to server at 10.0.4.12, port 5432 failed: Connection refused",
        trace="""tests/integration/conftest.py:31: in database
    engine = create_engine(os.environ["QMS_TEST_DB"])
E   psycopg.OperationalError: connection to server at 10.0.4.12, port 5432 failed: Connection refused""",
    ),
    DemoTest("tests.integration.test_db", "test_pool_recovers_after_restart", 3.1),
)
NEWLY_FAILING = "test_routes_to_senior_reviewer"
FAILING_SINCE = 20 * HOUR  # before the anchor
FAILED_BEFORE = (9 * DAY, 8 * DAY + 12 * HOUR)  # an earlier failing spell, before the anchor: (from, to)
ERRORING = "test_migrations_round_trip"
ERRORING_SINCE = 8 * HOUR  # a commit starts every 8 h, so the newest commit before the anchor has it
SLOWER = "test_pdf_report_renders"
SLOWER_SINCE = 16 * HOUR  # the newest one or two commits
SLOWER_BY = 4.5
SKIPPED = "test_pool_recovers_after_restart"


def _status(test: DemoTest, ts: int, anchor: int, roll: float) -> str:
    """The outcome of ``test`` on the commit first run at ``ts``; ``roll`` (0–1) decides a flaky test's fate."""
    if test.name == SKIPPED:
        return "skipped"
    if test.name == ERRORING and ts >= anchor - ERRORING_SINCE:
        return "error"
    if test.name == NEWLY_FAILING and (
        ts >= anchor - FAILING_SINCE or anchor - FAILED_BEFORE[0] <= ts < anchor - FAILED_BEFORE[1]
    ):
        return "failed"
    return "failed" if roll < test.flaky else "passed"


def ci_run(seed: int, slot: int, anchor: int) -> tuple[TestRun, dict[str, str]]:
    """The run of slot ``slot`` (its start is ``slot * EVERY + OFFSET``) and the labels it is stored with."""
    ts = slot * EVERY + OFFSET
    pushed = (slot // 2 * 2) * EVERY + OFFSET  # the first run of this run's commit: changes arrive with a commit
    r = rng(seed, "ci-tests", slot)
    cases = []
    for test in TESTS:
        status = _status(test, pushed, anchor, r.random())
        seconds = (
            test.seconds
            * r.uniform(0.85, 1.15)
            * (SLOWER_BY if test.name == SLOWER and pushed >= anchor - SLOWER_SINCE else 1)
        )
        if status == "skipped":
            seconds, message = 0.0, "skipped: needs a Docker daemon"
        elif status == "passed":
            message = None
        else:
            message = f"{test.message}\n{test.trace}"
        cases.append(TestCase(SUITE, test.classname, test.name, status, round(seconds, 3), message))
    run = TestRun(SUITE, tuple(cases), round(sum(c.duration_s for c in cases) + 4.2, 3), ts, f"demo-ci-{slot}")
    labels = {
        "suite": SUITE,
        "component": "qms-api",
        "phase": "ci",
        "source": DEMO_SOURCE,
        "run_key": f"demo-{seed}-ci-{slot}",
        "commit": f"{rng(seed, 'ci-commit', slot // 2).getrandbits(40):010x}",  # each commit is tested twice
    }
    return run, labels


def ci_runs(seed: int, anchor: int, start: int, end: int) -> list[tuple[TestRun, dict[str, str]]]:
    """Every CI run that starts in (start, end]."""
    first = (start - OFFSET) // EVERY + 1
    last = (end - OFFSET) // EVERY
    return [ci_run(seed, slot, anchor) for slot in range(first, last + 1)]
