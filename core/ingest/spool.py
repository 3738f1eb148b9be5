"""An on-disk queue of batches that could not be stored yet, replayed oldest first.

When the store is locked or down (or, for the agent, the central server is
unreachable) each batch is written to its own file in a spool folder. A file is
written under a temporary name, flushed to disk and then renamed, so a crash never
leaves half a batch. File names carry a sequence number, so sorting them gives the
order they were written in. The format is described in docs/collectors.md.

Policy when the spool is full (``max_bytes``): the *new* batch is refused, an
error names the folder, its size and the setting to raise, and
``pulseboard_spool_refused_batches_total`` counts it. Older batches are kept, so
what is replayed is an unbroken stretch from the start of the outage.

It lives in core/ingest, not collectors/, because the HTTP API spools the batches it
accepted during a store outage too (core/ingest/backlog.py) and core never imports
collectors/; collectors/spool.py adds the collectors' delivery loop on top. The header
may carry more string fields (the API's ``feed`` and idempotency ``key``); readers of
older files find them absent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import Gauge

from core import selfmetrics
from core.model import Batch, Event, Sample, now_ms

log = logging.getLogger(__name__)

FORMAT = "pulseboard-spool"
VERSION = 1
_NAME = re.compile(r"(\d{12})-(\d+)\.jsonl")


def encode(batch: Batch, origin: str, extra: Mapping[str, str] | None = None) -> bytes:
    """A batch as spool JSON lines: one header line (with ``extra`` fields), then one line per sample or event."""
    header = {
        **(extra or {}),
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


@dataclass(frozen=True)
class Entry:
    """One spooled batch with its header (``origin``, and whatever ``extra`` it was written with)."""

    origin: str
    batch: Batch
    header: dict[str, Any]


def _header(line: str) -> dict[str, Any]:
    header = json.loads(line) if line else {}
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError("not a pulseboard spool file of a known version")
    return header


def decode(data: bytes) -> tuple[str, Batch]:
    """(origin, batch) from spool JSON lines; ValueError if the file is not a complete spool file."""
    entry = decode_entry(data)
    return entry.origin, entry.batch


def decode_entry(data: bytes) -> Entry:
    """The :class:`Entry` in spool JSON lines; ValueError if the file is not a complete spool file."""
    lines = data.decode().splitlines()
    header = _header(lines[0] if lines else "")
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
    return Entry(str(header["origin"]), Batch(tuple(samples), tuple(events)), header)


class Spool:
    """One folder of spooled batches, bounded by ``max_bytes``.

    ``gauges`` (batches waiting, their bytes) default to the collectors' spool metrics; a
    second spool in the same process (the API's) passes its own, or the two would
    overwrite each other's values. ``setting`` is what the "spool is full" error tells to raise.
    """

    def __init__(
        self,
        folder: Path,
        max_bytes: int,
        gauges: tuple[Gauge, Gauge] = (selfmetrics.SPOOL_BATCHES, selfmetrics.SPOOL_BYTES),
        setting: str = "PULSEBOARD_SPOOL_MAX_BYTES",
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._gauges, self._setting = gauges, setting
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
        return self.put_entry(batch, origin) is not None

    def put_entry(self, batch: Batch, origin: str, extra: Mapping[str, str] | None = None) -> Path | None:
        """Write ``batch`` (header fields ``extra``) as the newest file and return it; None if the spool is full.

        Raises OSError when the folder cannot be written (its disk is full or read-only too).
        """
        data = encode(batch, origin, extra)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                selfmetrics.SPOOL_REFUSED.labels(origin).inc()
                if not self._full:
                    log.error(
                        "spool %s is full (%d of %d bytes): refusing new batches, starting with %d items from %s; "
                        "older batches are kept and replayed; raise %s or restore the store",
                        self.folder,
                        self._bytes,
                        self.max_bytes,
                        len(batch),
                        origin,
                        self._setting,
                    )
                self._full = True
                return None
            if self._full:
                log.warning("spool %s accepts batches again", self.folder)
            self._full = False
            self._seq += 1
            final = self.folder / f"{self._seq:012d}-{os.getpid()}.jsonl"
            temporary = self.folder / f".{final.name}.tmp"
            try:
                with open(temporary, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, final)
            except OSError:
                temporary.unlink(missing_ok=True)
                raise
            self._bytes += len(data)
            self._count += 1
        selfmetrics.SPOOL_WRITTEN.labels(origin).inc()
        self._publish()
        return final

    def load(self, path: Path) -> tuple[str, Batch]:
        """(origin, batch) stored in ``path``."""
        return decode(path.read_bytes())

    def load_entry(self, path: Path) -> Entry:
        """The batch stored in ``path`` with its whole header."""
        return decode_entry(path.read_bytes())

    @staticmethod
    def header(path: Path) -> dict[str, Any]:
        """The header of ``path`` alone (its first line), for indexing a folder without reading every batch."""
        with open(path, "rb") as handle:
            return _header(handle.readline().decode())

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
        batches, size = self._gauges
        batches.set(self._count)
        size.set(self._bytes)
