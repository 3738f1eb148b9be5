"""An on-disk queue of batches that could not be delivered, replayed oldest first.

When the store is locked or down (or, for the agent, the central server is
unreachable) each batch is written to its own file in the spool folder. A file is
written under a temporary name, flushed to disk and then renamed, so a crash never
leaves half a batch. File names carry a sequence number, so sorting them gives the
order they were written in. The format is described in docs/collectors.md.

Policy when the spool is full (``spool_max_bytes``): the *new* batch is refused, an
error names the folder, its size and the setting to raise, and
``pulseboard_spool_refused_batches_total`` counts it. Older batches are kept, so
what is replayed is an unbroken stretch from the start of the outage.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import selfmetrics
from core.model import Batch, Event, Sample, now_ms

log = logging.getLogger(__name__)

FORMAT = "pulseboard-spool"
VERSION = 1
_NAME = re.compile(r"(\d{12})-(\d+)\.jsonl")


def encode(batch: Batch, origin: str) -> bytes:
    """A batch as spool JSON lines: one header line, then one line per sample or event."""
    header = {
        "format": FORMAT,
        "version": VERSION,
        "origin": origin,
        "created_ms": now_ms(),
        "samples": len(batch.samples),
        "events": len(batch.events),
    }
    lines = [json.dumps(header)]
    lines += [
        json.dumps(
            {"type": "sample", "name": s.name, "labels": dict(s.labels), "value": s.value, "ts": s.ts, "kind": s.kind}
        )
        for s in batch.samples
    ]
    lines += [
        json.dumps(
            {
                "type": "event",
                "id": e.id,
                "event_type": e.type,
                "ts": e.ts,
                "source": e.source,
                "data": e.data,
                "metadata": e.metadata,
            },
            default=str,
        )
        for e in batch.events
    ]
    return ("\n".join(lines) + "\n").encode()


def decode(data: bytes) -> tuple[str, Batch]:
    """(origin, batch) from spool JSON lines; ValueError if the file is not a complete spool file."""
    lines = data.decode().splitlines()
    header = json.loads(lines[0]) if lines else {}
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError("not a pulseboard spool file of a known version")
    samples, events = [], []
    for line in lines[1:]:
        item: dict[str, Any] = json.loads(line)
        if item["type"] == "sample":
            samples.append(
                Sample(
                    item["name"],
                    tuple(sorted(item["labels"].items())),
                    float(item["value"]),
                    int(item["ts"]),
                    item["kind"],
                )
            )
        else:
            events.append(
                Event(item["id"], item["event_type"], int(item["ts"]), item["source"], item["data"], item["metadata"])
            )
    if (len(samples), len(events)) != (header["samples"], header["events"]):
        raise ValueError("item count does not match the header")
    return str(header["origin"]), Batch(tuple(samples), tuple(events))


class Spool:
    """One folder of spooled batches, bounded by ``max_bytes``."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp"):  # left by a crash mid-write; never renamed, so never counted
            stale.unlink(missing_ok=True)
        self._lock = threading.Lock()
        self._full = False
        existing = [int(m.group(1)) for p in folder.iterdir() if (m := _NAME.fullmatch(p.name))]
        self._seq = max(existing, default=0)
        files = self.pending()
        self._count = len(files)
        self._bytes = sum(p.stat().st_size for p in files)
        self._publish()

    def pending(self) -> list[Path]:
        """Spooled batch files, oldest first."""
        return sorted(p for p in self.folder.iterdir() if _NAME.fullmatch(p.name))

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        """Bytes held by the batches waiting."""
        return self._bytes

    def put(self, batch: Batch, origin: str) -> bool:
        """Write ``batch`` as the newest file; False (and an error log) if the spool is full."""
        data = encode(batch, origin)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                selfmetrics.SPOOL_REFUSED.labels(origin).inc()
                if not self._full:
                    log.error(
                        "spool %s is full (%d of %d bytes): refusing new batches, starting with %d items from %s; "
                        "older batches are kept and replayed; raise PULSEBOARD_SPOOL_MAX_BYTES or restore the store",
                        self.folder,
                        self._bytes,
                        self.max_bytes,
                        len(batch),
                        origin,
                    )
                self._full = True
                return False
            if self._full:
                log.warning("spool %s accepts batches again", self.folder)
            self._full = False
            self._seq += 1
            final = self.folder / f"{self._seq:012d}-{os.getpid()}.jsonl"
            temporary = self.folder / f".{final.name}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
            self._bytes += len(data)
            self._count += 1
        selfmetrics.SPOOL_WRITTEN.labels(origin).inc()
        self._publish()
        return True

    def load(self, path: Path) -> tuple[str, Batch]:
        """(origin, batch) stored in ``path``."""
        return decode(path.read_bytes())

    def remove(self, path: Path) -> None:
        """Forget a delivered batch."""
        with self._lock:
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:  # another process sharing the folder delivered it
                return
            self._bytes = max(0, self._bytes - size)
            self._count = max(0, self._count - 1)
        self._publish()

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move a batch that can never be stored to ``rejected/``, kept for a human to inspect."""
        target = self.folder / "rejected" / path.name
        target.parent.mkdir(exist_ok=True)
        with self._lock:
            size = path.stat().st_size
            os.replace(path, target)
            self._bytes = max(0, self._bytes - size)
            self._count = max(0, self._count - 1)
        selfmetrics.SPOOL_QUARANTINED.labels(reason).inc()
        self._publish()
        return target

    def _publish(self) -> None:
        selfmetrics.SPOOL_BYTES.set(self._bytes)
        selfmetrics.SPOOL_BATCHES.set(self._count)


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
