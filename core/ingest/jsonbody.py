"""Decode JSON request bodies into samples and events, reporting every bad item.

Pydantic checks shapes and types (strict: the string "1.5" is not a number, and an
unknown field such as a misspelt ``lables`` is an error, not silently dropped);
:mod:`core.ingest.validate` then applies the limits shared with every other writer.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, TypeAdapter, ValidationError, field_validator

from core.ingest.validate import Problem
from core.model import Event, Sample, canonical_labels

MILLISECOND_EPOCH_THRESHOLD = 100_000_000_000  # a "seconds" timestamp this large is year 5138


def parse_timestamp(value: str | float | int) -> int:
    """ISO 8601 with a zone, or epoch seconds, to epoch milliseconds."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not an ISO 8601 time like 2025-08-17T06:23:14Z") from None
        if moment.tzinfo is None:
            raise ValueError(f"{value[:40]!r} has no timezone; add 'Z' for UTC")
        return int(moment.timestamp() * 1000)
    if not math.isfinite(value):
        raise ValueError("must be a finite number of seconds since 1970")
    if abs(value) >= MILLISECOND_EPOCH_THRESHOLD:
        raise ValueError(f"{value} looks like milliseconds; send seconds since 1970 or an ISO 8601 string")
    return int(round(value * 1000))


class SampleIn(BaseModel):
    """One sample as clients send it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    value: StrictFloat | StrictInt
    timestamp: str | StrictFloat | StrictInt | None = None

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("timestamp")
    @classmethod
    def _time(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_timestamp(value)
        return value


class EventIn(BaseModel):
    """One event of the protocol in docs/events.md."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    timestamp: str | StrictFloat | StrictInt
    source: str
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _time(cls, value: str | float) -> str | float:
        parse_timestamp(value)
        return value


_samples_adapter = TypeAdapter(list[SampleIn])
_events_adapter = TypeAdapter(list[EventIn])


class BodyError(ValueError):
    """The body is not JSON of the expected overall shape (HTTP 400)."""


def _reject_constant(name: str) -> None:
    raise BodyError(f"body contains {name}, which is not valid JSON; send a number or null")


def _items(body: bytes, key: str) -> list[Any]:
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BodyError(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise BodyError("body is nested too deeply") from None
    if isinstance(document, dict) and set(document) == {key}:
        document = document[key]
    if not isinstance(document, list):
        raise BodyError(f"body must be a JSON array of {key} or an object {{\"{key}\": [...]}}")
    return document


def _problems(kind: str, error: ValidationError) -> list[Problem]:
    found = []
    for item in error.errors():
        loc = list(item["loc"])
        index = loc.pop(0) if loc and isinstance(loc[0], int) else -1
        message = item["msg"].removeprefix("Value error, ")
        found.append(Problem(kind, int(index), ".".join(str(p) for p in loc), message))
    return found


def decode_samples(body: bytes, default_ts: int) -> tuple[list[Sample], list[Problem]]:
    """Samples from a JSON body, or the problems that stop it from being stored."""
    items = _items(body, "samples")
    try:
        parsed = _samples_adapter.validate_python(items)
    except ValidationError as error:
        return [], _problems("sample", error)
    samples = [
        Sample(
            item.name,
            canonical_labels(item.labels),
            float(item.value),
            default_ts if item.timestamp is None else parse_timestamp(item.timestamp),
        )
        for item in parsed
    ]
    return samples, []


def decode_events(body: bytes) -> tuple[list[Event], list[Problem]]:
    """Events from a JSON body, or the problems that stop it from being stored."""
    items = _items(body, "events")
    try:
        parsed = _events_adapter.validate_python(items)
    except ValidationError as error:
        return [], _problems("event", error)
    return [
        Event(item.id, item.type, parse_timestamp(item.timestamp), item.source, item.data, item.metadata)
        for item in parsed
    ], []
