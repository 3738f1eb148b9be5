"""Idempotency keys: a client's retry of a batch gets the first answer again instead of being stored twice.

A sample sent without a timestamp is stamped on receipt, so resending it after a lost
answer (or after a 202 while the store was down) would add a second reading. With an
``Idempotency-Key`` header the API remembers the key, a digest of the body and the
answer it gave, for ``idempotency_ttl_s``: the same key with the same body is answered
from here and stores nothing; the same key with another body is a client bug (409).

The ledger is a JSON-lines file beside the API spool, appended to (not fsynced: a key
lost in a machine crash costs at most one duplicate reading, while an fsync per request
would cost every client) and compacted when loaded and whenever it holds twice as many
lines as live keys. Expired keys leave memory as new ones arrive (all share one TTL, so
the oldest expire first), so a server taking a keyed batch a second from each of a few
clients holds a day of keys at most, not everything since it started. It belongs to this replica: keys
must be answered during a store outage, which is exactly when a shared table could not
be read. Behind a load balancer, a retry that lands on another replica is not recognised
(docs/api.md says so).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_KEYS = 100_000  # the oldest are forgotten first beyond this, so a misbehaving client cannot fill the memory


@dataclass(frozen=True, slots=True)
class Remembered:
    """What the first request with a key was answered."""

    digest: str
    status: int
    answer: dict[str, Any]
    expires: float


class KeyLedger:
    """Keys seen within ``ttl_s``, persisted in ``path``; one request per key at a time (:meth:`claim`)."""

    def __init__(
        self, path: Path, ttl_s: float, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.time
    ) -> None:
        self.path, self.ttl_s, self.max_keys, self._clock = path, ttl_s, max_keys, clock
        self._lock = threading.Lock()
        self._claims: dict[str, tuple[threading.Lock, int]] = {}
        self._keys: dict[str, Remembered] = {}
        self._warned = False
        self._lines = 0  # lines in the file, live or not
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        now, lines = self._clock(), 0
        for line in self.path.read_text(errors="replace").splitlines():
            lines += 1
            try:
                item = json.loads(line)
                entry = Remembered(
                    str(item["digest"]), int(item["status"]), dict(item["answer"]), float(item["expires"])
                )
                key = str(item["key"])
            except (ValueError, KeyError, TypeError):  # a line cut by a crash
                continue
            if entry.expires > now:
                self._keys.pop(key, None)
                self._keys[key] = entry
        self._trim()
        self._lines = lines
        if lines > len(self._keys):
            self._rewrite()

    def get(self, key: str) -> Remembered | None:
        """The answer remembered for ``key``, unless it expired."""
        entry = self._keys.get(key)
        return entry if entry is not None and entry.expires > self._clock() else None

    def remember(self, key: str, digest: str, status: int, answer: dict[str, Any]) -> None:
        """Keep ``key``'s answer for ``ttl_s``; a ledger that cannot be written is logged and kept in memory."""
        entry = Remembered(digest, status, answer, self._clock() + self.ttl_s)
        with self._lock:
            self._keys.pop(key, None)
            self._keys[key] = entry
            self._forget_expired()
            self._trim()
            if self._lines >= 2 * len(self._keys) + 1_000:
                self._rewrite()
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a") as handle:
                    handle.write(json.dumps({"key": key, **asdict(entry)}) + "\n")
                self._lines += 1
            except OSError as error:
                if not self._warned:
                    log.warning("idempotency keys kept in memory only: %s cannot be written (%s)", self.path, error)
                self._warned = True

    @contextmanager
    def claim(self, key: str) -> Iterator[None]:
        """Hold ``key`` while its request runs, so a concurrent retry waits and then finds the answer."""
        with self._lock:
            lock, users = self._claims.get(key, (threading.Lock(), 0))
            self._claims[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._claims[key]
                if users == 1:
                    del self._claims[key]
                else:
                    self._claims[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._keys)

    def _forget_expired(self) -> None:
        now = self._clock()
        while self._keys:
            oldest = next(iter(self._keys))
            if self._keys[oldest].expires > now:
                return
            del self._keys[oldest]

    def _trim(self) -> None:
        while len(self._keys) > self.max_keys:
            del self._keys[next(iter(self._keys))]

    def _rewrite(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text("".join(json.dumps({"key": k, **asdict(e)}) + "\n" for k, e in self._keys.items()))
            temporary.replace(self.path)
            self._lines = len(self._keys)
        except OSError as error:
            log.warning("idempotency ledger %s not compacted: %s", self.path, error)
