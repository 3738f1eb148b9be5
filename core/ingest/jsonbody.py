"""Decode JSON request bodies into samples and events, reporting every bad item.

Pydantic checks shapes and types strictly (the string "1.5" is not a number, ``true``
is not a number, and an unknown field such as a misspelt ``lables`` is an error, not
silently dropped); :mod:`core.ingest.validate` then applies the limits shared with
every other writer. A well-formed body is parsed and validated in one call into Rust
(pydantic's own JSON parser); any other body is read by ``json.loads`` and re-checked
item by item, to name each bad item.

``NaN``, ``Infinity`` and numbers too large for a float (``1e999``) are read as the
non-finite floats they stand for and then refused item by item, so the answer names
``[3].value`` or ``[0].data.x`` rather than only saying the body holds one somewhere.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from typing import Annotated, Any, NotRequired

from pydantic import AllowInfNan, ConfigDict, Strict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from core.ingest.validate import Problem, non_finite_word
from core.model import Event, Labels, Sample, canonical_labels

MILLISECOND_EPOCH_THRESHOLD = 100_000_000_000  # a "seconds" timestamp this large is year 5138

Number = Annotated[float, Strict(), AllowInfNan(False)]
Timestamp = Annotated[str, Strict()] | Number


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
    if abs(value) >= MILLISECOND_EPOCH_THRESHOLD:
        raise ValueError(f"{value} looks like milliseconds; send seconds since 1970 or an ISO 8601 string")
    return round(value * 1000)


@with_config(ConfigDict(extra="forbid"))
class SampleIn(TypedDict):
    """One sample as clients send it (docs/api.md)."""

    name: Annotated[str, Strict()]
    labels: NotRequired[dict[Annotated[str, Strict()], Annotated[str, Strict()]]]
    value: Number
    timestamp: NotRequired[Timestamp | None]


@with_config(ConfigDict(extra="forbid"))
class EventIn(TypedDict):
    """One event of the protocol in docs/events.md."""

    id: Annotated[str, Strict()]
    type: Annotated[str, Strict()]
    timestamp: Timestamp
    source: Annotated[str, Strict()]
    data: NotRequired[dict[str, Any]]
    metadata: NotRequired[dict[str, Any]]


@with_config(ConfigDict(extra="forbid"))
class SamplesBody(TypedDict):
    """The object form of a samples body: ``{"samples": [...]}``."""

    samples: list[SampleIn]


@with_config(ConfigDict(extra="forbid"))
class EventsBody(TypedDict):
    """The object form of an events body: ``{"events": [...]}``."""

    events: list[EventIn]


_sample_item = TypeAdapter(SampleIn)
_sample_list = TypeAdapter(list[SampleIn])
_sample_body = TypeAdapter(SamplesBody)
_event_item = TypeAdapter(EventIn)
_event_list = TypeAdapter(list[EventIn])
_event_body = TypeAdapter(EventsBody)
_JSON_SPACE = re.compile(rb"[ \t\n\r]*")


class BodyError(ValueError):
    """The body is not JSON of the expected overall shape (HTTP 400)."""


class BatchTooLong(ValueError):
    """The body holds more items than one batch may (HTTP 413)."""


def _too_long(count: int, key: str, max_items: int | None) -> None:
    if max_items is not None and count > max_items:
        raise BatchTooLong(f"{count} {key}, at most {max_items} per batch (PULSEBOARD_MAX_BATCH_ITEMS)")


def _well_formed(body: bytes, whole: TypeAdapter[Any], wrapped: TypeAdapter[Any], key: str) -> list[Any] | None:
    """Every item of a body with nothing wrong in it, parsed and checked in one call into Rust; else None.

    Most bodies are fine, and this skips building Python objects from ``json.loads`` only to
    validate them into new ones. Anything this parser or schema refuses (a bad item, NaN, a
    byte-order mark, a lone surrogate) goes the item-by-item way, which names each problem.
    """
    space = _JSON_SPACE.match(body)  # always matches, if only the empty string
    start = space.end() if space else 0
    try:
        if body[start : start + 1] == b"[":
            return whole.validate_json(body)
        return wrapped.validate_json(body)[key]
    except ValidationError:
        return None


def _items(body: bytes, key: str, max_items: int | None) -> list[Any]:
    try:
        document = json.loads(body)  # NaN, Infinity and 1e999 become floats, refused per item below
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BodyError(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise BodyError("body is nested too deeply") from None
    except ValueError:  # json.loads' only other refusal: an integer literal past Python's 4,300-digit limit
        raise BodyError(f"body holds a number of more than {sys.get_int_max_str_digits()} digits") from None
    if isinstance(document, dict) and set(document) == {key}:
        document = document[key]
    if not isinstance(document, list):
        raise BodyError(f'body must be a JSON array of {key} or an object {{"{key}": [...]}}')
    _too_long(len(document), key, max_items)
    return document


def _message(item: Any) -> str:
    if item["type"] == "finite_number" and isinstance(item.get("input"), float):
        return f"{non_finite_word(item['input'])} cannot be stored; send a finite number"
    return str(item["msg"]).removeprefix("Value error, ")


def _problems(kind: str, index: int, error: ValidationError) -> list[Problem]:
    return [Problem(kind, index, ".".join(str(p) for p in item["loc"]), _message(item)) for item in error.errors()] or [
        Problem(kind, index, "", str(error))
    ]


def _validate(
    body: bytes, key: str, max_items: int | None, adapters: tuple[TypeAdapter[Any], ...], kind: str
) -> tuple[list[tuple[int, Any]], list[Problem]]:
    """Well-formed items with their index, and the problems of the others."""
    whole, wrapped, one = adapters
    fast = _well_formed(body, whole, wrapped, key)
    if fast is not None:
        _too_long(len(fast), key, max_items)
        return list(enumerate(fast)), []
    items = _items(body, key, max_items)
    try:
        return list(enumerate(whole.validate_python(items))), []
    except ValidationError:
        pass  # some item is bad: check each one to name every bad item
    good: list[tuple[int, Any]] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            good.append((index, one.validate_python(item)))
        except ValidationError as error:
            problems.extend(_problems(kind, index, error))
    return good, problems


def decode_samples(
    body: bytes, default_ts: int, max_items: int | None = None
) -> tuple[list[tuple[int, Sample]], list[Problem]]:
    """(original index, sample) for each well-formed item, and the problems of the others."""
    good, problems = _validate(body, "samples", max_items, (_sample_list, _sample_body, _sample_item), "sample")
    canonical: dict[tuple[tuple[str, str], ...], Labels] = {}  # label sets repeat: sort each once
    samples: list[tuple[int, Sample]] = []
    append = samples.append  # bound once, like the checks below: this loop runs for every sample
    for index, item in good:
        given = item.get("labels")
        raw = tuple(given.items()) if given else ()
        labels = canonical.get(raw)
        if labels is None:
            labels = canonical[raw] = canonical_labels(raw)
        stamp = item.get("timestamp")
        if stamp is None:
            ts = default_ts
        elif type(stamp) is float and -MILLISECOND_EPOCH_THRESHOLD < stamp < MILLISECOND_EPOCH_THRESHOLD:
            ts = round(stamp * 1000)  # parse_timestamp's seconds case, inline for the usual form
        else:
            try:
                ts = parse_timestamp(stamp)
            except ValueError as error:
                problems.append(Problem("sample", index, "timestamp", str(error)))
                continue
        append((index, Sample(item["name"], labels, float(item["value"]), ts)))
    return samples, problems


def decode_events(body: bytes, max_items: int | None = None) -> tuple[list[tuple[int, Event]], list[Problem]]:
    """(original index, event) for each well-formed item, and the problems of the others."""
    good, problems = _validate(body, "events", max_items, (_event_list, _event_body, _event_item), "event")
    events = []
    for index, item in good:
        try:
            ts = parse_timestamp(item["timestamp"])
        except ValueError as error:
            problems.append(Problem("event", index, "timestamp", str(error)))
            continue
        events.append(
            (index, Event(item["id"], item["type"], ts, item["source"], item.get("data", {}), item.get("metadata", {})))
        )
    return events, problems
