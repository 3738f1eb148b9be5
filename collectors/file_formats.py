"""Parsers for the watched-folder formats (docs/formats.md): one line or one document in, events out.

Each parser is pure and raises :class:`FormatError` with a message naming the field
and the rule for anything it cannot use, never another exception, so the tailer can
quarantine the input and keep going. Event ids are derived from the content's own
identifiers, which makes re-reading a file after a restart harmless.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any, Literal

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NaiveDatetime, TypeAdapter, ValidationError

from core.ingest.jsonbody import EventIn, parse_timestamp
from core.model import Event
from core.programmes.qse import COF_DIMENSIONS, UCL_LAWS, compliance_summary

_event_adapter: TypeAdapter[Any] = TypeAdapter(
    EventIn
)  # the API's own event shape, so both paths accept the same lines
MAX_DEPTH = 32
MAX_DOCUMENT_BYTES = 5_000_000


class FormatError(ValueError):
    """The input does not follow its format; the message says which field and why."""


def event_id(*parts: str) -> str:
    """A stable id from natural keys, hashed when it would exceed the 128-character limit."""
    text = "-".join(parts)
    if len(text) <= 128 and text.isprintable():
        return text
    return (
        text[:80].encode("ascii", "replace").decode()
        + "-"
        + hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()
    )


def _reject_constant(name: str) -> float:
    raise FormatError(f"{name} is not valid JSON; use a number or null")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FormatError(f"number {text[:20]} is out of range")
    return value


def _check_strings(value: Any, depth: int = 0) -> None:
    """Refuse what JSON allows but the store cannot hold: NUL, lone surrogates, absurd nesting."""
    if depth > MAX_DEPTH:
        raise FormatError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        if "\x00" in value:
            raise FormatError("string contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise FormatError("string contains an unpaired UTF-16 surrogate") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_strings(key, depth + 1)
            _check_strings(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, depth + 1)


def _json_object(line: str) -> dict[str, Any]:
    try:
        document = json.loads(line, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise FormatError(f"not valid JSON: {error}") from None
    except RecursionError:
        raise FormatError("nested too deeply") from None
    if not isinstance(document, dict):
        raise FormatError(f"each line must be one JSON object, got {type(document).__name__}")
    _check_strings(document)
    return document


def _first_error(error: ValidationError) -> str:
    item = error.errors()[0]
    where = ".".join(str(part) for part in item["loc"]) or "(line)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {item['msg'].removeprefix('Value error, ')}{more}"


def parse_event_line(line: str) -> Event:
    """One line of a ``*.events.jsonl`` file: an event of the protocol in docs/events.md."""
    try:
        checked = _event_adapter.validate_python(_json_object(line))
        item: dict[str, Any] = checked if isinstance(checked, dict) else checked.model_dump()
        return Event(
            item["id"],
            item["type"],
            parse_timestamp(item["timestamp"]),
            item["source"],
            item.get("data") or {},
            item.get("metadata") or {},
        )
    except ValidationError as error:
        raise FormatError(_first_error(error)) from None
    except (ValueError, OverflowError) as error:
        raise FormatError(str(error)) from None


def _criterion(framework: str, name: str) -> str:
    known = COF_DIMENSIONS if framework == "COF" else UCL_LAWS
    for candidate in known:
        if candidate.lower() == name.strip().lower():
            return candidate
    raise ValueError(
        f"{name[:60]!r} is not a {framework} {'dimension' if framework == 'COF' else 'law'}; see docs/formats.md"
    )


class EvidenceIn(BaseModel):
    """One record of an ``EvidenceBundle.*.jsonl`` file."""

    model_config = ConfigDict(extra="forbid")

    bundle_id: str = Field(min_length=1, max_length=100)
    record_id: str = Field(min_length=1, max_length=100)
    session_id: str = Field(min_length=1, max_length=100)
    framework: Literal["COF", "UCL"]
    criterion: str
    artefact: str = Field(min_length=1, max_length=1_000)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    score: float = Field(ge=0.0, le=1.0)
    timestamp: str | float | int
    phase: str | None = Field(default=None, max_length=100)
    recorded_by: str | None = Field(default=None, max_length=100)
    notes: str | None = Field(default=None, max_length=2_000)


def parse_evidence_line(line: str) -> Event:
    """One evidence record → a ``qse.evidence_recorded`` event (id from bundle and record ids)."""
    try:
        item = EvidenceIn.model_validate(_json_object(line))
        criterion = _criterion(item.framework, item.criterion)
        ts = parse_timestamp(item.timestamp)
    except ValidationError as error:
        raise FormatError(_first_error(error)) from None
    except (ValueError, OverflowError) as error:
        raise FormatError(str(error)) from None
    data = item.model_dump(exclude={"timestamp"}, exclude_none=True) | {"criterion": criterion}
    return Event(event_id("evb", item.bundle_id, item.record_id), "qse.evidence_recorded", ts, "evidence-bundle", data)


Moment = AwareDatetime | NaiveDatetime


class Deliverable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    status: Literal["pending", "in_progress", "completed", "rejected"] = "pending"
    quality_score: float | None = Field(default=None, ge=0.0, le=1.0)
    completed_at: Moment | None = None


class Gate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    passed: bool
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    evaluated_at: Moment | None = None


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    status: Literal["not_started", "in_progress", "completed", "blocked"] = "not_started"
    planned_start: Moment
    planned_end: Moment
    actual_start: Moment | None = None
    actual_end: Moment | None = None
    deliverables: list[Deliverable] = Field(default_factory=list)
    quality_gates: list[Gate] = Field(default_factory=list)


class Score(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)


class Compliance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    assessed_at: Moment
    cof: dict[str, Score]
    ucl: dict[str, Score]


class QseLog(BaseModel):
    """A whole ``QSE-LOG-*.yaml`` document."""

    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(min_length=1, max_length=100)
    template: str = Field(min_length=1, max_length=100)
    team: str | None = Field(default=None, max_length=100)
    title: str | None = Field(default=None, max_length=300)
    status: Literal["in_progress", "completed", "abandoned"] = "in_progress"
    started_at: Moment
    completed_at: Moment | None = None
    phases: list[Phase] = Field(min_length=1)
    compliance: Compliance | None = None


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases, so a small file cannot expand into a huge tree."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise FormatError("YAML aliases (*name) are not allowed in QSE logs")
        return super().compose_node(parent, index)


def _ms(moment: datetime) -> int:
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((_ms(end) - _ms(start)) / 3_600_000, 3)


def load_qse_log(text: str) -> QseLog:
    """Parse and validate a QSE session log; FormatError says what is wrong."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise FormatError(f"document larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        raise FormatError(f"not valid YAML: {error}") from None
    except RecursionError:
        raise FormatError("nested too deeply") from None
    if not isinstance(document, dict):
        raise FormatError("a QSE log must be one YAML mapping with session_id, template, started_at and phases")
    try:
        _check_strings(document)
        log = QseLog.model_validate(document)
        if log.compliance:
            for name in log.compliance.cof:
                _criterion("COF", name)
            for name in log.compliance.ucl:
                _criterion("UCL", name)
    except ValidationError as error:
        raise FormatError(_first_error(error)) from None
    except (ValueError, OverflowError) as error:
        raise FormatError(str(error)) from None
    return log


