"""Batches the HTTP API accepted while the store could not take them: spooled to disk, replayed in order.

A client that pushed a valid batch should not have to keep it because our store is
locked, down, read-only or full: :meth:`Backlog.submit` tries the store (with the API's
short lock timeout) and, when the failure means "try later"
(:func:`core.store.outage.describe_outage`), writes the batch to the API spool
(``data_dir/api-spool``, the same format and size bound as the collectors' spool) so the
API can answer 202. A thread replays the spool oldest first every ``spool_retry_s``
until it is empty, then exits; it is started again by the next spooled batch, and by
:func:`backlog_for` when a previous run left files behind.

Order is kept as the collectors' spool keeps it: while anything is spooled, new batches
queue behind it instead of overtaking it, so a correction sent after a spooled value
is not overwritten by the replay. Replay is safe to repeat (a crash between storing and
deleting a file): a sample keeps the timestamp it was given or stamped with on receipt,
so it overwrites itself, and events are stored once per id.

Retries: each spooled batch carries a key in its header — the client's
``Idempotency-Key`` (scoped to its feed), else a hash of the batch as decoded — and a
batch whose key is already waiting is not spooled twice. The hash covers timestamps, so
two pushes of an untimestamped reading a minute apart are two readings, not a retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from core import selfmetrics
from core.config import Settings
from core.ingest import BatchRejected, ingest
from core.ingest.health import note_failure
from core.ingest.idempotency import KeyLedger
from core.ingest.spool import Spool
from core.ingest.validate import Limits, check_batch
from core.ingest.writer import WriteResult
from core.model import Batch
from core.store import get_engine
from core.store.outage import HEALTH, Outage, describe_outage

log = logging.getLogger(__name__)

FOLDER = "api-spool"


@dataclass(frozen=True)
class Outcome:
    """What became of a submitted batch.

    ``status``: ``stored`` (``result`` says what changed), ``spooled`` (kept for replay),
    ``duplicate`` (the same batch is already waiting), ``refused`` (the store could not take
    it and neither could the spool: ``reason`` says why).
    """

    status: str
    result: WriteResult | None = None
    outage: Outage | None = None
    key: str = ""
    waiting: int = 0
    reason: str = ""


def content_key(batch: Batch, origin: str, feed: str | None) -> str:
    """``hash:<sha256>`` of the batch as decoded (timestamps included), its origin and feed."""
    digest = hashlib.sha256(f"{origin}\n{feed or ''}\n".encode())
    for s in batch.samples:
        digest.update(json.dumps([s.name, s.labels, s.value, s.ts, s.kind]).encode())
    for e in batch.events:
        digest.update(json.dumps([e.id, e.type, e.ts, e.source, e.data, e.metadata], default=str).encode())
    return f"hash:{digest.hexdigest()}"


class Backlog:
    """The API's spool of accepted batches, its replay thread and its idempotency keys."""

    def __init__(self, settings: Settings, engine: Callable[[], Engine] | None = None) -> None:
        self.settings = settings
        self.folder = settings.data_dir / FOLDER
        self._engine = engine or (lambda: get_engine(self.settings, lock_timeout_s=self.settings.api_store_timeout_s))
        self.keys = KeyLedger(self.folder / "keys.jsonl", settings.idempotency_ttl_s)
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._spool: Spool | None = None
        self._index: dict[str, Path] = {}
        if self.folder.exists():  # batches a previous run accepted and did not replay
            self._open()
            for path in self.spool.pending():
                try:
                    self._index[str(self.spool.header(path).get("key") or path.name)] = path
                except (OSError, ValueError):
                    continue  # replay quarantines it

    def _open(self) -> Spool:
        if self._spool is None:
            self._spool = Spool(
                self.folder,
                self.settings.api_spool_max_bytes,
                (selfmetrics.API_SPOOL_BATCHES, selfmetrics.API_SPOOL_BYTES),
                "PULSEBOARD_API_SPOOL_MAX_BYTES",
            )
        return self._spool

    @property
    def spool(self) -> Spool:
        """The spool folder, created on first use (a store that never failed leaves no folder behind)."""
        return self._open()

    def __len__(self) -> int:
        """Batches waiting for the store."""
        return len(self._spool) if self._spool is not None else 0

    def submit(
        self,
        batch: Batch,
        *,
        origin: str = "api",
        feed: str | None = None,
        key: str | None = None,
        outage: Outage | None = None,
    ) -> Outcome:
        """Store ``batch`` now, or spool it when the store is out (or ``outage`` is already known) or others wait.

        Raises :class:`core.ingest.BatchRejected` for an invalid batch either way: only a
        valid batch is ever accepted for later.
        """
        if len(self):
            key = key or content_key(batch, origin, feed)
            if key in self._index:
                return Outcome("duplicate", outage=HEALTH.current, key=key, waiting=len(self))
        if outage is None and not len(self):
            try:
                return Outcome(
                    "stored", result=ingest(self._engine(), batch, origin=origin, settings=self.settings, feed=feed)
                )
            except BatchRejected:
                raise
            except Exception as error:
                if describe_outage(error) is None:
                    raise
                outage = HEALTH.current or note_failure(error)
        else:
            problems = check_batch(batch, Limits.from_settings(self.settings))
            if problems:
                selfmetrics.INGEST_REJECTED.labels(origin).inc()
                raise BatchRejected(problems)
        return self._put(batch, origin, feed, key or content_key(batch, origin, feed), outage or HEALTH.current)

    def _put(self, batch: Batch, origin: str, feed: str | None, key: str, outage: Outage | None) -> Outcome:
        try:
            path = self.spool.put_entry(batch, origin, {"feed": feed or "", "key": key})
        except OSError as error:
            reason = f"the API spool {self.folder} cannot be written either ({error.strerror or error})"
            log.error("%s; refusing a batch of %d items from %s", reason, len(batch), feed or origin)
            return Outcome("refused", outage=outage, key=key, waiting=len(self), reason=reason)
        if path is None:
            reason = (
                f"the API spool is full ({self.spool.size_bytes} of {self.spool.max_bytes} bytes, "
                "PULSEBOARD_API_SPOOL_MAX_BYTES)"
            )
            return Outcome("refused", outage=outage, key=key, waiting=len(self), reason=reason)
        with self._lock:
            self._index[key] = path
        if len(self) == 1 and outage is not None:  # the first of an outage: say once what happens to the rest
            log.warning(
                "store %s (%s): API batches are spooled to %s and replayed every %s s",
                outage.condition,
                outage.detail,
                self.folder,
                self.settings.spool_retry_s,
            )
        self.ensure_replaying()
        return Outcome("spooled", outage=outage, key=key, waiting=len(self))

    def flush(self) -> int:
        """Replay spooled batches oldest first until done or the store refuses again; returns how many were stored."""
        if not len(self) or not self._flushing.acquire(blocking=False):
            return 0
        replayed = 0
        try:
            try:
                engine = self._engine()
            except Exception as error:
                if note_failure(error) is None:
                    raise
                return 0
            for path in self.spool.pending():
                try:
                    entry = self.spool.load_entry(path)
                except FileNotFoundError:
                    continue
                except (ValueError, KeyError, TypeError) as error:
                    self._forget(path)
                    log.error(
                        "API spool file %s is unreadable (%s); moved to %s",
                        path.name,
                        error,
                        self.spool.quarantine(path, "corrupt"),
                    )
                    continue
                try:
                    ingest(
                        engine,
                        entry.batch,
                        origin=entry.origin,
                        settings=self.settings,
                        feed=entry.header.get("feed") or None,
                    )
                except Exception as error:  # noqa: BLE001 - anything but an outage means it can never be stored
                    if describe_outage(error) is not None:
                        return replayed
                    self._forget(path)
                    moved = self.spool.quarantine(path, "rejected")
                    log.error("API spool batch %s cannot be stored (%s); moved to %s", path.name, error, moved)
                    continue
                self._forget(path)
                self.spool.remove(path)
                selfmetrics.SPOOL_REPLAYED.labels(entry.origin).inc()
                replayed += 1
        finally:
            self._flushing.release()
            if replayed:
                log.info(
                    "replayed %d batch(es) the API accepted during a store outage; %d waiting", replayed, len(self)
                )
        return replayed

    def _forget(self, path: Path) -> None:
        with self._lock:
            for key in [k for k, p in self._index.items() if p == path]:
                del self._index[key]

    def ensure_replaying(self) -> None:
        """Start the replay thread if batches wait and none runs."""
        with self._lock:
            if not len(self) or (self._thread is not None and self._thread.is_alive()) or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=f"api-spool-replay:{self.folder}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.spool_retry_s):
            try:
                self.flush()
            except Exception:  # logged; the thread must keep trying, or the spool would wait for the next batch
                log.exception("replaying the API spool failed")
            with self._lock:
                if not len(self):
                    self._thread = None
                    return

    def stop(self) -> None:
        """Stop the replay thread (tests, shutdown); spooled files stay for the next run."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=10)


_backlogs: dict[tuple[Path, str], Backlog] = {}
_backlogs_lock = threading.Lock()


def backlog_for(settings: Settings) -> Backlog:
    """The process-wide backlog of this data folder and store; starts replaying what a previous run left."""
    key = (settings.data_dir / FOLDER, settings.resolved_database_url)
    with _backlogs_lock:
        backlog = _backlogs.get(key)
        if backlog is None:
            backlog = _backlogs[key] = Backlog(settings)
        backlog.settings = settings  # the limits and timeouts of now (settings are reloaded in tests, not in service)
    backlog.ensure_replaying()
    return backlog
