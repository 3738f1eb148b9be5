"""Scheduled reports (issue 19): the schedule file's rules and errors, time-zone-aware due times and periods, and a
scheduled run delivered to a real SMTP server (aiosmtpd), a local webhook receiver and a folder; a failed delivery
is retried with back-off, stored with its error, and given up on visibly after the last attempt."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core.auth import audit
from core.config import Settings
from core.reports import history
from core.reports.schedule import ScheduleError, parse
from core.reports.scheduled import MAX_ATTEMPTS, backoff_ms, deliveries, run_schedules
from tests.alert_support import http_receiver

PARIS = ZoneInfo("Europe/Paris")


def ms(*parts: int, tz: ZoneInfo | None = None) -> int:
    return int(datetime(*parts, tzinfo=tz or UTC).timestamp() * 1000)  # type: ignore[misc]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check needs a concrete port: take a free one from the OS
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def receiver():
    with http_receiver() as found:
        yield found


def test_daily_weekly_monthly_due_times_and_periods_follow_the_time_zone():
    daily = parse(
        "schedules:\n- {name: d, report: sla, every: daily, at: '07:00', timezone: Europe/Paris,"
        " deliver: [{folder: x}]}"
    )[0]
    now = ms(2026, 3, 30, 6, 30)  # 08:30 in Paris (summer time since 29 March)
    assert daily.last_due(now) == ms(2026, 3, 30, 7, 0, tz=PARIS)
    assert daily.period(ms(2026, 3, 30, 7, 0, tz=PARIS)) == (ms(2026, 3, 29, tz=PARIS), ms(2026, 3, 30, tz=PARIS))
    start, end = daily.period(ms(2026, 3, 30, 7, 0, tz=PARIS))
    assert end - start == 23 * 3_600_000  # the day the clocks went forward has 23 hours
    weekly = parse(
        "schedules:\n- {name: w, report: executive, every: weekly, weekday: Monday, deliver: [{folder: x}]}"
    )[0]
    assert weekly.last_due(ms(2026, 12, 9, 12)) == ms(2026, 12, 7, 7)  # Wednesday → the Monday before, 07:00 UTC
    assert weekly.period(ms(2026, 12, 7, 7)) == (ms(2026, 11, 30), ms(2026, 12, 7))
    monthly = parse("schedules:\n- {name: m, report: qse, every: monthly, day: 2, deliver: [{folder: x}]}")[0]
    assert monthly.last_due(ms(2026, 12, 1, 12)) == ms(2026, 11, 2, 7)
    assert monthly.period(ms(2026, 12, 2, 7)) == (ms(2026, 11, 1), ms(2026, 12, 1))  # the previous calendar month


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schedules: [", "line"),
        ("schedules:\n- {name: a, report: weekly, every: daily, deliver: [{folder: x}]}", "schedule 'a': report"),
        ("schedules:\n- {name: a, report: sla, every: hourly, deliver: [{folder: x}]}", "every"),
        (
            "schedules:\n- {name: a, report: sla, every: daily, at: '25:00', deliver: [{folder: x}]}",
            "not a time of day",
        ),
        (
            "schedules:\n- {name: a, report: sla, every: daily, timezone: Mars/Base, deliver: [{folder: x}]}",
            "Mars/Base",
        ),
        ("schedules:\n- {name: a, report: sla, every: daily, deliver: []}", "deliver"),
        ("schedules:\n- {name: a, report: sla, every: daily, deliver: [{webhook: ftp://x}]}", "http:// or https://"),
        ("schedules:\n- {name: a, report: sla, every: daily, deliver: [{email: [nobody]}]}", "email"),
        ("schedules:\n- {name: a, report: sla, every: daily, deliver: [{folder: x, email: [a@b]}]}", "exactly one"),
        (
            "schedules:\n- {name: a, report: sla, every: daily, deliver: [{folder: x}]}\n"
            "- {name: a, report: qse, every: daily, deliver: [{folder: y}]}",
            "repeated: a",
        ),
    ],
)
def test_a_bad_schedule_file_is_one_clear_error(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse(text, "report_schedules.yaml")


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_a_schedule_error(text):
    try:
        parse(text)
    except ScheduleError as error:
        assert str(error).startswith("report_schedules.yaml")


def test_a_scheduled_run_reaches_smtp_webhook_and_folder(
    engine: Engine, settings: Settings, smtp, receiver, tmp_path: Path
):
    port, inbox = smtp
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False})
    out = tmp_path / "out"
    path = tmp_path / "report_schedules.yaml"
    path.write_text(
        f"""schedules:
  - name: weekly exec
    report: executive
    every: weekly
    weekday: monday
    at: "07:00"
    timezone: Europe/Paris
    format: html
    deliver:
      - email: [boss@example.org]
      - webhook: {receiver.url}
      - folder: {out}