def qse_log_events(text: str, source: str = "qse-log") -> list[Event]:
    """A QSE log → qse.* events (docs/events.md) with ids fixed by session, phase and item names."""
    log = load_qse_log(text)
    sid, base = log.session_id, {"session_id": log.session_id, "template": log.template}
    if log.team:
        base["team"] = log.team
    events = [
        Event(
            event_id("qse", sid, "started"),
            "qse.session_started",
            _ms(log.started_at),
            source,
            base | {"title": log.title or sid, "phases": [p.name for p in log.phases]},
        )
    ]
    for phase in log.phases:
        timing = {
            "phase": phase.name,
            "planned_start": _iso(phase.planned_start),
            "planned_end": _iso(phase.planned_end),
            "planned_hours": _hours(phase.planned_start, phase.planned_end),
        }
        if phase.actual_start:
            events.append(
                Event(
                    event_id("qse", sid, phase.name, "started"),
                    "qse.phase_started",
                    _ms(phase.actual_start),
                    source,
                    base | timing | {"actual_start": _iso(phase.actual_start)},
                )
            )
        if phase.actual_end:
            done = timing | {
                "actual_start": _iso(phase.actual_start),
                "actual_end": _iso(phase.actual_end),
                "actual_hours": _hours(phase.actual_start, phase.actual_end),
                "status": phase.status,
            }
            events.append(
                Event(
                    event_id("qse", sid, phase.name, "completed"),
                    "qse.phase_completed",
                    _ms(phase.actual_end),
                    source,
                    base | done,
                )
            )
        for item in phase.deliverables:
            if item.status == "completed":
                at = item.completed_at or phase.actual_end or phase.planned_end
                events.append(
                    Event(
                        event_id("qse", sid, phase.name, "deliverable", item.name),
                        "qse.deliverable_completed",
                        _ms(at),
                        source,
                        base | {"phase": phase.name, "deliverable": item.name, "quality_score": item.quality_score},
                    )
                )
        for gate in phase.quality_gates:
            at = gate.evaluated_at or phase.actual_end or phase.planned_end
            events.append(
                Event(
                    event_id("qse", sid, phase.name, "gate", gate.name),
                    "qse.gate_evaluated",
                    _ms(at),
                    source,
                    base | {"phase": phase.name, "gate_name": gate.name, "passed": gate.passed, "score": gate.score},
                )
            )
    if log.compliance:
        cof = {_criterion("COF", k): v.score for k, v in log.compliance.cof.items()}
        ucl = {_criterion("UCL", k): v.score for k, v in log.compliance.ucl.items()}
        assessed = _ms(log.compliance.assessed_at)
        events.append(
            Event(
                event_id("qse", sid, "compliance", str(assessed)),
                "qse.compliance_scored",
                assessed,
                source,
                base | compliance_summary(cof, ucl),
            )
        )
    if log.completed_at and log.status != "in_progress":
        planned = sum(h for p in log.phases if (h := _hours(p.planned_start, p.planned_end)) is not None)
        events.append(
            Event(
                event_id("qse", sid, "completed"),
                "qse.session_completed",
                _ms(log.completed_at),
                source,
                base
                | {
                    "status": log.status,
                    "duration_hours": _hours(log.started_at, log.completed_at),
                    "planned_hours": round(planned, 3),
                },
            )
        )
    return events
