"""JUnit XML reports dropped into the watched folder become test runs.

``*.xml`` directly in the inbox are stored without component/phase; reports under
``inbox/junit/<component>/`` or ``inbox/junit/<component>/<phase>/`` carry those
labels, which is how a CI job without HTTP access feeds the migration page. Each
report is processed once per content (its sha256 is remembered in collector_state)
and left where it is, so a CI job may keep overwriting the same path. A file younger
than ``min_age_s`` is left for the next round, as it may still be being written.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.engine import Engine

from collectors.files import quarantine
from collectors.inbox import readable
from core.config import Settings
from core.ingest.junit import JunitError, parse_junit, store_test_run
from core.model import Batch, now_ms
from core.store.collector_state import get_state, put_state

log = logging.getLogger(__name__)

NAME = "junit_files"
MAX_REPORT_BYTES = 200_000_000


def junit_feed(labels: dict[str, str]) -> str:
    """``files:junit/<component>`` for reports under inbox/junit/<component>/, else ``files:junit``.

    One feed per component, because a CI job per component (a migration's test suite) can
    stop on its own while the others carry on.
    """
    return f"files:junit/{labels['component']}" if labels.get("component") else "files:junit"


class JunitFileCollector:
    """Stores each new or changed JUnit report in the inbox once; returns an empty batch."""

    name = NAME

    def __init__(
        self,
        engine: Engine,
        inbox: Path,
        *,
        interval: float = 15.0,
        min_age_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine, self.inbox, self.interval = engine, Path(inbox), interval
        self.min_age_s, self.clock = min_age_s, clock

    def reports(self) -> Iterator[tuple[Path, dict[str, str]]]:
        """Every watched report with the labels its location gives it."""
        if not self.inbox.is_dir():
            return
        for path in sorted(self.inbox.glob("*.xml")):
            if readable(self.inbox, path):
                yield path, {}
        folder = self.inbox / "junit"
        for path in sorted(folder.rglob("*.xml")) if folder.is_dir() else []:
            if not readable(self.inbox, path):
                continue
            parts = path.relative_to(folder).parts[:-1]
            labels = {"component": parts[0]} if parts else {}
            if len(parts) > 1:
                labels["phase"] = parts[1]
            yield path, labels

    def collect(self) -> Batch:
        """Parse and store reports not seen before; bad ones are quarantined once per content."""
        for path, labels in self.reports():
            try:
                stat = path.stat()
            except OSError:
                continue
            if self.clock() - stat.st_mtime < self.min_age_s:
                continue
            if stat.st_size > MAX_REPORT_BYTES:
                self._reject_once(
                    path, f"size:{stat.st_size}:{stat.st_mtime_ns}", f"report larger than {MAX_REPORT_BYTES} bytes"
                )
                continue
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if get_state(self.engine, NAME, digest) is not None:
                continue
            try:
                run = parse_junit(data)
            except JunitError as error:
                self._reject_once(path, digest, f"{error.kind}: {error}")
                continue
            run_id = store_test_run(self.engine, run, {"source": "inbox", **labels}, feed=junit_feed(labels))
            put_state(
                self.engine,
                NAME,
                digest,
                {"path": str(path.relative_to(self.inbox)), "run_id": run_id, "read_ms": now_ms(), **run.summary()},
            )
            log.info("stored JUnit report %s as run %d (%d tests)", path.name, run_id, run.tests)
        return Batch()

    def _reject_once(self, path: Path, key: str, message: str) -> None:
        if get_state(self.engine, NAME, key) is None:
            quarantine(self.inbox, path.name, message, f"(report left in place: {path.relative_to(self.inbox)})")
            put_state(
                self.engine,
                NAME,
                key,
                {"path": str(path.relative_to(self.inbox)), "error": message, "read_ms": now_ms()},
            )


def build(settings: Settings, engine: Engine | None) -> list[JunitFileCollector]:
    """Registry factory: watches settings.inbox_dir for JUnit XML (needs the store)."""
    if engine is None:
        return []
    return [JunitFileCollector(engine, settings.inbox_dir, interval=settings.files_interval_s * 3)]
