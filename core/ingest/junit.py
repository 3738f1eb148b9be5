"""JUnit XML reports → test runs for the QA and migration pages.

One parser serves the inbox watcher and ``POST /api/v1/junit``. It reads pytest
``--junitxml``, Maven Surefire/TestNG, Ant and xmlrunner output, including nested
``<testsuites>``. Counts are computed from the ``<testcase>`` elements found, never
taken from the header attributes, because real reports disagree with their own
contents (pytest subtests, JENKINS-42438, nested suites). XML is parsed with
defusedxml and any DTD is refused, so entity expansion and external entities
cannot reach the parser. Elements nested deeper than :data:`MAX_DEPTH` are refused too:
real reports are a few levels deep, and the walk over suites must not run out of stack
(a 50,000-deep file once answered 500).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from xml.etree.ElementTree import Element, ParseError

import sqlalchemy as sa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from sqlalchemy.engine import Engine

from core.ingest.feeds import MAX_FEED_CHARS, FeedMark, record_feed
from core.model import now_ms
from core.store import schema

MAX_MESSAGE_CHARS = 4_000
MAX_DEPTH = 64  # element nesting; pytest, Surefire and Ant write 3 or 4 levels, nested suites a few more
XML_CONTENT_TYPES = ("application/xml", "text/xml")
STATUSES = ("passed", "failed", "error", "skipped")
_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}  # an error outranks a failure, which outranks a skip
_STATUS_OF_CHILD = {"failure": "failed", "error": "error", "skipped": "skipped"}


class JunitError(ValueError):
    """A report that cannot be stored; ``kind`` picks the HTTP status, the message says why."""

    STATUS: ClassVar[dict[str, int]] = {
        "malformed": 400,
        "hostile": 400,
        "too_deep": 400,
        "too_large": 413,
        "content_type": 415,
        "not_junit": 422,
    }

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def status(self) -> int:
        """HTTP status for this kind of problem."""
        return self.STATUS.get(self.kind, 400)


@dataclass(frozen=True, slots=True)
class TestCase:
    """One executed test; ``status`` is one of STATUSES."""

    __test__ = False  # not a pytest class

    suite: str
    classname: str | None
    name: str
    status: str
    duration_s: float
    message: str | None = None


@dataclass(frozen=True)
class TestRun:
    """A parsed report: its cases, and counts computed from them (the header is kept only for display)."""

    __test__ = False

    suite: str
    cases: tuple[TestCase, ...]
    duration_s: float
    ts: int | None
    digest: str
    header: dict[str, str] = field(default_factory=dict)

    def count(self, status: str) -> int:
        """How many cases ended with ``status``."""
        return sum(1 for case in self.cases if case.status == status)

    @property
    def tests(self) -> int:
        """Cases found, including errors reported directly on a suite."""
        return len(self.cases)

    @property
    def failures(self) -> int:
        """Cases with a <failure>."""
        return self.count("failed")

    @property
    def errors(self) -> int:
        """Cases (or suites) with an <error>."""
        return self.count("error")

    @property
    def skipped(self) -> int:
        """Cases with <skipped>."""
        return self.count("skipped")

    def summary(self) -> dict[str, int]:
        """The counts the API returns."""
        return {"tests": self.tests, "failures": self.failures, "errors": self.errors, "skipped": self.skipped}


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _seconds(value: str | None) -> float:
    """A ``time`` attribute as seconds; junk, NaN and negatives become 0 rather than fail the report."""
    if not value:
        return 0.0
    try:
        seconds = float(value.replace(",", ""))
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _timestamp(value: str | None) -> int | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _message(element: Element) -> str | None:
    """message attribute and body text, cut to MAX_MESSAGE_CHARS with a note of what was cut."""
    parts = [element.get("message") or "", (element.text or "").strip()]
    text = "\n".join(part for part in parts if part).replace("\r", "")
    if not text:
        return element.get("type") or None
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"\n… ({len(text) - MAX_MESSAGE_CHARS} more characters)"
    return text


def _case(element: Element, suite: str) -> TestCase:
    status, message = "passed", None
    for child in element:
        found = _STATUS_OF_CHILD.get(_local(child.tag))
        if found and _RANK[found] > _RANK[status]:
            status, message = found, _message(child)
    name = element.get("name") or "(unnamed)"
    return TestCase(suite, element.get("classname"), name, status, _seconds(element.get("time")), message)


def _walk(element: Element, parent: str, cases: list[TestCase]) -> None:
    suite = element.get("name") or parent
    for child in element:
        tag = _local(child.tag)
        if tag == "testcase":
            cases.append(_case(child, suite or child.get("classname") or "(unnamed)"))
        elif tag == "testsuite":
            _walk(child, suite, cases)
        elif tag in ("error", "failure"):
            # a suite that could not run reports its error here, outside any testcase
            status = _STATUS_OF_CHILD[tag]
            cases.append(
                TestCase(suite or "(unnamed)", None, f"{suite or 'suite'} (suite {tag})", status, 0.0, _message(child))
            )


def _common_name(names: list[str]) -> str:
    """The dotted prefix the top-level suites share ("org.apache.pulsar"), or "junit"."""
    parts = [name.split(".") for name in names if name]
    if not parts:
        return "junit"
    if len(parts) == 1:
        return ".".join(parts[0])
    common: list[str] = []
    for words in zip(*parts, strict=False):
        if len(set(words)) != 1:
            break
        common.append(words[0])
    return ".".join(common) or "junit"


def _check_depth(root: Element) -> None:
    """Refuse elements nested deeper than MAX_DEPTH, before anything walks the tree recursively.

    A loop over an explicit stack, so the check itself cannot exhaust the stack it protects.
    """
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JunitError(
                "too_deep",
                f"elements are nested more than {MAX_DEPTH} levels deep (<{_local(element.tag)[:40]}>); "
                f"a JUnit report needs a few, at most {MAX_DEPTH} are accepted",
            )
        stack.extend((child, depth + 1) for child in element)


def parse_junit(data: bytes) -> TestRun:
    """Parse a JUnit XML report; raises JunitError ('hostile', 'malformed', 'too_deep' or 'not_junit')."""
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        raise JunitError(
            "hostile",
            f"refused: the XML declares a DTD or entities ({type(error).__name__}); JUnit reports need neither",
        ) from None
    except ParseError as error:
        raise JunitError("malformed", f"not well-formed XML: {error}") from None
    _check_depth(root)
    tag = _local(root.tag)
    if tag not in ("testsuites", "testsuite"):
        raise JunitError("not_junit", f"root element is <{tag}>, expected <testsuites> or <testsuite>")
    cases: list[TestCase] = []
    _walk(root, "", cases)
    suites = [root] if tag == "testsuite" else [c for c in root if _local(c.tag) == "testsuite"]
    if not cases and not suites:
        raise JunitError("not_junit", "no <testsuite> or <testcase> elements found")
    name = root.get("name") or _common_name([s.get("name") or "" for s in suites])
    duration = (
        _seconds(root.get("time")) or sum(_seconds(s.get("time")) for s in suites) or sum(c.duration_s for c in cases)
    )
    stamp = next(
        (ts for s in root.iter() if _local(s.tag) == "testsuite" and (ts := _timestamp(s.get("timestamp")))), None
    )
    header = {k: v for k, v in root.attrib.items() if k in ("tests", "failures", "errors", "skipped")}
    return TestRun(name, tuple(cases), round(duration, 6), stamp, hashlib.sha256(data).hexdigest(), header)


def run_key(run: TestRun, labels: Mapping[str, str]) -> str:
    """Identity of a stored run: the same bytes pushed with the same labels are stored once."""
    digest = hashlib.sha256(run.digest.encode())
    digest.update(json.dumps(dict(sorted(labels.items())), separators=(",", ":")).encode())
    return digest.hexdigest()


def store_test_run(
    engine: Engine,
    run: TestRun,
    labels: Mapping[str, str],
    *,
    feed: str | None = None,
    feed_interval_s: float | None = None,
) -> int:
    """Write the run and its cases in one transaction and return its id; idempotent on run_key.

    Labels read: ``suite`` (overrides the report's name), ``component``, ``phase``,
    ``source`` (default "junit"), ``commit`` (the commit tested, cut to 64 characters), ``run_key``
    (to supply your own identity). Reports do not pass through :func:`core.ingest.ingest`, so a
    new run renews ``feed`` here, in the same transaction (core/ingest/feeds.py); a report stored
    before renews nothing.
    """
    key = labels.get("run_key") or run_key(run, labels)
    runs, cases = schema.test_runs, schema.test_cases
    with engine.begin() as connection:
        existing = connection.scalar(sa.select(runs.c.id).where(runs.c.run_key == key))
        if existing is not None:
            return int(existing)
        row: dict[str, Any] = {
            "run_key": key,
            "suite": (labels.get("suite") or run.suite)[:256],
            "component": (labels.get("component") or None),
            "phase": labels.get("phase") or None,
            "source": (labels.get("source") or "junit")[:128],
            "ts": run.ts if run.ts is not None else now_ms(),
            "duration_s": run.duration_s,
            "commit": (labels.get("commit") or None) and labels["commit"][:64],
            **run.summary(),
        }
        run_id = int(connection.execute(sa.insert(runs).values(row).returning(runs.c.id)).scalar_one())
        rows = [
            {
                "run_id": run_id,
                "seq": seq,
                "suite": case.suite[:512],
                "classname": (case.classname or None) and case.classname[:512],
                "name": case.name[:512],
                "status": case.status,
                "duration_s": case.duration_s,
                "message": case.message,
            }
            for seq, case in enumerate(run.cases)
        ]
        for start in range(0, len(rows), 1000):
            connection.execute(sa.insert(cases), rows[start : start + 1000])
        if feed is not None:
            interval = None if feed_interval_s is None else max(1, round(feed_interval_s * 1000))
            record_feed(connection, FeedMark(feed[:MAX_FEED_CHARS], row["ts"], 1, interval), now_ms())
    return run_id


def receive_junit(
    engine: Engine,
    body: bytes,
    content_type: str | None,
    labels: Mapping[str, str],
    max_bytes: int,
    feed: str | None = None,
) -> dict[str, int]:
    """What POST /api/v1/junit does: check type and size, parse, store; returns run_id and counts.

    ``feed`` is the pushing token's feed (``api:<token name>``). Raises JunitError whose
    ``status`` is the HTTP status to answer with (400/413/415/422).
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in XML_CONTENT_TYPES:
        raise JunitError(
            "content_type", f"Content-Type {media or '(none)'!r} is not accepted; send application/xml or text/xml"
        )
    if len(body) > max_bytes:
        raise JunitError("too_large", f"report is {len(body)} bytes, at most {max_bytes} accepted")
    run = parse_junit(body)
    clean = {k: str(v)[:128] for k, v in labels.items() if v}
    return {"run_id": store_test_run(engine, run, {"source": "api", **clean}, feed=feed), **run.summary()}
