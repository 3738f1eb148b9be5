"""A small thread-safe TTL cache with single-flight, so many viewers share one computation.

Independent of Streamlit: pages, the API and alert evaluation all go through it.
Values are shared, so callers must treat returned DataFrames as read-only.

Bounded three ways, because keys move with the clock (a live panel asks for a new range
bucket every few seconds) and a server runs for weeks: entries past their TTL are swept out
(at most once a second) instead of waiting to be pushed out, there are at most
``max_entries``, and their estimated size stays under ``max_bytes`` (polars frames report
their own; the least recently used go first).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import polars as pl

T = TypeVar("T")
MAX_BYTES = 256 * 2**20
SWEEP_EVERY_S = 1.0


def estimated_bytes(value: Any, depth: int = 0) -> int:
    """Roughly how much memory ``value`` holds: frames by polars' estimate, containers by their items."""
    if isinstance(value, pl.DataFrame | pl.Series):
        return int(value.estimated_size())
    if depth > 3:
        return sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(estimated_bytes(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value))
    if isinstance(value, tuple | list | set | frozenset):
        return sys.getsizeof(value) + sum(estimated_bytes(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(estimated_bytes(item, depth + 1) for item in value.values())
    return sys.getsizeof(value)


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class TTLCache:
    """Up to ``max_entries`` results (``max_bytes`` in all) for ``ttl_s`` seconds; concurrent misses compute once."""

    def __init__(
        self, max_entries: int = 512, max_bytes: int = MAX_BYTES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, Any, int]] = OrderedDict()
        self._bytes = 0
        self._swept = clock()
        self._flights: dict[Hashable, _Flight] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, ttl_s: float, compute: Callable[[], T]) -> T:
        """The cached value for ``key``, or ``compute()`` stored for ``ttl_s`` seconds."""
        if ttl_s <= 0:
            return compute()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[0] > self._clock():
                self._data.move_to_end(key)
                self.hits += 1
                return entry[1]  # type: ignore[no-any-return]
            flight = self._flights.get(key)
            owner = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self.misses += 1
        if not owner:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[no-any-return]
        try:
            flight.value = compute()
            size = estimated_bytes(flight.value)
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None:
                    self._store(key, self._clock() + ttl_s, flight.value, size)
            flight.done.set()
        return flight.value  # type: ignore[no-any-return]

    @property
    def size_bytes(self) -> int:
        """Estimated bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def _store(self, key: Hashable, expires: float, value: Any, size: int) -> None:
        """Insert under the lock, then sweep what expired and push out the least recently used beyond the bounds."""
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        if size > self.max_bytes:
            return  # one value larger than the whole cache is served once, not kept
        self._data[key] = (expires, value, size)
        self._bytes += size
        now = self._clock()
        if now - self._swept >= SWEEP_EVERY_S:
            self._swept = now
            for stale in [k for k, entry in self._data.items() if entry[0] <= now]:
                self._bytes -= self._data.pop(stale)[2]
        while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
            self._bytes -= self._data.popitem(last=False)[1][2]

    def clear(self) -> None:
        """Forget every entry (tests, or after data was rewritten)."""
        with self._lock:
            self._data.clear()
            self._bytes = 0
