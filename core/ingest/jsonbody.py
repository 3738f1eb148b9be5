"""Decode JSON request bodies into samples and events, reporting every bad item.

Pydantic checks shapes and types (strict: the string "1.5" is not a number, and an
unknown field such as a misspelt ``lables`` is an error, not silently dropped);
:mod:`core.ingest.validate` then applies the limits shared with every other writer.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.ingest.validate import Problem
from core.model import Event, Sample, canonical_labels

ModelT = TypeVar("ModelT", bound=BaseModel)
MILLISECOND_EPOCH_THRESHOLD = 100_000_000_000  # a "seconds" timestamp this large is year 5138


def parse_timestamp(value: str | float) -> int:
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
    return round(value * 1000)


def _check_time(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be an ISO 8601 string or seconds since 1970, got {type(value).__name__}")
    parse_timestamp(value)


class SampleIn(BaseModel):
    """One sample as clients send it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    value: float
    timestamp: str | float | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _finite(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("timestamp", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        if value is not None:
            _check_time(value)
        return value


class EventIn(BaseModel):
    """One event of the protocol in docs/events.md."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    timestamp: str | float
    source: str
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        _check_time(value)
        return value


class BodyError(ValueError):
    """The body is not JSON of the expected overall shape (HTTP 400)."""


class BatchTooLong(ValueError):
    """The body holds more items than one batch may (HTTP 413)."""


def _reject_constant(name: str) -> None:
    raise BodyError(f"body contains {name}, which is not valid JSON; send a number or null")


def _items(body: bytes, key: str, max_items: int | None) -> list[Any]:
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
    if max_items is not None and len(document) > max_items:
        raise BatchTooLong(f"{len(document)} {key}, at most {max_items} per batch (PULSEBOARD_MAX_BATCH_ITEMS)")
    return document


def _problems(kind: str, index: int, error: ValidationError) -> list[Problem]:
    if not error.errors():
        return [Problem(kind, index, "", str(error))]
    return [
        Problem(kind, index, ".".join(str(p) for p in item["loc"]), item["msg"].removeprefix("Value error, "))
        for item in error.errors()
    ]


def _validate_items(items: list[Any], model: type[ModelT], kind: str) -> tuple[list[tuple[int, ModelT]], list[Problem]]:
    """Each item checked on its own, so every bad item is reported, not just the first."""
    good: list[tuple[int, ModelT]] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            good.append((index, model.model_validate(item)))
        except ValidationError as error:
            problems.extend(_problems(kind, index, error))
    return good, problems


def decode_samples(
    body: bytes, default_ts: int, max_items: int | None = None
) -> tuple[list[tuple[int, Sample]], list[Problem]]:
    """(original index, sample) for each well-formed item, and the problems of the others."""
    good, problems = _validate_items(_items(body, "samples", max_items), SampleIn, "sample")
    samples = [
        (
            index,
            Sample(
                item.name,
                canonical_labels(item.labels),
                float(item.value),
                default_ts if item.timestamp is None else parse_timestamp(item.timestamp),
            ),
        )
        for index, item in good
    ]
    return samples, problems


def decode_events(body: bytes, max_items: int | None = None) -> tuple[list[tuple[int, Event]], list[Problem]]:
    """(original index, event) for each well-formed item, and the problems of the others."""
    good, problems = _validate_items(_items(body, "events", max_items), EventIn, "event")
    events = [
        (index, Event(item.id, item.type, parse_timestamp(item.timestamp), item.source, item.data, item.metadata))
        for index, item in good
    ]
    return events, problems