"""
    )
    now = ms(2026, 12, 7, 6, 5)  # Monday 07:05 Paris
    assert run_schedules(engine, cfg, path, now_ms=now) == 3
    ((recipients, raw),) = inbox.messages
    mail = message_from_bytes(raw)
    assert recipients == ["boss@example.org"] and "Executive report" in mail["Subject"]
    attachment = next(part for part in mail.walk() if part.get_filename())
    assert attachment.get_filename() == "executive-2026-11-29--2026-12-06.html"
    assert b"Executive report" in attachment.get_payload(decode=True)
    (body,) = receiver.bodies
    assert body["filename"] == "executive-2026-11-29--2026-12-06.html"
    assert b"No data for this period" in base64.b64decode(str(body["content_base64"]))  # an empty store: a valid report
    assert (out / "executive-2026-11-29--2026-12-06.html").read_bytes().startswith(b"<!DOCTYPE html>")
    rows = deliveries(engine)
    assert sorted(r["status"] for r in rows) == ["delivered"] * 3
    report = history.get(engine, int(rows[0]["report_id"]))  # type: ignore[arg-type]
    assert report is not None and report.requested_by == "schedule:weekly exec"
    assert run_schedules(engine, cfg, path, now_ms=now + 60_000) == 0  # the run happens once
    assert len(inbox.messages) == 1


def test_a_failed_delivery_is_retried_recorded_and_finally_given_up_visibly(
    engine: Engine, settings: Settings, receiver, tmp_path: Path
):
    path = tmp_path / "report_schedules.yaml"
    path.write_text(
        "schedules:\n- {name: daily sla, report: sla, every: daily, format: html,"
        f" deliver: [{{webhook: {receiver.url}}}]}}\n"
    )
    receiver.statuses += [500, 503]  # the receiver fails twice, then accepts
    now = ms(2026, 12, 7, 7, 1)
    run_schedules(engine, settings, path, now_ms=now)
    (row,) = deliveries(engine)
    assert row["status"] == "pending" and row["attempts"] == 1 and "HTTP 500" in str(row["last_error"])
    assert row["next_attempt_ms"] == now + backoff_ms(1)
    assert run_schedules(engine, settings, path, now_ms=now + 1_000) == 0  # not before its next attempt
    run_schedules(engine, settings, path, now_ms=now + backoff_ms(1))
    (row,) = deliveries(engine)
    assert row["attempts"] == 2 and "HTTP 503" in str(row["last_error"])
    run_schedules(engine, settings, path, now_ms=now + backoff_ms(1) + backoff_ms(2))
    (row,) = deliveries(engine)
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["last_error"] is None
    assert len(receiver.bodies) == 1


def test_delivery_to_a_dead_smtp_server_gives_up_after_the_last_attempt(engine: Engine, settings: Settings, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]  # nothing listens here once the probe closes
    cfg = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": dead, "smtp_timeout_s": 2.0})
    path = tmp_path / "report_schedules.yaml"
    path.write_text(
        "schedules:\n- {name: m, report: sla, every: daily, format: html, deliver: [{email: [a@example.org]}]}\n"
    )
    now = ms(2026, 12, 7, 7, 1)
    for attempt in range(MAX_ATTEMPTS):
        run_schedules(engine, cfg, path, now_ms=now)
        now += backoff_ms(attempt + 1)
    (row,) = deliveries(engine)
    assert row["status"] == "failed" and row["attempts"] == MAX_ATTEMPTS and row["next_attempt_ms"] is None
    assert "Connection refused" in str(row["last_error"]) or "Errno" in str(row["last_error"])
    failed = audit.entries(engine, actions=("report.delivery_failed",))
    assert failed.height == 1 and failed["target"][0] == "m → email:a@example.org"


def test_a_bad_schedule_file_fails_the_job_with_its_message(engine: Engine, settings: Settings, tmp_path):
    path = tmp_path / "report_schedules.yaml"
    path.write_text(
        "schedules:\n- {name: a, report: sla, every: daily, timezone: Nowhere/City, deliver: [{folder: x}]}"
    )
    with pytest.raises(ScheduleError, match="unknown time zone 'Nowhere/City'"):
        run_schedules(engine, settings, path, now_ms=ms(2026, 12, 7, 8))
