"""Report schedules: which report, how often (daily / weekly / monthly at a local time in a time zone), which
format, and where it goes (email, webhook, folder) — read from the ``report_schedules_file`` setting
(``report_schedules.yaml`` by default; docs/reports.md).

A schedule's period is the one that just ended at its local midnight: a daily report covers yesterday, a
weekly one the seven days before the run day, a monthly one the previous calendar month — in the schedule's
time zone, so "daily at 07:00 Europe/Paris" covers the Paris day across daylight-saving changes.

:func:`load` and :func:`parse` raise :class:`ScheduleError` naming the file, the schedule and the field, so
a bad file is one clear message on the Reports page (and in the job's log), never a half-loaded set.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.reports.model import KINDS

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ScheduleError(ValueError):
    """A schedule file that cannot be used, with the reason."""


class Target(BaseModel):
    """One destination: exactly one of email (recipients), webhook (URL) or folder (path)."""

    model_config = ConfigDict(extra="forbid")
    email: list[str] | None = None
    webhook: str | None = None
    folder: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        given = [k for k in ("email", "webhook", "folder") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of email, webhook or folder")
        if self.email is not None and (not self.email or any("@" not in a for a in self.email)):
            raise ValueError("email: give one or more addresses")
        if self.webhook is not None and not self.webhook.startswith(("http://", "https://")):
            raise ValueError("webhook: give an http:// or https:// URL")
        return self

    @property
    def key(self) -> str:
        """Stable text naming the target, e.g. ``email:a@x,b@y``, ``webhook:URL``, ``folder:PATH``."""
        if self.email:
            return "email:" + ",".join(self.email)
        if self.webhook:
            return f"webhook:{self.webhook}"
        return f"folder:{self.folder}"


class Schedule(BaseModel):
    """One scheduled report."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\- ]+$")]
    report: Literal["executive", "technical", "sla", "qse", "migration"]
    every: Literal["daily", "weekly", "monthly"]
    at: str = "07:00"
    weekday: str = "monday"  # weekly only
    day: Annotated[int, Field(ge=1, le=28)] = 1  # monthly only: 1–28 so every month has it
    timezone: str = "UTC"
    format: Literal["html", "pdf"] = "pdf"
    scope: dict[str, str] = Field(default_factory=dict)
    deliver: Annotated[list[Target], Field(min_length=1)]

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"at: {value!r} is not a time of day like 07:00") from None
        return value

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"weekday: {value!r} is not one of {', '.join(WEEKDAYS)}")
        return value.lower()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {value!r} (use an IANA name like Europe/Paris)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)

    def _fires_on(self, day: date) -> bool:
        if self.every == "daily":
            return True
        if self.every == "weekly":
            return day.weekday() == WEEKDAYS.index(self.weekday)
        return day.day == self.day

    def last_due(self, now_ms: int) -> int | None:
        """The newest scheduled instant at or before ``now_ms`` (epoch ms), looking back up to 62 days."""
        local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(self.zone)
        at = time.fromisoformat(self.at)
        for back in range(0, 63):
            day = local.date() - timedelta(days=back)
            if not self._fires_on(day):
                continue
            instant = datetime.combine(day, at, tzinfo=self.zone)
            ms = int(instant.timestamp() * 1000)
            if ms <= now_ms:
                return ms
        return None

    def period(self, due_ms: int) -> tuple[int, int]:
        """The report period of the run at ``due_ms``: ``[start, end)`` ending at the run day's local midnight."""
        day = datetime.fromtimestamp(due_ms / 1000, UTC).astimezone(self.zone).date()
        end = datetime.combine(day, time(0), tzinfo=self.zone)
        if self.every == "daily":
            start = datetime.combine(day - timedelta(days=1), time(0), tzinfo=self.zone)
        elif self.every == "weekly":
            start = datetime.combine(day - timedelta(days=7), time(0), tzinfo=self.zone)
        else:
            first = day.replace(day=1)
            end = datetime.combine(first, time(0), tzinfo=self.zone)
            previous = (first - timedelta(days=1)).replace(day=1)
            start = datetime.combine(previous, time(0), tzinfo=self.zone)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedules: list[Schedule] = Field(default_factory=list)


def parse(text: str, source: str = "report_schedules.yaml") -> list[Schedule]:
    """Schedules from YAML text; :class:`ScheduleError` names the source, schedule and field of a problem."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ScheduleError(f"{source}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(raw, dict):
        raise ScheduleError(f"{source}: expected a mapping with a 'schedules' list")
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = list(first["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "schedules" and isinstance(loc[1], int):
            items = raw.get("schedules") or []
            name = items[loc[1]].get("name") if loc[1] < len(items) and isinstance(items[loc[1]], dict) else None
            where = f" schedule {name or '#' + str(loc[1] + 1)!r}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc if not isinstance(p, int) or True)
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ScheduleError(f"{source}{where}: {field + ': ' if field else ''}{message}") from None
    names = [s.name for s in parsed.schedules]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ScheduleError(f"{source}: schedule names must be unique; repeated: {', '.join(dupes)}")
    return parsed.schedules


def load(path: Path) -> list[Schedule]:
    """The schedules of ``path``; none when the file does not exist."""
    if not path.is_file():
        return []
    return parse(path.read_text(encoding="utf-8"), path.name)


assert set(KINDS) == {"executive", "technical", "sla", "qse", "migration"}  # the Literal above lists the same


def save(path: Path, text: str) -> list[Schedule]:
    """Check ``text`` and, only when every schedule in it is valid, replace ``path`` with it whole (written to a
    ``.partial`` file beside it, then renamed), so the scheduler never reads a half-written or broken file.
    :class:`ScheduleError` names the schedule and field of the first problem; ``path`` is then left as it was."""
    schedules = parse(text, path.name)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
    return schedules
