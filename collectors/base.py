"""What every collector is: a name, an interval and ``collect() -> Batch``.

The runner owns scheduling, retries and the spool; a collector only turns the outside
world into samples and events, with its sources (psutil functions, clock, paths, HTTP
client) passed to its constructor so tests can hand it real files or fake inputs.

A collector whose source is the same for every replica (a scrape target, a watched
database, the demo workload) sets ``shared = True``: with several app replicas on one
store it then runs on the replica holding its lease only, as store-wide jobs do, instead of
once per replica. Without the attribute a collector measures its own host and runs everywhere.
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
