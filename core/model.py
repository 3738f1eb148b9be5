"""The value types every part of Pulseboard passes around.

A collector, the HTTP API and the file watchers all produce the same :class:`Sample`
and :class:`Event` objects, so validation and storage are written once. Times are
UTC epoch milliseconds everywhere below the UI.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Labels = tuple[tuple[str, str], ...]


def now_ms() -> int:
    """Current UTC time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def canonical_labels(labels: Mapping[str, str] | Labels) -> Labels:
    """Sorted label pairs, so the same label set always means the same series."""
    items = labels.items() if isinstance(labels, Mapping) else labels
    return tuple(sorted((str(k), str(v)) for k, v in items))


def labels_json(labels: Labels) -> str:
    """The stored text form of a canonical label set."""
    return json.dumps(dict(labels), separators=(",", ":"), ensure_ascii=False)


def series_fingerprint(name: str, labels: Labels) -> str:
    """A fixed-length key for (name, labels), unique-indexed in the store."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(name.encode())
    for key, value in labels:
        digest.update(b"\x00" + key.encode() + b"\x01" + value.encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series at one instant; ``ts`` is epoch milliseconds UTC."""

    name: str
    labels: Labels
    value: float
    ts: int
    kind: str = "untyped"

    @classmethod
    def of(
        cls, name: str, labels: Mapping[str, str], value: float, ts: int | None = None, kind: str = "untyped"
    ) -> Sample:
        """Build a sample from a plain label dict, stamping it now if no time is given."""
        return cls(name, canonical_labels(labels), float(value), now_ms() if ts is None else ts, kind)


@dataclass(frozen=True, slots=True)
class Event:
    """One fact from the event protocol (docs/events.md); ``id`` makes it idempotent."""

    id: str
    type: str
    ts: int
    source: str
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Batch:
    """What one collector run or one API request hands to ingest."""

    samples: tuple[Sample, ...] = ()
    events: tuple[Event, ...] = ()

    def __len__(self) -> int:
        return len(self.samples) + len(self.events)
