"""JUnit parsing against the real reports in tests/data/junit, hostile XML, and storage."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.config import Settings
from core.ingest.junit import MAX_DEPTH, MAX_MESSAGE_CHARS, JunitError, parse_junit, receive_junit, store_test_run
from core.store import schema

JUNIT_DIR = Path(__file__).resolve().parent / "data" / "junit"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "junit.sample.xml"

# counts taken by reading each file's <testcase> elements, not its header
REAL = {
    "pulsar-test-report.xml": (808, 1, 0, 14),
    "pytest-report.xml": (10, 2, 0, 2),  # header says tests="15"
    "python-unittest-report.xml": (8, 1, 1, 2),
    "ant-junit-report-20090516.xml": (8, 0, 3, 0),
    "nested-testsuites.xml": (3, 0, 1, 0),  # 2 testcases + 1 <error> on a suite; header says 186
    "android-skipped-report.xml": (11, 0, 0, 3),  # header says skipped="2"
}


def real(name: str) -> bytes:
    path = JUNIT_DIR / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path.read_bytes()


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_reports_are_counted_from_their_cases(name: str) -> None:
    run = parse_junit(real(name))
    assert (run.tests, run.failures, run.errors, run.skipped) == REAL[name]
    assert run.tests == run.failures + run.errors + run.skipped + run.count("passed")
    assert run.duration_s >= 0


def test_header_counts_are_kept_but_not_trusted() -> None:
    run = parse_junit(real("nested-testsuites.xml"))
    assert run.header["tests"] == "186"
    assert run.tests == 3
    suite_error = next(c for c in run.cases if c.status == "error")
    assert suite_error.suite == "test.3rdlevel"
    assert "bla bla" in (suite_error.message or "")


def test_pulsar_suite_name_messages_and_durations() -> None:
    run = parse_junit(real("pulsar-test-report.xml"))
    assert run.suite == "org.apache.pulsar"
    failed = [c for c in run.cases if c.status == "failed"]
    assert failed[0].message and failed[0].message.startswith("expected [1.2.1] but found [1.2.0]")
    assert run.duration_s == pytest.approx(2126.531)


def test_ant_report_without_suite_name_and_carriage_returns() -> None:
    run = parse_junit(real("ant-junit-report-20090516.xml"))
    assert run.suite == "junit"
    assert all("\r" not in (c.message or "") for c in run.cases)


def test_long_messages_are_truncated_with_a_note() -> None:
    body = (
        f'<testsuite name="s"><testcase name="t"><failure message="m">{"x" * 10_000}</failure></testcase></testsuite>'
    )
    run = parse_junit(body.encode())
    message = run.cases[0].message or ""
    assert len(message) < MAX_MESSAGE_CHARS + 100
    assert "more characters" in message


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<testsuite name="&lol3;"><testcase name="a"/></testsuite>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<testsuite name="x"><testcase name="&xxe;"/></testsuite>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL], ids=["entity-expansion", "external-entity"])
def test_hostile_xml_is_refused(body: bytes) -> None:
    with pytest.raises(JunitError) as caught:
        parse_junit(body)
    assert caught.value.kind == "hostile"
    assert "DTD" in str(caught.value)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"<testsuite><testcase", "malformed"),
        (b"not xml at all", "malformed"),
        (b"<html><body/></html>", "not_junit"),
        (b"<testsuites/>", "not_junit"),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, kind: str) -> None:
    with pytest.raises(JunitError) as caught:
        parse_junit(body)
    assert caught.value.kind == kind


def nested(depth: int, tag: bytes = b"testsuite") -> bytes:
    """A report ``depth`` levels deep: <testsuites> (level 1) around ``depth - 1`` nested ``tag`` elements."""
    opening, closing = b"<" + tag + b' name="s">', b"</" + tag + b">"
    return b"<testsuites>" + opening * (depth - 1) + closing * (depth - 1) + b"</testsuites>"


@pytest.mark.parametrize("tag", [b"testsuite", b"properties"])
def test_nesting_deeper_than_the_cap_is_refused_naming_the_limit(tag: bytes) -> None:
    with pytest.raises(JunitError) as caught:
        parse_junit(nested(50_000, tag))  # once a RecursionError: a 500 from the API
    assert caught.value.kind == "too_deep" and caught.value.status == 400
    assert f"more than {MAX_DEPTH} levels deep" in str(caught.value)
    with pytest.raises(JunitError, match=f"more than {MAX_DEPTH} levels"):
        parse_junit(nested(MAX_DEPTH + 1, tag))


def test_nesting_up_to_the_cap_parses() -> None:
    report = b"<testsuites>" + b'<testsuite name="s">' * (MAX_DEPTH - 2) + b'<testcase name="t"/>'
    report += b"</testsuite>" * (MAX_DEPTH - 2) + b"</testsuites>"
    run = parse_junit(report)  # the testcase is at level MAX_DEPTH
    assert run.tests == 1 and run.cases[0].name == "t"


def test_sample_in_data_samples_parses() -> None:
    run = parse_junit(SAMPLE.read_bytes())
    assert run.tests > 0 and run.failures >= 1 and run.skipped >= 1


def test_store_is_idempotent_and_writes_cases(engine: Engine) -> None:
    run = parse_junit(real("python-unittest-report.xml"))
    labels = {"component": "storage", "phase": "validation", "source": "ci"}
    first = store_test_run(engine, run, labels)
    assert store_test_run(engine, run, labels) == first
    other = store_test_run(engine, run, {**labels, "phase": "cleanup"})
    assert other != first
    with engine.connect() as connection:
        row = connection.execute(sa.select(schema.test_runs).where(schema.test_runs.c.id == first)).mappings().one()
        statuses = connection.scalars(
            sa.select(schema.test_cases.c.status).where(schema.test_cases.c.run_id == first)
        ).all()
    assert (row["tests"], row["failures"], row["errors"], row["skipped"]) == (8, 1, 1, 2)
    assert row["component"] == "storage" and row["phase"] == "validation"
    assert sorted(statuses).count("skipped") == 2 and len(statuses) == 8


def test_receive_checks_type_and_size(engine: Engine) -> None:
    body = real("pytest-report.xml")
    result = receive_junit(engine, body, "application/xml; charset=utf-8", {"suite": "unit"}, max_bytes=1_000_000)
    assert result["tests"] == 10 and result["failures"] == 2 and result["run_id"] > 0
    with pytest.raises(JunitError) as wrong_type:
        receive_junit(engine, body, "application/json", {}, max_bytes=1_000_000)
    assert wrong_type.value.status == 415
    with pytest.raises(JunitError) as too_big:
        receive_junit(engine, body, "text/xml", {}, max_bytes=100)
    assert too_big.value.status == 413
    with pytest.raises(JunitError) as not_junit:
        receive_junit(engine, b"<feed/>", "text/xml", {}, max_bytes=1_000)
    assert not_junit.value.status == 422


def test_inbox_reports_are_stored_once_with_folder_labels(engine: Engine, tmp_path: Path) -> None:
    from collectors.junit_files import JunitFileCollector

    inbox = tmp_path / "inbox"
    (inbox / "junit" / "storage" / "validation").mkdir(parents=True)
    (inbox / "pytest.xml").write_bytes(real("pytest-report.xml"))
    (inbox / "junit" / "storage" / "validation" / "nested.xml").write_bytes(real("nested-testsuites.xml"))
    (inbox / "evil.xml").write_bytes(BILLION_LAUGHS)
    collector = JunitFileCollector(engine, inbox, min_age_s=0)
    collector.collect()
    collector.collect()  # nothing new: nothing stored twice, nothing rejected twice
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                schema.test_runs.c.tests,
                schema.test_runs.c.component,
                schema.test_runs.c.phase,
                schema.test_runs.c.source,
            ).order_by(schema.test_runs.c.tests)
        ).all()
    assert [tuple(r) for r in rows] == [(3, "storage", "validation", "inbox"), (10, None, None, "inbox")]
    records = (inbox / "rejected" / "evil.xml.rejected.jsonl").read_text().splitlines()
    assert len(records) == 1 and "hostile" in records[0]
    (inbox / "pytest.xml").write_bytes(real("python-unittest-report.xml"))  # same path, new content
    collector.collect()
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(schema.test_runs)) == 3


def test_api_route_stores_and_refuses(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from core.api.routes import create_api

    with TestClient(create_api(lambda: settings)) as client:
        ok = client.post(
            "/v1/junit?suite=unit&component=storage&phase=validation",
            content=real("pytest-report.xml"),
            headers={"content-type": "application/xml"},
        )
        assert ok.status_code == 201, ok.text
        assert ok.json() == {"run_id": ok.json()["run_id"], "tests": 10, "failures": 2, "errors": 0, "skipped": 2}
        again = client.post(
            "/v1/junit?suite=unit&component=storage&phase=validation",
            content=real("pytest-report.xml"),
            headers={"content-type": "text/xml"},
        )
        assert again.json()["run_id"] == ok.json()["run_id"]
        assert client.post("/v1/junit", content=b"<testsuite", headers={"content-type": "text/xml"}).status_code == 400
        assert client.post("/v1/junit", content=BILLION_LAUGHS, headers={"content-type": "text/xml"}).status_code == 400
        assert client.post("/v1/junit", content=b"<rss/>", headers={"content-type": "text/xml"}).status_code == 422
        assert client.post("/v1/junit", content=b"{}", headers={"content-type": "application/json"}).status_code == 415
        big = b"<testsuite>" + b" " * (settings.max_body_bytes + 1) + b"</testsuite>"
        assert client.post("/v1/junit", content=big, headers={"content-type": "text/xml"}).status_code == 413


def test_a_report_linked_from_outside_the_inbox_is_not_read(engine: Engine, tmp_path: Path) -> None:
    from collectors.junit_files import JunitFileCollector

    inbox = tmp_path / "inbox"
    (inbox / "junit" / "api").mkdir(parents=True)
    outside = tmp_path / "elsewhere.xml"
    outside.write_bytes(real("pytest-report.xml"))
    (inbox / "linked.xml").symlink_to(outside)
    (inbox / "junit" / "api" / "linked.xml").symlink_to(outside)
    (inbox / "kept.xml").write_bytes(real("python-unittest-report.xml"))
    JunitFileCollector(engine, inbox, min_age_s=0).collect()
    with engine.connect() as connection:
        tests = connection.scalars(sa.select(schema.test_runs.c.tests)).all()
    assert tests == [len(parse_junit(real("python-unittest-report.xml")).cases)]
    assert not (inbox / "rejected").exists()
