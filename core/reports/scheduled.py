"""The scheduled-reports job: generate each schedule's report when it falls due and deliver it to every target,
retrying failed deliveries with back-off; every attempt's outcome is stored (``report_deliveries``).

One run: for each schedule whose newest due instant (core/reports/schedule.py) is within :data:`CATCH_UP_MS`
and has no delivery rows yet, build the report once (history row by ``schedule:<name>``) and add a
``pending`` row per target; then try every pending row whose ``next_attempt_ms`` has come. A failure stores
the error and the next attempt (1, 2, 4, 8 … minutes); after :data:`MAX_ATTEMPTS` the row is ``failed``, an
audit record and an error log line say so, and the Reports page lists it — a delivery is never dropped silently.
A generation that fails marks every target of that run failed with the generation's error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.auth import audit
from core.config import Settings
from core.model import now_ms as clock_ms
from core.reports import deliver, history
from core.reports.generate import generate
from core.reports.model import KINDS, stamp
from core.reports.schedule import Schedule, Target, load
from core.store.leases import fence
from core.store.schema import report_deliveries as rd

log = logging.getLogger(__name__)
CATCH_UP_MS = 24 * 3_600_000  # a run missed by less than this (server down at 07:00) still happens
MAX_ATTEMPTS = 5
FIRST_RETRY_MS = 60_000
MAX_RETRY_MS = 3_600_000


def backoff_ms(attempts: int) -> int:
    """Wait before attempt ``attempts + 1``: 1, 2, 4 … minutes, at most an hour."""
    return int(min(FIRST_RETRY_MS * 2 ** max(attempts - 1, 0), MAX_RETRY_MS))


def _new_run(engine: Engine, schedule: Schedule, due_ms: int, now: int) -> bool:
    """Claim the run ``(schedule, due_ms)``: insert its pending rows; False when a row already exists."""
    with engine.begin() as connection:
        fence(connection)  # a replica whose reports lease moved on claims nothing
        exists = connection.scalar(
            sa.select(rd.c.id).where(rd.c.schedule == schedule.name, rd.c.due_ms == due_ms).limit(1)
        )
        if exists is not None:
            return False
        try:
            connection.execute(
                rd.insert(),
                [
                    {
                        "schedule": schedule.name,
                        "due_ms": due_ms,
                        "target": target.key,
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_ms": now,
                        "created_ms": now,
                    }
                    for target in schedule.deliver
                ],
            )
        except sa.exc.IntegrityError:  # another process claimed it first
            return False
    return True


def _run_schedule(engine: Engine, settings: Settings, schedule: Schedule, due_ms: int) -> None:
    start_ms, end_ms = schedule.period(due_ms)
    report_id = history.start(
        engine, schedule.report, schedule.format, start_ms, end_ms, dict(schedule.scope), f"schedule:{schedule.name}"
    )
    content = generate(engine, settings, report_id, schedule.report, schedule.format, start_ms, end_ms, schedule.scope)
    with engine.begin() as connection:
        where = (rd.c.schedule == schedule.name) & (rd.c.due_ms == due_ms)
        if content is None:
            stored = history.get(engine, report_id)
            error = f"report generation failed: {stored.message if stored else 'unknown error'}"
            connection.execute(rd.update().where(where).values(report_id=report_id, status="failed", last_error=error))
            log.error("scheduled report %s: %s", schedule.name, error)
        else:
            connection.execute(rd.update().where(where).values(report_id=report_id))


def _attempt(engine: Engine, settings: Settings, row: sa.Row, schedules: dict[str, Schedule], now: int) -> None:
    stored = history.get(engine, row.report_id, content=True) if row.report_id is not None else None
    schedule = schedules.get(row.schedule)
    target = next((t for t in schedule.deliver if t.key == row.target), None) if schedule else None
    try:
        if stored is None or stored.content is None:
            raise RuntimeError("the report is not there (generation failed or its row was removed)")
        if target is None:
            raise RuntimeError(f"target {row.target} is no longer in schedule {row.schedule!r}")
        _send(settings, target, stored, row.schedule)
    except Exception as error:  # noqa: BLE001 — any failure is stored and retried, never raised into the job
        attempts = row.attempts + 1
        gave_up = attempts >= MAX_ATTEMPTS
        message = f"{type(error).__name__}: {error}"[:2000]
        with engine.begin() as connection:
            connection.execute(
                rd.update()
                .where(rd.c.id == row.id)
                .values(
                    attempts=attempts,
                    last_error=message,
                    status="failed" if gave_up else "pending",
                    next_attempt_ms=None if gave_up else now + backoff_ms(attempts),
                )
            )
        if gave_up:
            log.error(
                "report delivery %s to %s failed %d times, giving up: %s", row.schedule, row.target, attempts, message
            )
            audit.record(
                engine, "system", "report.delivery_failed", f"{row.schedule} → {row.target}", {"error": message}
            )
        else:
            log.warning(
                "report delivery %s to %s failed (attempt %d), retrying: %s",
                row.schedule,
                row.target,
                attempts,
                message,
            )
        return
    with engine.begin() as connection:
        connection.execute(
            rd.update()
            .where(rd.c.id == row.id)
            .values(
                attempts=row.attempts + 1, status="delivered", delivered_ms=now, next_attempt_ms=None, last_error=None
            )
        )


def _send(settings: Settings, target: Target, stored: history.Stored, schedule: str) -> None:
    assert stored.content is not None
    name = deliver.filename(stored.kind, stored.start_ms, stored.end_ms, stored.format)
    period = f"{stamp(stored.start_ms)} – {stamp(stored.end_ms)} UTC"
    title = f"{KINDS[stored.kind]}, {period}"
    if target.email:
        body = f"{title}\n\nScheduled report '{schedule}' from Pulseboard; the report is attached ({name})."
        deliver.email(settings, target.email, f"[Pulseboard] {title}", body, name, stored.content, stored.format)
    elif target.webhook:
        meta = {
            "schedule": schedule,
            "kind": stored.kind,
            "title": title,
            "start_ms": stored.start_ms,
            "end_ms": stored.end_ms,
        }
        deliver.webhook(settings, target.webhook, meta, name, stored.content, stored.format)
    else:
        assert target.folder is not None
        deliver.folder(target.folder, name, stored.content)


def run_schedules(engine: Engine, settings: Settings, path: Path | None = None, now_ms: int | None = None) -> int:
    """One pass of the job over ``path`` (default: the ``report_schedules_file`` setting); returns the number of
    delivery attempts made. A bad schedule file raises
    (core.reports.schedule.ScheduleError), so the scheduler records the job's error where the Admin page shows it;
    pending retries of existing runs are still attempted first."""
    now = clock_ms() if now_ms is None else now_ms
    problem: Exception | None = None
    try:
        schedules = {s.name: s for s in load(path or settings.report_schedules_file)}
    except ValueError as error:
        schedules, problem = {}, error
    for schedule in schedules.values():
        due = schedule.last_due(now)
        if due is not None and now - due <= CATCH_UP_MS and _new_run(engine, schedule, due, now):
            _run_schedule(engine, settings, schedule, due)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(rd).where(rd.c.status == "pending", rd.c.next_attempt_ms <= now).order_by(rd.c.id)
        ).all()
    for row in rows:
        _attempt(engine, settings, row, schedules, now)
    if problem is not None:
        raise problem
    return len(rows)


def deliveries(engine: Engine, limit: int = 200) -> list[dict[str, object]]:
    """The newest delivery rows, for the Reports page: schedule, due, target, status, attempts, error, next try."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(rd).order_by(rd.c.id.desc()).limit(limit)).all()
    return [dict(r._mapping) for r in rows]
