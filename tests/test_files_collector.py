"""The watched-folder collector on real files: partial lines, restarts, rotation, truncation, bad lines, 50 MB."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from collectors.file_formats import FormatError, load_qse_log, parse_event_line, parse_evidence_line
from collectors.files import FileCollector
from core.config import Settings
from core.model import now_ms
from core.store import schema
from core.store.collector_state import get_state

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def line(n: int, *, tag: str = "t", pad: int = 0, ts: int | None = None) -> str:
    event = {
        "id": f"{tag}-{n}",
        "type": "workflow.pr_created",
        "timestamp": (ts or now_ms() - 60_000) / 1000,
        "source": "test",
        "data": {"pr_number": n, "pad": "x" * pad},
    }
    return json.dumps(event) + "\n"


def stored(engine: Engine, prefix: str = "") -> list[str]:
    with engine.connect() as connection:
        ids = connection.scalars(sa.select(schema.events.c.id).where(schema.events.c.id.like(prefix + "%"))).all()
    return sorted(ids)


def rejected(inbox: Path, name: str) -> list[dict[str, object]]:
    path = inbox / "rejected" / f"{name}.rejected.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def inbox(settings: Settings) -> Path:
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    return settings.inbox_dir


@pytest.fixture
def collector(engine: Engine, settings: Settings, inbox: Path) -> FileCollector:
    return FileCollector(engine, inbox, settings=settings)


def test_samples_load(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    for name in ("sample.events.jsonl", "EvidenceBundle.sample.jsonl", "QSE-LOG-sample.yaml"):
        shutil.copy(SAMPLES / name, inbox / name)
    assert len(collector.collect()) == 0  # ingested directly, nothing left for the runner
    assert len(stored(engine, "evt-")) == 6
    assert stored(engine, "evb-") == ["evb-EB-2025-0817-A-001", "evb-EB-2025-0817-A-002", "evb-EB-2025-0817-A-003"]
    assert len(stored(engine, "qse-QSE-2025-0817-A")) == 16
    assert not (inbox / "rejected").exists()


def test_partial_line_waits_for_its_newline(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    path = inbox / "a.events.jsonl"
    whole = line(3)
    path.write_text(line(1) + line(2) + whole[:20])
    collector.collect()
    assert stored(engine) == ["t-1", "t-2"]
    assert get_state(engine, "files", "a.events.jsonl")["partial_bytes"] == 20  # type: ignore[index]
    with path.open("a") as out:
        out.write(whole[20:])
    collector.collect()
    assert stored(engine) == ["t-1", "t-2", "t-3"]


def test_restart_mid_file_neither_loses_nor_duplicates(engine: Engine, settings: Settings, inbox: Path) -> None:
    path = inbox / "b.events.jsonl"
    path.write_text(line(1) + "not json\n" + line(2))
    FileCollector(engine, inbox, settings=settings).collect()
    with path.open("a") as out:
        out.write(line(3) + line(4))
    FileCollector(engine, inbox, settings=settings).collect()  # a new process: state comes from the store
    assert stored(engine) == ["t-1", "t-2", "t-3", "t-4"]
    assert len(rejected(inbox, "b.events.jsonl")) == 1  # the bad line was not read twice
    assert get_state(engine, "files", "b.events.jsonl")["lines"] == 5  # type: ignore[index]


def test_crash_before_offset_saved_rereads_without_duplicates(
    collector: FileCollector, engine: Engine, inbox: Path
) -> None:
    (inbox / "c.events.jsonl").write_text(line(1) + line(2))
    collector.collect()
    with engine.begin() as connection:  # as if the process died after ingest, before saving the offset
        connection.execute(sa.delete(schema.collector_state))
    collector.collect()
    with engine.connect() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(schema.events)) == 2


def test_malformed_lines_in_the_middle_are_quarantined(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    future = now_ms() + 86_400_000
    body = line(1) + line(2) + "{broken json\n" + line(3, ts=future) + '{"id": "x"}\n' + "\n" + line(4) + line(5)
    (inbox / "d.events.jsonl").write_text(body)
    collector.collect()
    assert stored(engine) == ["t-1", "t-2", "t-4", "t-5"]
    records = rejected(inbox, "d.events.jsonl")
    assert [r["line_number"] for r in records] == [3, 5, 4]
    assert "not valid JSON" in str(records[0]["error"])
    assert "type" in str(records[1]["error"]) and "future" in str(records[2]["error"])
    assert records[0]["line"] == "{broken json"


def test_truncated_file_is_read_from_the_start(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    path = inbox / "e.events.jsonl"
    path.write_text("".join(line(n) for n in range(1, 6)))
    collector.collect()
    path.write_text(line(10))  # same inode, shorter
    collector.collect()
    assert "t-10" in stored(engine)
    path.write_text("".join(line(n, tag="big", pad=50) for n in range(1, 8)))  # rewritten longer: the head differs
    collector.collect()
    assert len(stored(engine, "big-")) == 7


def test_rotated_file_is_finished_then_the_new_one_read(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    path = inbox / "f.events.jsonl"
    path.write_text(line(1) + line(2))
    collector.collect()
    with path.open("a") as out:
        out.write(line(3) + line(4))  # written just before rotation, not yet read
    os.rename(path, inbox / "f.events.jsonl.1")
    path.write_text(line(5) + line(6))
    collector.collect()
    assert stored(engine) == [f"t-{n}" for n in range(1, 7)]


def test_rotation_to_a_watched_name_keeps_the_offset(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    path = inbox / "g.events.jsonl"
    path.write_text(line(1) + "garbage\n")
    collector.collect()
    os.rename(path, inbox / "g-old.events.jsonl")
    path.write_text(line(2))
    collector.collect()
    assert stored(engine) == ["t-1", "t-2"]
    assert len(rejected(inbox, "g.events.jsonl")) + len(rejected(inbox, "g-old.events.jsonl")) == 1


def test_fifty_megabyte_file_with_a_bad_line(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    path = inbox / "big.events.jsonl"
    count = 10_000
    with path.open("w") as out:
        for n in range(count):
            out.write(line(n, tag="big", pad=5_000) if n != count // 2 else "{oops\n")
    assert path.stat().st_size > 50_000_000
    collector.collect()
    assert len(stored(engine, "big-")) == count - 1
    assert [r["line_number"] for r in rejected(inbox, "big.events.jsonl")] == [count // 2 + 1]
    assert get_state(engine, "files", "big.events.jsonl")["offset"] == path.stat().st_size  # type: ignore[index]


def test_bad_evidence_and_bad_yaml_are_rejected_with_reasons(
    collector: FileCollector, engine: Engine, inbox: Path
) -> None:
    good = (SAMPLES / "EvidenceBundle.sample.jsonl").read_text().splitlines()
    bad = json.loads(good[0]) | {"record_id": "999", "criterion": "Vibes"}
    (inbox / "EvidenceBundle.x.jsonl").write_text("\n".join([good[0], json.dumps(bad), good[1]]) + "\n")
    (inbox / "QSE-LOG-broken.yaml").write_text("session_id: S1\ntemplate: t\nphases: [\n")
    collector.collect()
    assert len(stored(engine, "evb-")) == 2
    assert "not a COF dimension" in str(rejected(inbox, "EvidenceBundle.x.jsonl")[0]["error"])
    assert "not valid YAML" in str(rejected(inbox, "QSE-LOG-broken.yaml")[0]["error"])
    assert any(p.name.startswith("QSE-LOG-broken.yaml.") for p in (inbox / "rejected").iterdir())
    collector.collect()  # unchanged file: not rejected again
    assert len(rejected(inbox, "QSE-LOG-broken.yaml")) == 1
    shutil.copy(SAMPLES / "QSE-LOG-sample.yaml", inbox / "QSE-LOG-broken.yaml")  # fixed in place
    collector.collect()
    assert len(stored(engine, "qse-")) == 16


def test_yaml_aliases_are_refused() -> None:
    bomb = "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n"
    with pytest.raises(FormatError, match="aliases"):
        load_qse_log(bomb)


JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
EVENTISH = st.fixed_dictionaries(
    {
        "id": st.text(max_size=10),
        "type": st.sampled_from(["workflow.pr_created", "Bad", ""]) | st.text(max_size=10),
        "timestamp": st.floats() | st.integers() | st.text(max_size=25),
        "source": st.text(max_size=5),
    },
    optional={"data": JSON, "metadata": JSON, "extra": JSON},
)


@hsettings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | JSON.map(json.dumps) | EVENTISH.map(json.dumps))
def test_event_line_parser_never_crashes(text: str) -> None:
    try:
        event = parse_event_line(text)
    except FormatError as error:
        assert str(error)
    else:
        json.dumps(event.data, allow_nan=False)  # what was accepted can be stored


@hsettings(max_examples=300, deadline=None)
@given(
    st.text(max_size=200)
    | JSON.map(json.dumps)
    | st.dictionaries(
        st.sampled_from(
            ["bundle_id", "record_id", "session_id", "framework", "criterion", "artefact", "score", "timestamp"]
        ),
        JSON,
    ).map(json.dumps)
)
def test_evidence_line_parser_never_crashes(text: str) -> None:
    try:
        parse_evidence_line(text)
    except FormatError as error:
        assert str(error)


@hsettings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | JSON.map(lambda v: json.dumps(v))
    | st.dictionaries(
        st.sampled_from(["session_id", "template", "started_at", "phases", "compliance", "status"]), JSON
    ).map(json.dumps)
)
def test_qse_log_parser_never_crashes(text: str) -> None:
    try:
        load_qse_log(text)
    except FormatError as error:
        assert str(error)


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=60)
        | st.integers(0, 10**6).map(lambda n: line(n, tag="fz").rstrip("\n")),
        max_size=15,
    )
)
def test_tailer_accounts_for_every_line(sqlite_engine: Engine, tmp_path: Path, lines: list[str]) -> None:
    inbox = tmp_path / uuid.uuid4().hex
    inbox.mkdir()
    (inbox / "fuzz.events.jsonl").write_text("".join(x + "\n" for x in lines), encoding="utf-8", errors="surrogatepass")
    FileCollector(sqlite_engine, inbox).collect()
    quarantined = rejected(inbox, "fuzz.events.jsonl")
    assert all(r["error"] for r in quarantined)
    nonblank = [x for x in lines if x.strip()]
    good = {x for x in nonblank if x.startswith('{"id": "fz-')}
    assert len(quarantined) == len(nonblank) - sum(1 for x in nonblank if x in good)


def test_a_symlink_out_of_the_inbox_is_not_read(collector: FileCollector, engine: Engine, inbox: Path) -> None:
    outside = inbox.parent / "secret.events.jsonl"
    outside.write_text(line(1, tag="outside"))
    (inbox / "escape.events.jsonl").symlink_to(outside)
    (inbox / "real.events.jsonl").write_text(line(2, tag="inside"))
    (inbox / "alias.events.jsonl").symlink_to(inbox / "real.events.jsonl")  # a link within the inbox is read
    collector.collect()
    assert stored(engine, "outside") == []
    assert stored(engine, "inside") == ["inside-2"]
    assert not (inbox / "rejected").exists()
