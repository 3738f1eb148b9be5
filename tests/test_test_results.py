"""Test results from stored JUnit cases: failing, first failed, flaky, slow; re-run commands; the ticket webhook.

Runs go through the real parser (core.ingest.junit.parse_junit) into a real store: the vendored
reports in tests/data/junit and crafted histories written as JUnit XML. Expected values come from
a plain loop over the outcome strings below (or are read from the XML), never from the code
under test.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core.alerts import tickets
from core.auth import audit
from core.auth.access import ROLE_PERMISSIONS, NotAllowed, Viewer
from core.config import ConfigError, Settings, check_ticket_template, load_settings
from core.ingest.junit import parse_junit, store_test_run
from core.kpis import test_results as tr
from core.kpis.records import load_test_runs
from core.kpis.rerun_command import java_test, pytest_node_id, rerun_command
from tests import junit_history
from tests.junit_history import HISTORY
from tests.ticket_receiver import Receiver, ticket_receiver

JUNIT_DIR = Path(__file__).resolve().parent / "data" / "junit"
T0 = 1_780_000_000_000  # the first crafted run
HOUR = junit_history.HOUR


def store_history(engine: Engine) -> None:
    junit_history.store_history(engine, T0)


def cases_of(engine: Engine) -> pl.DataFrame:
    return tr.load_case_history(engine, load_test_runs(engine, 0, 2**53))


def run_ts(run_no: int) -> datetime:
    return datetime.fromtimestamp((T0 + (run_no - 1) * HOUR) / 1000, UTC)


# --- a plain reference: the definitions of core/kpis/test_results.py's docstring, by loop -------------------------


def reference(outcomes: str) -> dict[str, object]:
    """Flips, rate, failing now, current streak start and length, first failure (1-based runs), by hand."""
    ran = [(n, o) for n, o in enumerate(outcomes, 1) if o != "S"]
    flips = sum(1 for (_, a), (_, b) in itertools.pairwise(ran) if (a in "FE") != (b in "FE"))
    streak: list[int] = []
    for n, o in ran:
        streak = [*streak, n] if o in "FE" else []
    failing_now = outcomes[-1] in "FE"
    firsts = [n for n, o in ran if o in "FE"]
    return {
        "flips": flips,
        "rate": round(flips / (len(ran) - 1), 3),
        "failing": failing_now,
        "since": streak[0] if failing_now else None,
        "streak": len(streak) if failing_now else 0,
        "first": firsts[0] if firsts else None,
    }


def test_failing_tests_and_when_they_first_failed(sqlite_engine):
    store_history(sqlite_engine)
    cases = cases_of(sqlite_engine)
    failing = tr.failing_tests(cases, tr.load_first_failures(sqlite_engine, tr.failing_tests(cases)))
    expected = {name: reference(outcomes) for name, outcomes in HISTORY.items()}
    assert set(failing["name"]) == {name for name, ref in expected.items() if ref["failing"]}
    assert set(failing["name"]) == {
        "test_alternating",
        "test_twice_broken",
        "test_broke_once",
        "test_with_skips",
        "test_erroring",
    }
    for row in failing.iter_rows(named=True):
        ref = expected[row["name"]]
        assert row["failing_since"] == run_ts(ref["since"]), row["name"]
        assert row["streak_runs"] == ref["streak"], row["name"]
        assert row["first_failed"] == run_ts(ref["first"]), row["name"]
    by_hand = sorted(failing.iter_rows(named=True), key=lambda r: (-expected[r["name"]]["since"], r["test"]))
    assert failing["name"].to_list() == [r["name"] for r in by_hand]  # the newest breakage first
    with_skips = failing.row(by_predicate=pl.col("name") == "test_with_skips", named=True)
    assert (with_skips["failing_since"], with_skips["streak_runs"]) == (run_ts(6), 2)  # the skip in run 7 is neutral
    erroring = failing.row(by_predicate=pl.col("name") == "test_erroring", named=True)
    assert (erroring["status"], erroring["message"], erroring["trace"]) == (
        "error",
        "ConnectionError: db down",
        "Traceback: db down",
    )
    alternating = failing.row(by_predicate=pl.col("name") == "test_alternating", named=True)
    assert alternating["message"] == "AssertionError: test_alternating run 8"
    assert alternating["trace"] == "trace line 1\ntrace line 2"
    assert alternating["test"] == "tests.test_shop.TestCart.test_alternating"


def test_first_failed_reaches_before_the_range_shown(sqlite_engine):
    """The streak is read from the runs in range; "first failed" from the whole store."""
    store_history(sqlite_engine)
    runs = load_test_runs(sqlite_engine, T0 + 5 * HOUR, T0 + 8 * HOUR)  # runs 6..8 only
    cases = tr.load_case_history(sqlite_engine, runs)
    failing = tr.failing_tests(cases, tr.load_first_failures(sqlite_engine, tr.failing_tests(cases)))
    twice = failing.row(by_predicate=pl.col("name") == "test_twice_broken", named=True)
    assert twice["failing_since"] == run_ts(7)
    assert twice["first_failed"] == run_ts(3)  # run 3 is outside the range, still the first failure


def test_flaky_tests_with_their_rate(sqlite_engine):
    store_history(sqlite_engine)
    flaky = tr.flaky_tests(cases_of(sqlite_engine))
    expected = {
        name: ref["rate"]
        for name, outcomes in HISTORY.items()
        if (ref := reference(outcomes))["flips"] >= tr.FLAKY_MIN_FLIPS
    }
    assert dict(zip(flaky["name"], flaky["flake_rate"], strict=True)) == expected
    assert expected == {"test_alternating": 1.0, "test_twice_broken": round(3 / 7, 3), "test_with_skips": 0.6}
    assert flaky["name"][0] == "test_alternating"  # flakiest first
    alternating = flaky.row(0, named=True)
    assert (alternating["runs"], alternating["failures"], alternating["flips"]) == (8, 4, 7)


SAME_COMMIT = {
    "test_blip_on_one_commit": "PPPFPPPP",  # run 4 failed on commit b, which run 3 passed
    "test_broke_with_a_commit": "PPPPFFFF",  # failed from commit c on, every run of it
    "test_steady": "PPPPPPPP",
}
COMMITS = "aabbccdd"


def test_passing_and_failing_on_the_same_commit_is_flaky(engine):
    junit_history.store_history(engine, T0, SAME_COMMIT, commits=COMMITS)
    flaky = tr.flaky_tests(cases_of(engine))
    by_hand = {}
    for name, outcomes in SAME_COMMIT.items():
        seen: dict[str, set[bool]] = {}
        for commit, outcome in zip(COMMITS, outcomes, strict=True):
            seen.setdefault(commit, set()).add(outcome in "FE")
        if mixed := sum(1 for results in seen.values() if len(results) == 2):
            by_hand[name] = (mixed, reference(outcomes)["flips"])
    assert by_hand == {"test_blip_on_one_commit": (1, 2)}  # 2 flips alone would not make it flaky
    assert {r["name"]: (r["mixed_commits"], r["flips"]) for r in flaky.iter_rows(named=True)} == by_hand


def test_runs_without_a_commit_are_judged_by_flips_alone(sqlite_engine):
    junit_history.store_history(sqlite_engine, T0, SAME_COMMIT)
    assert tr.flaky_tests(cases_of(sqlite_engine)).is_empty()
    assert cases_of(sqlite_engine)["commit"].is_null().all()


def test_a_test_that_broke_once_is_not_flaky(sqlite_engine):
    store_history(sqlite_engine)
    assert {"test_broke_once", "test_fixed", "test_erroring"}.isdisjoint(
        tr.flaky_tests(cases_of(sqlite_engine))["name"]
    )


def test_duration_regression_needs_the_factor_and_the_floor(sqlite_engine):
    store_history(sqlite_engine)
    regressions = tr.duration_regressions(cases_of(sqlite_engine))
    # by hand: median of runs 1..7 of test_steady is 0.5; 1.6 s is 3.2× and 1,100 ms more
    assert regressions.select("name", "duration_s", "median_s", "previous_runs", "slowdown").rows() == [
        ("test_steady", 1.6, 0.5, 7, 3.2)
    ]
    # test_fixed went 0.002 → 0.010 s (5×, only 8 ms more); test_broke_once 1.0 → 1.9 s (under 2×)


def test_slowest_tests_of_the_newest_run(sqlite_engine):
    store_history(sqlite_engine)
    slowest = tr.slowest_tests(cases_of(sqlite_engine), limit=2)
    assert slowest.select("test", "duration_s").rows() == [
        ("tests.test_shop.TestCart.test_broke_once", 1.9),
        ("tests.test_shop.TestCart.test_steady", 1.6),
    ]


def test_pass_rate_trend_per_suite(sqlite_engine):
    store_history(sqlite_engine)
    trend = tr.pass_rate_trend(load_test_runs(sqlite_engine, 0, 2**53))
    by_hand = []
    for run in range(8):
        outcomes = [h[run] for h in HISTORY.values()]
        ran = [o for o in outcomes if o != "S"]
        by_hand.append(round(sum(o == "P" for o in ran) / len(ran) * 100, 1))
    assert trend["pass_pct"].to_list() == by_hand
    assert trend["suite"].unique().to_list() == ["shop"]


def test_history_keeps_only_the_newest_runs_per_suite(sqlite_engine):
    store_history(sqlite_engine)
    cases = tr.load_case_history(sqlite_engine, load_test_runs(sqlite_engine, 0, 2**53), per_suite=3)
    assert sorted(cases["run_no"].unique()) == [1, 2, 3]
    assert cases["ts"].min() == T0 + 5 * HOUR


# --- the vendored reports --------------------------------------------------------------------------------------------


def failing_in_xml(name: str) -> set[tuple[str | None, str]]:
    """(classname, name) of every <testcase> with a <failure> or <error> child, read with ElementTree."""
    root = ElementTree.fromstring((JUNIT_DIR / name).read_bytes())
    return {
        (case.get("classname"), case.get("name") or "")
        for case in root.iter("testcase")
        if any(child.tag in ("failure", "error") for child in case)
    }


def store_vendored(engine: Engine, name: str, copies: int = 1) -> None:
    data = (JUNIT_DIR / name).read_bytes()
    for n in range(copies):
        store_test_run(engine, parse_junit(data), {"suite": name, "run_key": f"{name}-{n}"})


@pytest.mark.parametrize(
    "name",
    ["pytest-report.xml", "pulsar-test-report.xml", "ant-junit-report-20090516.xml", "android-skipped-report.xml"],
)
def test_failing_list_of_a_real_report_matches_its_xml(engine, name):
    store_vendored(engine, name, copies=2)
    cases = cases_of(engine)
    failing = tr.failing_tests(cases, tr.load_first_failures(engine, tr.failing_tests(cases)))
    assert set(zip(failing["classname"], failing["name"], strict=True)) == failing_in_xml(name)
    assert (failing["streak_runs"] == 2).all()
    assert (failing["first_failed"] == failing["failing_since"]).all()
    assert tr.flaky_tests(cases).is_empty()  # the same outcome twice is not flaky


def test_rerun_command_for_the_pytest_report(sqlite_engine):
    store_vendored(sqlite_engine, "pytest-report.xml")
    failing = tr.failing_tests(cases_of(sqlite_engine))
    rerun = rerun_command(zip(failing["classname"], failing["name"], strict=True))
    assert rerun.runner == "pytest"
    assert sorted(rerun.command.removeprefix("pytest ").split(" ")) == [  # type: ignore[union-attr]
        "'tests/test_lib.py::test_always_fail'",
        "'tests/test_lib.py::test_error'",
    ]


def test_rerun_command_for_surefire_and_ant_reports(sqlite_engine):
    store_vendored(sqlite_engine, "pulsar-test-report.xml")
    failing = tr.failing_tests(cases_of(sqlite_engine))
    rerun = rerun_command(zip(failing["classname"], failing["name"], strict=True))
    assert (rerun.runner, rerun.command) == (
        "surefire",
        "mvn test '-Dtest=AddMissingPatchVersionTest#testVersionStrings'",
    )
    ant = sorted(failing_in_xml("ant-junit-report-20090516.xml"), key=lambda case: case[1])
    rerun = rerun_command(ant)  # Ant writes Class.method in name, no classname
    methods = "+".join(name.rsplit(".", 1)[1] for _, name in ant)
    assert rerun.command == f"mvn test '-Dtest=VendorManagerTest#{methods}'"


def test_rerun_command_refuses_names_it_cannot_place():
    unittest_style = rerun_command([("TestAcme", "test_always_fail")])
    assert unittest_style.command is None and "TestAcme" in unittest_style.reason
    mixed = rerun_command([("tests.test_a", "test_x"), ("org.x.FooTest", "testY")])
    assert mixed.command is None and "mix" in mixed.reason
    assert rerun_command([]).command is None


def test_node_ids_and_java_names():
    assert (
        pytest_node_id("tests.api.test_x.TestC.TestInner", "test_y[a-b]")
        == "tests/api/test_x.py::TestC::TestInner::test_y[a-b]"
    )
    assert pytest_node_id("pkg.checks_test", "test_z") == "pkg/checks_test.py::test_z"
    assert pytest_node_id("org.apache.FooTest", "testBar") is None
    assert java_test("org.apache.FooTest", "testBar[3]") == ("FooTest", "testBar")
    assert java_test(None, "org.twia.VendorTest.testC") == ("VendorTest", "testC")
    assert java_test("TestAcme", "test_x") is None


def test_a_quote_in_a_test_name_stays_inside_its_shell_word():
    rerun = rerun_command([("tests.test_q", "test_it[it's]")])
    assert rerun.command == "pytest 'tests/test_q.py::test_it[it'\"'\"'s]'"


# --- the ticket webhook ----------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with ticket_receiver() as found:
        yield found


QA_LEAD = Viewer.of("quinn", ["qa_lead"])
FAILING_ROW = {
    "suite": "shop",
    "test": "tests.test_shop.TestCart.test_erroring",
    "status": "error",
    "message": "ConnectionError: db down",
    "trace": "Traceback: db down",
    "failing_since": datetime(2026, 5, 28, 20, 26, tzinfo=UTC),
    "streak_runs": 2,
    "first_failed": datetime(2026, 5, 28, 20, 26, tzinfo=UTC),
    "run_id": 8,
}


def ticket_settings(receiver: Receiver, **more: object) -> Settings:
    return load_settings(ticket_webhook_url=receiver.url, public_url="https://pulse.example.com/", **more)


def test_ticket_is_posted_as_the_default_json_and_audited(sqlite_engine, receiver):
    settings = ticket_settings(receiver, ticket_webhook_token="t0k")
    ticket = tickets.open_ticket(sqlite_engine, settings, QA_LEAD, FAILING_ROW, address="10.1.2.3")
    assert ticket == tickets.Ticket(201, "https://tracker.example/issues/42")
    [(path, headers, body)] = receiver.received
    assert path == "/repos/acme/shop/issues?token=s3cret-token"
    assert headers["Authorization"] == "Bearer t0k"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "title": "Failing test: tests.test_shop.TestCart.test_erroring",
        "body": (
            "Test `tests.test_shop.TestCart.test_erroring` in suite `shop` is error.\n"
            "\n"
            "- Failing since: 2026-05-28 20:26 UTC (2 run(s) in a row)\n"
            "- First failed: 2026-05-28 20:26 UTC\n"
            "- Run: https://pulse.example.com/qa?test_suite=shop\n"
            "\n"
            "```\n"
            "ConnectionError: db down\n"
            "Traceback: db down\n"
            "```\n"
            "\n"
            "Opened from Pulseboard."
        ),
        "labels": ["test-failure"],
    }
    [entry] = audit.entries(sqlite_engine, actions=(tickets.TICKET_OPENED,)).to_dicts()
    assert (entry["actor"], entry["target"], entry["address"]) == (
        "quinn",
        "shop: tests.test_shop.TestCart.test_erroring",
        "10.1.2.3",
    )
    assert json.loads(entry["detail"]) == {
        "suite": "shop",
        "test": "tests.test_shop.TestCart.test_erroring",
        "http_status": 201,
        "reference": "https://tracker.example/issues/42",
    }


def test_ticket_template_fills_placeholders_without_breaking_the_json(sqlite_engine, receiver):
    template = json.dumps(
        {
            "fields": {
                "project": {"key": "QA"},
                "summary": "{title}",
                "description": "{message} (since {failing_since}) {run_link}",
                "labels": ["{suite}", "flaky?"],
                "issuetype": {"name": "Bug"},
            }
        }
    )
    row = {**FAILING_ROW, "message": 'he said "}{" \\ and {title}'}
    tickets.open_ticket(sqlite_engine, ticket_settings(receiver, ticket_webhook_template=template), QA_LEAD, row)
    [(_, headers, body)] = receiver.received
    assert "Authorization" not in headers
    assert json.loads(body) == {
        "fields": {
            "project": {"key": "QA"},
            "summary": "Failing test: tests.test_shop.TestCart.test_erroring",
            "description": 'he said "}{" \\ and {title} (since 2026-05-28 20:26 UTC) https://pulse.example.com/qa?test_suite=shop',
            "labels": ["shop", "flaky?"],
            "issuetype": {"name": "Bug"},
        }
    }


def test_a_refusing_tracker_gives_a_clear_error_without_the_secret_url(sqlite_engine, receiver):
    receiver.status, receiver.answer = 500, b"Internal Server Error: database is locked"
    with pytest.raises(tickets.TicketError) as raised:
        tickets.open_ticket(sqlite_engine, ticket_settings(receiver), QA_LEAD, FAILING_ROW)
    message = str(raised.value)
    assert message == (
        "the ticket webhook answered HTTP 500: Internal Server Error: database is locked; no issue was opened"
    )
    assert "s3cret" not in message and "127.0.0.1" not in message
    [entry] = audit.entries(sqlite_engine, actions=(tickets.TICKET_FAILED,)).to_dicts()
    assert json.loads(entry["detail"])["error"] == message
    assert audit.entries(sqlite_engine, actions=(tickets.TICKET_OPENED,)).is_empty()


def test_an_unreachable_tracker_is_named_without_the_url(sqlite_engine, receiver):
    settings = ticket_settings(receiver)
    receiver.close()  # the port now refuses connections
    with pytest.raises(tickets.TicketError, match=r"could not reach the ticket webhook \(ConnectError\)") as raised:
        tickets.open_ticket(sqlite_engine, settings, QA_LEAD, FAILING_ROW)
    assert "s3cret" not in str(raised.value)


def test_only_viewers_with_open_tickets_may_send(sqlite_engine, receiver):
    assert {role for role, granted in ROLE_PERMISSIONS.items() if "open_tickets" in granted} == {"qa_lead", "admin"}
    with pytest.raises(NotAllowed, match="open_tickets"):
        tickets.open_ticket(sqlite_engine, ticket_settings(receiver), Viewer.of("dev", ["developer"]), FAILING_ROW)
    assert receiver.received == []


def test_ticket_settings_are_checked_and_never_echoed():
    with pytest.raises(ConfigError, match=r"unknown placeholder\(s\) \{tittle\}"):
        load_settings(ticket_webhook_template='{"summary": "{tittle}"}')
    with pytest.raises(ConfigError, match="must be a JSON object"):
        load_settings(ticket_webhook_template='["{title}"]')
    with pytest.raises(ConfigError) as raised:
        load_settings(ticket_webhook_url="ftp://user:hunter2@tracker")
    assert "http:// or https://" in str(raised.value) and "hunter2" not in str(raised.value)
    assert "s3cret" not in repr(load_settings(ticket_webhook_url="https://x/?t=s3cret"))
    assert not tickets.configured(load_settings())


@given(st.text(max_size=60))
def test_any_template_text_is_accepted_or_refused_with_a_reason(text):
    try:
        parsed = check_ticket_template(text)
    except ValueError as error:
        assert str(error)
        assert any(word in str(error) for word in ("not valid JSON", "must be a JSON object", "unknown placeholder"))
    else:
        assert isinstance(parsed, dict)


def test_the_api_stores_the_commit_a_report_tested(settings, engine):
    from fastapi.testclient import TestClient

    from core.api.routes import create_api

    report = (JUNIT_DIR / "pytest-report.xml").read_bytes()
    with TestClient(create_api(lambda: settings)) as client:
        for commit in ("9f3c2ab", "9f3c2ab", "1d0e7c4"):
            response = client.post(
                f"/v1/junit?suite=lib&commit={commit}", content=report, headers={"content-type": "application/xml"}
            )
            assert response.status_code == 201, response.text
    cases = cases_of(engine)
    assert sorted(cases["commit"].unique()) == [
        "1d0e7c4",
        "9f3c2ab",
    ]  # the same report twice on one commit: stored once
    assert cases["run_id"].n_unique() == 2


@pytest.mark.parametrize("hour", [0, 3, 5, 7])
def test_the_demo_ci_suite_tells_its_story_whenever_the_demo_starts(sqlite_engine, hour):
    from collectors import demo_ci_tests as ci

    anchor = T0 + hour * HOUR + 1234  # the demo's first start, at different times of a commit's 8-hour cycle
    for run, labels in ci.ci_runs(7, anchor, anchor - 10 * 24 * HOUR, anchor):
        store_test_run(sqlite_engine, run, labels)
    cases = cases_of(sqlite_engine)
    failing = tr.failing_tests(cases, tr.load_first_failures(sqlite_engine, tr.failing_tests(cases)))
    status = dict(zip(failing["name"], failing["status"], strict=True))
    assert status[ci.NEWLY_FAILING] == "failed" and status[ci.ERRORING] == "error"
    routing = failing.row(by_predicate=pl.col("name") == ci.NEWLY_FAILING, named=True)
    assert routing["first_failed"] < routing["failing_since"]  # it failed once before, nine days earlier
    flaky = tr.flaky_tests(cases)
    assert set(flaky["name"]) == {test.name for test in ci.TESTS if test.flaky}
    assert tr.duration_regressions(cases)["name"].to_list() == [ci.SLOWER]
    skipped = cases.filter(pl.col("name") == ci.SKIPPED)["status"].unique().to_list()
    assert skipped == ["skipped"]


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@given(st.lists(st.tuples(st.one_of(st.none(), names), names), max_size=5))
def test_any_test_names_give_one_shell_word_per_test_or_a_reason(cases):
    """Names come from uploaded reports: whatever they hold, the command splits back into exactly its words."""
    import shlex

    rerun = rerun_command(cases)
    if rerun.command is None:
        assert rerun.reason
        return
    words = shlex.split(rerun.command)
    wanted = list(dict.fromkeys(cases))
    if rerun.runner == "pytest":
        assert words == ["pytest", *(pytest_node_id(classname, name) for classname, name in wanted)]
    else:
        assert words[:2] == ["mvn", "test"] and len(words) == 3 and words[2].startswith("-Dtest=")
