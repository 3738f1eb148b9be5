"""The fast ingest paths give what the careful ones gave: the same rows, marks and decoded items, all or nothing.

On Postgres a batch is staged by binary COPY and tried as a plain INSERT first, falling back
to an upsert when it meets stored points; a JSON body is parsed by pydantic's parser unless
that refuses it, when ``json.loads`` and the item-by-item checks read it instead; Prometheus
text parses each repeated label block and each name's kind once per body.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from core.ingest.jsonbody import BatchTooLong, decode_events, decode_samples
from core.ingest.promtext import parse_prometheus
from core.ingest.writer import series_cache, write_batch, write_samples
from core.model import Event, Sample

MINUTE = 60_000
BASE = 1_780_000_000_000 - 1_780_000_000_000 % MINUTE  # minute-aligned: six points of 10 s per minute
BOM = b"\xef\xbb\xbf"  # json.loads reads it, pydantic's parser refuses it: forces the careful path


def point(i: int, value: float) -> Sample:
    return Sample("queue_depth", (("queue", "review"),), value, BASE + i * 10_000)


def stored(engine: Engine) -> dict[int, float]:
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT ts, value FROM samples").fetchall())


def marks(engine: Engine) -> dict[int, int]:
    with engine.connect() as connection:
        return dict(connection.exec_driver_sql("SELECT bucket, mark FROM rollup_dirty").fetchall())


def minute(i: int) -> int:
    return BASE + i * MINUTE


def test_a_batch_meeting_stored_points_after_new_ones_overwrites_them_and_marks_each_minute_once(engine):
    write_batch(engine, [point(i, 1.0) for i in range(60)], ())  # minutes 0-9
    # New points first, then points already stored: on Postgres the plain INSERT has written
    # rows before it meets the conflict, and the batch must still land whole, once.
    write_batch(engine, [point(i, 3.0) for i in range(60, 90)] + [point(i, 2.0) for i in range(30, 60)], ())
    assert stored(engine) == {
        **{BASE + i * 10_000: 1.0 for i in range(30)},
        **{BASE + i * 10_000: 2.0 for i in range(30, 60)},
        **{BASE + i * 10_000: 3.0 for i in range(60, 90)},
    }
    assert marks(engine) == {
        **{minute(m): 1 for m in range(5)},
        **{minute(m): 2 for m in range(5, 10)},
        **{minute(m): 1 for m in range(10, 15)},
    }


def test_a_repeated_point_within_a_batch_keeps_its_last_value(engine):
    write_batch(engine, [point(0, 1.0), point(1, 5.0), point(0, 2.0)], ())
    assert stored(engine) == {BASE: 2.0, BASE + 10_000: 5.0}
    assert marks(engine) == {minute(0): 1}


def test_two_writes_in_one_transaction_each_store_their_own_points(engine):
    cache = series_cache(engine)
    with engine.begin() as connection:
        write_samples(connection, [point(i, 1.0) for i in range(6)], cache)
        write_samples(connection, [point(i, 2.0) for i in range(3, 9)], cache)  # meets the first write's points
    assert stored(engine) == {
        **{BASE + i * 10_000: 1.0 for i in range(3)},
        **{BASE + i * 10_000: 2.0 for i in range(3, 9)},
    }
    assert marks(engine) == {minute(0): 2, minute(1): 1}


@pytest.mark.parametrize("resend", [False, True])
def test_a_batch_failing_after_its_samples_are_merged_leaves_nothing(engine, resend):
    if resend:
        write_batch(engine, [point(i, 1.0) for i in range(6)], ())  # the merge takes the upsert way
    before, dirty = stored(engine), marks(engine)
    unwritable = Event("evt-1", "workflow.pr_created", BASE, "tests", {"not json": {1, 2}})  # a set: no JSON form
    with pytest.raises((TypeError, sa.exc.StatementError)):
        write_batch(engine, [point(i, 9.0) for i in range(12)], [unwritable])
    assert stored(engine) == before and marks(engine) == dirty


sample_items = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["up", "cpu_percent", "queue:depth"]),
        "value": st.floats(allow_nan=False) | st.integers(),
    },
    optional={
        "labels": st.dictionaries(st.sampled_from(["host", "job", "b", "a"]), st.text(max_size=6), max_size=3),
        "timestamp": st.none()
        | st.floats(min_value=-1e11 + 1, max_value=1e11 - 1)
        | st.integers(min_value=0, max_value=4_000_000_000)
        | st.sampled_from(["2025-08-17T06:23:14Z", "2025-08-17T06:23:14.5+02:00", "yesterday", "2025-08-17"]),
    },
)


@hsettings(max_examples=150, deadline=None)
@given(st.lists(sample_items, max_size=8), st.booleans())
def test_samples_decode_alike_on_either_path(items, wrapped):
    body = json.dumps({"samples": items} if wrapped else items).encode()
    assert decode_samples(body, 7, 100) == decode_samples(BOM + body, 7, 100)


event_items = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=6),
        "type": st.sampled_from(["workflow.pr_created", "deploy.done"]),
        "timestamp": st.sampled_from(["2025-08-17T06:23:14Z", 1755410400, 1755410400.25, "later"]),
        "source": st.text(max_size=4),
    },
    optional={
        "data": st.dictionaries(st.text(max_size=4), st.integers() | st.floats() | st.text(max_size=3), max_size=3),
        "metadata": st.dictionaries(st.text(max_size=4), st.booleans() | st.none(), max_size=2),
    },
)


@hsettings(max_examples=100, deadline=None)
@given(st.lists(event_items, max_size=6), st.booleans())
def test_events_decode_alike_on_either_path(items, wrapped):
    body = json.dumps({"events": items} if wrapped else items).encode()  # NaN and Infinity included, as JSON allows
    fast, careful = decode_events(body, 100), decode_events(BOM + body, 100)
    assert repr(fast) == repr(careful)  # repr: a NaN in data is equal to itself only as text


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_well_formed_body_too_long_is_refused_before_anything_else(wrapped):
    items = [{"name": "up", "value": i} for i in range(4)]
    body = json.dumps({"samples": items} if wrapped else items).encode()
    for form in (body, BOM + body):
        with pytest.raises(BatchTooLong, match="4 samples, at most 3 per batch"):
            decode_samples(form, 0, 3)


def test_prometheus_text_parses_each_repeated_label_block_and_kind_as_on_first_sight():
    text = "\n".join(
        [
            'jobs_total{queue="a",b="x"} 1 1000',
            'jobs_total{queue="a",b="x"} 2 2000',  # the same block again
            'jobs_total{queue="a" b="x"} 3 3000',  # a bad block is refused on each of its lines
            'jobs_total{queue="a" b="x"} 4 4000',
            "jobs_total 5 5000",
            "# TYPE jobs counter",  # from here on jobs_total is the counter's sample
            'jobs_total{queue="a",b="x"} 6 6000',
            "jobs_total 7 7000",
        ]
    )
    parsed = parse_prometheus(text, 0)
    assert [line for line, _ in parsed.errors] == [3, 4]
    assert [(s.labels, s.value, s.kind) for s in parsed.samples] == [
        ((("b", "x"), ("queue", "a")), 1.0, "untyped"),
        ((("b", "x"), ("queue", "a")), 2.0, "untyped"),
        ((), 5.0, "untyped"),
        ((("b", "x"), ("queue", "a")), 6.0, "counter"),
        ((), 7.0, "counter"),
    ]
