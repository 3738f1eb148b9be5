"""A small thread-safe TTL cache with single-flight, so many viewers share one computation.

Independent of Streamlit: pages, the API and alert evaluation all go through it.
Values are shared, so callers must treat returned DataFrames as read-only.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class TTLCache:
    """Keeps up to ``max_entries`` results for ``ttl_s`` seconds; concurrent misses on one key compute once."""

    def __init__(self, max_entries: int = 512, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
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
        except BaseException as error:
            flight.error = error
            raise
        finally:
            with self._lock:
                del self._flights[key]
                if flight.error is None:
                    self._data[key] = (self._clock() + ttl_s, flight.value)
                    self._data.move_to_end(key)
                    while len(self._data) > self.max_entries:
                        self._data.popitem(last=False)
            flight.done.set()
        return flight.value  # type: ignore[no-any-return]

    def clear(self) -> None:
        """Forget every entry (tests, or after data was rewritten)."""
        with self._lock:
            self._data.clear()
