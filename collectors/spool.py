"""The collectors' delivery loop: send each batch, spool it during an outage, replay in order later.

The spool itself (folder, file format, size bound) is :mod:`core.ingest.spool`, shared
with the HTTP API, which spools the batches it accepted while the store was down; it is
re-exported here so collectors keep one import. The format is described in
docs/collectors.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from core import selfmetrics
from core.ingest.spool import FORMAT, VERSION, Spool, decode, encode
from core.model import Batch

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "VERSION", "Spool", "SpoolingSink", "decode", "encode"]


class SpoolingSink:
    """Delivers batches through ``send``; on an outage spools them and replays in order later.

    While anything is spooled, new batches queue behind it, so one collector's
    batches always reach the store in the order they were collected. ``is_outage``
    decides which errors mean "try again later"; any other error from a live batch
    propagates to the caller (the scheduler logs and counts it), and a spooled batch
    that fails that way is quarantined rather than retried forever.
    """

    def __init__(
        self,
        send: Callable[[Batch, str], object],
        spool: Spool,
        is_outage: Callable[[BaseException], bool],
        *,
        retry_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spool = spool
        self._send, self._is_outage, self._retry_s, self._clock = send, is_outage, retry_s, clock
        self._retry_at = 0.0
        self._flushing = threading.Lock()

    def deliver(self, batch: Batch, origin: str) -> None:
        """Send ``batch`` now, or spool it if the destination is down or a backlog is waiting."""
        if not batch:
            return
        if len(self.spool) or self.spool.pending():
            self.spool.put(batch, origin)
            self.flush()
            return
        try:
            self._send(batch, origin)
        except Exception as error:
            if not self._is_outage(error):
                raise
            self._outage(error, origin)
            self.spool.put(batch, origin)

    def flush(self) -> int:
        """Replay spooled batches oldest first until done or the destination fails; returns how many."""
        if self._clock() < self._retry_at or not self._flushing.acquire(blocking=False):
            return 0
        replayed = 0
        try:
            while files := self.spool.pending():
                for path in files:
                    try:
                        origin, batch = self.spool.load(path)
                    except FileNotFoundError:
                        continue
                    except (ValueError, KeyError, TypeError) as error:
                        moved = self.spool.quarantine(path, "corrupt")
                        log.error("spooled batch %s is unreadable (%s); moved to %s", path.name, error, moved)
                        continue
                    try:
                        self._send(batch, origin)
                    except Exception as error:  # noqa: BLE001 - anything but an outage means it can never be stored
                        if self._is_outage(error):
                            self._outage(error, origin)
                            return replayed
                        moved = self.spool.quarantine(path, "rejected")
                        log.error(
                            "spooled batch %s from %s cannot be stored (%s); moved to %s",
                            path.name,
                            origin,
                            error,
                            moved,
                        )
                        continue
                    self.spool.remove(path)
                    selfmetrics.SPOOL_REPLAYED.labels(origin).inc()
                    replayed += 1
        finally:
            self._flushing.release()
            if replayed:
                log.info("replayed %d spooled batch(es); %d waiting", replayed, len(self.spool))
        return replayed

    def _outage(self, error: BaseException, origin: str) -> None:
        self._retry_at = self._clock() + self._retry_s
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        log.warning("destination unavailable for %s (%s); spooling to %s", origin, first_line, self.spool.folder)
