"""What every collector is: a name, an interval and ``collect() -> Batch``.

The runner owns scheduling, retries and the spool; a collector only turns the outside
world into samples and events, with its sources (psutil functions, clock, paths, HTTP
client) passed to its constructor so tests can hand it real files or fake inputs.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from core.model import Batch


@runtime_checkable
class Collector(Protocol):
    """A source of samples and events, polled every ``interval`` seconds."""

    name: str
    interval: float

    def collect(self) -> Batch:
        """Read the source once and return what is new since the last call."""
        ...
