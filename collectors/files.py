"""Tail the watched folder: event lines, evidence bundles and QSE session logs.

Line files (``*.events.jsonl``, ``EvidenceBundle.*.jsonl``) are read from the byte
offset saved in ``collector_state``, one complete line (ending in ``\\n``) at a time;
a trailing partial line waits for its newline. The offset is saved right after each
successful ingest, so a crash re-reads at most one chunk, and since event ids are
fixed by content that re-read stores nothing twice (at-least-once + idempotent).
A file whose inode changes was rotated: the old file is finished first if it is still
in the folder; a file shorter than its offset was truncated and is read from the start.
A bad line goes to ``rejected/<file>.rejected.jsonl`` with its error; its neighbours load.
``QSE-LOG-*.yaml`` files are whole documents, re-read when their content hash changes.
Because offsets must follow a successful write, this collector ingests by itself and
returns an empty batch to the runner.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from collectors.file_formats import FormatError, parse_event_line, parse_evidence_line, qse_log_events
from collectors.inbox import readable
from core.config import Settings, get_settings
from core.ingest import BatchRejected, ingest
from core.model import Batch, Event, now_ms
from core.store.collector_state import all_states, delete_state, put_state

log = logging.getLogger(__name__)

LINE_PATTERNS: dict[str, Callable[[str], Event]] = {
    "*.events.jsonl": parse_event_line,
    "EvidenceBundle.*.jsonl": parse_evidence_line,
}
DOCUMENT_PATTERNS = ("QSE-LOG-*.yaml", "QSE-LOG-*.yml")
CHUNK_BYTES = 1 << 20
HEAD_BYTES = 256  # a hash of a file's first bytes tells a rewritten file from the one we were reading
MAX_LINE_BYTES = 1 << 20
NAME = "files"


def file_feed(file_name: str) -> str:
    """The feed a watched file's events renew (docs/collectors.md#feeds-and-freshness).

    A tailed event file is a feed of its own (``files:workflow.events.jsonl``), so a quiet
    migration log is seen even while another file keeps arriving; a rotated copy
    (``….jsonl.1``) still belongs to it. QSE session logs and evidence bundles are one file
    per session or bundle, each finished once written: their feed is the kind of file
    (``files:QSE-LOG``, ``files:EvidenceBundle``), or every finished session would turn stale.
    """
    if any(fnmatch.fnmatch(file_name, pattern) for pattern in DOCUMENT_PATTERNS):
        return "files:QSE-LOG"
    if fnmatch.fnmatch(file_name, "EvidenceBundle.*"):
        return "files:EvidenceBundle"
    stem, _, suffix = file_name.rpartition(".")
    return f"files:{stem if stem and suffix.isdigit() else file_name}"


def quarantine(inbox: Path, file_name: str, error: str, line: str, **where: Any) -> None:
    """Append one rejected input with its error to rejected/<file>.rejected.jsonl."""
    folder = inbox / "rejected"
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "file": file_name,
        **where,
        "error": error,
        "line": line,
        "rejected_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with (folder / f"{file_name}.rejected.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    log.warning("rejected %s %s: %s", file_name, where, error)


def _same_head(path: Path, state: dict[str, Any]) -> bool:
    """True when the file still starts with the bytes we saw, so the saved offset belongs to it."""
    length = int(state.get("head_len", 0))
    if not length:
        return True
    with path.open("rb") as handle:
        return hashlib.sha256(handle.read(length)).hexdigest() == state.get("head")


class FileCollector:
    """Watches ``inbox`` for the event, evidence and QSE log formats of docs/formats.md."""

    name = NAME

    def __init__(
        self,
        engine: Engine,
        inbox: Path,
        *,
        settings: Settings | None = None,
        interval: float = 5.0,
        max_bytes_per_collect: int = 1 << 30,
    ) -> None:
        self.engine, self.inbox, self.interval = engine, Path(inbox), interval
        self.settings = settings or get_settings()
        self.max_bytes_per_collect = max_bytes_per_collect
        self.lines_per_batch = max(1, min(5_000, self.settings.max_batch_items))

    def collect(self) -> Batch:
        """Read whatever is new in every watched file; data is ingested here, not returned."""
        if not self.inbox.is_dir():
            return Batch()
        states = all_states(self.engine, NAME)
        for path in sorted(p for p in self.inbox.iterdir() if readable(self.inbox, p)):
            parser = next((f for pattern, f in LINE_PATTERNS.items() if fnmatch.fnmatch(path.name, pattern)), None)
            if parser is not None:
                self._tail(path, parser, states)
            elif any(fnmatch.fnmatch(path.name, pattern) for pattern in DOCUMENT_PATTERNS):
                self._document(path, states)
        for key in [k for k in states if not (self.inbox / k).exists()]:
            # a vanished file's inode may be reused by a new one; its old offset must not be adopted
            delete_state(self.engine, NAME, key)
        return Batch()

    # -- line files -------------------------------------------------------------------

    def _tail(self, path: Path, parser: Callable[[str], Event], states: dict[str, dict[str, Any]]) -> None:
        stat = path.stat()
        state = states.get(path.name)
        if state is None:  # a renamed file we already know by inode keeps its offset
            state = next(
                (
                    s
                    for s in states.values()
                    if s.get("kind") == "lines"
                    and s.get("inode") == stat.st_ino
                    and s.get("dev") == stat.st_dev
                    and _same_head(path, s)
                ),
                None,
            )
        if state is not None and state.get("inode") != stat.st_ino:
            self._finish_rotated(path.name, state, parser, states)
            state = None
        offset, lines = (state["offset"], state.get("lines", 0)) if state else (0, 0)
        if state is not None and (stat.st_size < offset or not _same_head(path, state)):
            log.info("%s was truncated or rewritten; reading it from the start", path.name)
            offset, lines = 0, 0
        self._read(path, parser, offset, lines, states)

    def _finish_rotated(
        self, key: str, state: dict[str, Any], parser: Callable[[str], Event], states: dict[str, dict[str, Any]]
    ) -> None:
        """The path now holds a new file; read the rest of the old one if it is still here under another name."""
        if any(
            k != key and s.get("inode") == state.get("inode") and s.get("dev") == state.get("dev")
            for k, s in states.items()
        ):
            return  # already tracked under its new name
        for other in self.inbox.iterdir():
            try:
                stat = other.stat()
            except OSError:
                continue
            if (
                readable(self.inbox, other)
                and other.name != key
                and stat.st_ino == state.get("inode")
                and stat.st_dev == state.get("dev")
            ):
                self._read(other, parser, state["offset"], state.get("lines", 0), states)
                return

    def _read(
        self, path: Path, parser: Callable[[str], Event], offset: int, lines: int, states: dict[str, dict[str, Any]]
    ) -> None:
        budget = self.max_bytes_per_collect
        with path.open("rb") as handle:
            handle.seek(offset)
            pending = b""
            while budget > 0:
                chunk = handle.read(CHUNK_BYTES)
                if not chunk:
                    break
                budget -= len(chunk)
                pending += chunk
                cut = pending.rfind(b"\n")
                if cut < 0:
                    if len(pending) > MAX_LINE_BYTES:  # no newline in sight: give up on this line, not the file
                        rest = handle.readline()
                        if not rest.endswith(b"\n"):
                            break
                        lines += 1
                        quarantine(
                            self.inbox,
                            path.name,
                            f"line longer than {MAX_LINE_BYTES} bytes",
                            pending[:1000].decode("utf-8", "replace"),
                            line_number=lines,
                            offset=offset,
                        )
                        offset += len(pending) + len(rest)
                        pending = b""
                        self._save(path, offset, lines, states)
                    continue
                complete, pending = pending[: cut + 1], pending[cut + 1 :]
                lines = self._load(path.name, complete, offset, lines, parser)
                offset += len(complete)
                self._save(path, offset, lines, states, partial=len(pending))

    def _load(self, name: str, block: bytes, offset: int, lines: int, parser: Callable[[str], Event]) -> int:
        """Parse complete lines, quarantine the bad ones, ingest the rest in batches; returns the new line count."""
        good: list[tuple[Event, int, str]] = []
        position = offset
        for raw in block.splitlines(keepends=True):
            lines += 1
            start, position = position, position + len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                quarantine(
                    self.inbox,
                    name,
                    f"not UTF-8: {error}",
                    raw.decode("utf-8", "replace").rstrip("\r\n"),
                    line_number=lines,
                    offset=start,
                )
                continue
            if not text.strip():
                continue
            try:
                good.append((parser(text), lines, text.rstrip("\r\n")))
            except FormatError as error:
                quarantine(self.inbox, name, str(error), text.rstrip("\r\n"), line_number=lines, offset=start)
            if len(good) >= self.lines_per_batch:
                self._ingest(name, good)
                good = []
        self._ingest(name, good)
        return lines

    def _ingest(self, name: str, items: list[tuple[Event, int, str]]) -> None:
        while items:
            try:
                ingest(
                    self.engine,
                    Batch(events=tuple(e for e, _, _ in items)),
                    origin="files",
                    settings=self.settings,
                    feed=file_feed(name),
                )
                return
            except BatchRejected as rejected:
                bad: dict[int, str] = {}
                for problem in rejected.problems:
                    if problem.index >= 0:
                        bad.setdefault(problem.index, f"{problem.field}: {problem.message}")
                if not bad:
                    raise
                for index, message in sorted(bad.items()):
                    _, number, text = items[index]
                    quarantine(self.inbox, name, message, text, line_number=number)
                items = [item for index, item in enumerate(items) if index not in bad]

    def _save(self, path: Path, offset: int, lines: int, states: dict[str, dict[str, Any]], partial: int = 0) -> None:
        stat = path.stat()
        with path.open("rb") as handle:
            head = handle.read(min(offset, HEAD_BYTES))
        state = {
            "kind": "lines",
            "path": path.name,
            "inode": stat.st_ino,
            "dev": stat.st_dev,
            "offset": offset,
            "lines": lines,
            "size": stat.st_size,
            "partial_bytes": partial,
            "head": hashlib.sha256(head).hexdigest(),
            "head_len": len(head),
            "read_ms": now_ms(),
        }
        put_state(self.engine, NAME, path.name, state)
        states[path.name] = state

    # -- whole documents --------------------------------------------------------------

    def _document(self, path: Path, states: dict[str, dict[str, Any]]) -> None:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        state = states.get(path.name)
        if state is not None and state.get("sha256") == digest:
            return
        outcome: dict[str, Any] = {
            "kind": "document",
            "path": path.name,
            "sha256": digest,
            "size": len(data),
            "read_ms": now_ms(),
        }
        try:
            events = qse_log_events(data.decode("utf-8"))
            ingest(
                self.engine,
                Batch(events=tuple(events)),
                origin="files",
                settings=self.settings,
                feed=file_feed(path.name),
            )
            outcome["events"] = len(events)
        except (FormatError, UnicodeDecodeError, BatchRejected) as error:
            message = (
                str(error) if not isinstance(error, BatchRejected) else f"event {error.problems[0].index}: {error}"
            )
            self._reject_document(path, data, digest, message)
            outcome["error"] = message
        put_state(self.engine, NAME, path.name, outcome)
        states[path.name] = outcome

    def _reject_document(self, path: Path, data: bytes, digest: str, message: str) -> None:
        folder = self.inbox / "rejected"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{path.name}.{digest[:12]}.rejected").write_bytes(data)
        quarantine(
            self.inbox,
            path.name,
            message,
            f"(whole document, copied to rejected/{path.name}.{digest[:12]}.rejected)",
            sha256=digest,
        )


def build(settings: Settings, engine: Engine | None) -> list[FileCollector]:
    """Registry factory: watches settings.inbox_dir every settings.files_interval_s (needs the store)."""
    if engine is None:
        return []
    return [FileCollector(engine, settings.inbox_dir, settings=settings, interval=settings.files_interval_s)]
