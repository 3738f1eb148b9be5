"""The Prometheus-compatible API in process, on both backends: remote_write in, PromQL out, every refusal named."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.api import promjson
from core.api.prometheus import create_prometheus_api
from core.api.promjson import number_texts
from core.auth.tokens import create_token
from core.ingest.remote_write import encode
from core.query.promql import evaluate
from core.query.promql_values import Vector

WRITE = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy"}
NOW = 1_765_000_000_000  # fixed "now" is not possible through HTTP; tests pass explicit times


@pytest.fixture
def secured(settings):
    return settings.model_copy(update={"auth": "on"})


@pytest.fixture
def client(secured, engine):
    _, token = create_token(engine, "tests", ["ingest", "read"], "tests")
    with TestClient(create_prometheus_api(lambda: secured), headers={"Authorization": f"Bearer {token}"}) as test:
        yield test


def _write(client, series):
    return client.post("/api/v1/write", content=encode(series), headers=WRITE)


def test_remote_write_stores_and_query_range_reads_back(client):
    now = int(__import__("time").time()) * 1000 // 60_000 * 60_000
    points = [(float(i * 10), now - (20 - i) * 15_000) for i in range(21)]  # a counter +10 every 15 s
    answer = _write(client, [({"__name__": "jobs_total", "queue": "build"}, points)])
    assert answer.status_code == 204 and answer.content == b""
    body = client.get(
        "/api/v1/query_range",
        params={"query": "rate(jobs_total[1m])", "start": (now - 120_000) / 1000, "end": now / 1000, "step": "60"},
    ).json()
    assert body["status"] == "success" and body["data"]["resultType"] == "matrix"
    (series,) = body["data"]["result"]
    assert series["metric"] == {"queue": "build"}
    # 4 intervals of 15 s inside each 1-minute window, 10 per interval: 40 over 60 s after extrapolation
    assert [v for _, v in series["values"]] == ["0.6666666666666666"] * 3
    instant = client.get("/api/v1/query", params={"query": "jobs_total", "time": now / 1000}).json()
    assert instant["data"]["result"] == [
        {"metric": {"__name__": "jobs_total", "queue": "build"}, "value": [now // 1000, "200"]}
    ]


def test_remote_write_refuses_what_ingest_refuses_naming_the_sample(client):
    answer = _write(client, [({"__name__": "bad-name", "x": "1"}, [(1.0, 1_700_000_000_000)])])
    assert answer.status_code == 400
    body = answer.json()
    assert body["errorType"] == "bad_data" and "nothing was stored" in body["error"]
    assert "'bad-name' is not a metric name" in body["error"]


@pytest.mark.parametrize(
    ("content", "headers", "status", "message"),
    [
        (b"\x05abc", WRITE, 400, "not snappy-compressed"),
        (encode([({"job": "x"}, [(1.0, 1)])]), WRITE, 400, "has no __name__ label"),
        (b"x", {"Content-Type": "application/json", "Content-Encoding": "snappy"}, 415, "application/x-protobuf"),
        (b"x", {"Content-Type": "application/x-protobuf"}, 415, "Content-Encoding"),
    ],
)
def test_remote_write_bad_bodies_are_named(client, content, headers, status, message):
    answer = client.post("/api/v1/write", content=content, headers=headers)
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_remote_write_needs_the_ingest_scope(secured, engine):
    _, token = create_token(engine, "grafana", ["read"], "tests")
    with TestClient(create_prometheus_api(lambda: secured)) as anonymous:
        assert anonymous.post("/api/v1/write", content=b"x", headers=WRITE).status_code == 401
        refused = anonymous.post("/api/v1/write", content=b"x", headers={**WRITE, "Authorization": f"Bearer {token}"})
        assert refused.status_code == 403 and "lacks scope 'ingest'" in refused.json()["error"]
        query = anonymous.get("/api/v1/query", params={"query": "1"}, auth=("grafana", token))
        assert query.json() == {
            "status": "success",
            "data": {"resultType": "scalar", "result": query.json()["data"]["result"]},
        }
        assert anonymous.get("/api/v1/labels", auth=("grafana", "pb_wrong")).status_code == 401


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('up{job=~"(?=api)"}', "illegal regex"),
        ('up{job=~"' + "a" * 5_000 + '"}', "at most 1,000 allowed (max_regex_length)"),
        ("predict_linear(up[5m], 60)", "function 'predict_linear' is not supported by Pulseboard"),
        ("max_over_time(up[10m:1m])", "subqueries"),
        ('count_values("v", up)', "aggregation 'count_values' is not supported"),
        ("", "empty query"),
    ],
)
def test_queries_pulseboard_cannot_answer_are_named(client, query, message):
    answer = client.get("/api/v1/query", params={"query": query, "time": "1700000000"})
    assert answer.status_code == 400
    assert answer.json()["status"] == "error" and answer.json()["errorType"] == "bad_data"
    assert message in answer.json()["error"]


def test_range_queries_are_refused_past_eleven_thousand_points(client):
    answer = client.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "11001", "step": "1"})
    assert answer.status_code == 400
    assert "exceeded maximum resolution of 11,000 points per timeseries" in answer.json()["error"]
    fits = client.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "11000", "step": "1"})
    assert fits.status_code == 200


def test_series_labels_and_values_from_written_series(client):
    series = [
        ({"__name__": "cpu", "host": "a", "env": "prod"}, [(1.0, 1_700_000_000_000)]),
        ({"__name__": "cpu", "host": "b"}, [(2.0, 1_700_000_000_000)]),
        ({"__name__": "mem", "host": "a"}, [(3.0, 1_700_000_000_000)]),
    ]
    assert _write(client, series).status_code == 204
    found = client.get("/api/v1/series", params={"match[]": 'cpu{env!="prod"}'}).json()["data"]
    assert found == [{"__name__": "cpu", "host": "b"}]
    assert client.get("/api/v1/labels").json()["data"] == ["__name__", "env", "host"]
    assert client.get("/api/v1/label/__name__/values").json()["data"] == ["cpu", "mem"]
    assert client.get("/api/v1/label/host/values", params={"match[]": "mem"}).json()["data"] == ["a"]
    missing = client.get("/api/v1/series")
    assert missing.status_code == 400 and missing.json()["error"] == "no match[] parameter provided"


def test_values_are_written_as_prometheus_writes_them():
    texts = number_texts(np.array([1.0, 0.1, 1e21, 1e-7, math.inf, -math.inf, math.nan, -2.5, 3.0000000000000004]))
    assert texts.to_list() == [
        "1",
        "0.1",
        "1000000000000000000000",
        "0.0000001",
        "+Inf",
        "-Inf",
        "NaN",
        "-2.5",
        "3.0000000000000004",
    ]


def test_small_and_large_answers_are_written_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to SMALL_POINTS points are formatted in plain Python, more by polars: the same bytes either way."""
    rng = np.random.default_rng(7)
    special = [1.0, 0.1, 1e21, 1e-7, math.inf, -math.inf, math.nan, -2.5, 3.0000000000000004, -0.0, 0.0, 5e-324]
    special += [1.7976931348623157e308, 123456789012345680.0, 1e15, 1e16, 2.5e-5, 1e-4, 12345.678, -1e22]
    values = np.concatenate([special, rng.normal(0, 1e6, 400), np.round(rng.random(400) * 100, 2), rng.random(400)])
    assert promjson.small_number_texts(values) == promjson._polars_number_texts(values).to_list()
    series = 4
    values = values[: len(values) // series * series].reshape(series, -1)
    steps = NOW + np.arange(values.shape[1], dtype=np.int64) * 1_500 + 7  # fractional seconds too
    vector = Vector([{"__name__": "m", "i": str(3 - i)} for i in range(series)], values, rng.random(values.shape) > 0.2)
    small = promjson.matrix_json(vector, steps)
    monkeypatch.setattr(promjson, "SMALL_POINTS", 0)
    assert promjson.matrix_json(vector, steps) == small
    result = json.loads(small)["data"]["result"]
    assert [r["metric"]["i"] for r in result] == ["0", "1", "2", "3"]  # sorted by labels
    assert sum(len(r["values"]) for r in result) == int(vector.present.sum())


def test_lookback_hides_a_series_five_minutes_after_its_last_sample(engine, settings):
    from core.ingest import ingest
    from core.model import Batch, Sample

    ingest(engine, Batch((Sample.of("door_open", {"room": "1"}, 1.0, NOW - 60_000),)), settings=settings)
    values = [
        evaluate(engine, "door_open", t, t, 1, settings=settings, now_ms=NOW).present.any()  # type: ignore[union-attr]
        for t in (NOW, NOW - 60_000 + 300_000, NOW - 60_000 + 300_001)
    ]
    assert values == [True, True, False]


def test_past_the_raw_horizon_queries_read_the_rollup_tier(engine, settings):
    """Once retention has deleted raw samples, each 1-minute bucket stands for one sample: its last value and time."""
    from core.ingest import ingest
    from core.model import Batch, Sample
    from core.store.rollup import RAW_HORIZON, run_rollup, write_state

    start = (NOW - 7_200_000) // 60_000 * 60_000
    batch = Batch(tuple(Sample.of("level", {"tank": "1"}, float(i), start + i * 15_000) for i in range(40)))
    ingest(engine, batch, settings=settings)
    run_rollup(engine)
    at = start + 5 * 60_000 + 30_000
    raw = evaluate(engine, "level", at, at, 1, settings=settings, now_ms=NOW)
    with engine.begin() as connection:
        write_state(connection, RAW_HORIZON, start + 3_600_000)
        connection.exec_driver_sql("DELETE FROM samples")
    tier = evaluate(engine, "level", at, at, 1, settings=settings, now_ms=NOW)
    assert raw.values[0, 0] == 22.0  # type: ignore[union-attr]  # the sample at 5:30
    assert tier.values[0, 0] == 19.0  # type: ignore[union-attr]  # last of the 4:00-5:00 bucket, at 4:45


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"query": "(" * 150 + "1" + ")" * 150}, "nests brackets 150 deep, at most 100 allowed"),
        ({"query": "1" + "+1" * 400}, "400 operator characters, at most 300 allowed"),
        ({"query": "x" * 20_000}, "20,000 characters, at most 16,384 allowed"),
        ({"query": "up", "time": "1e30"}, 'invalid parameter "time": cannot parse "1e30"'),
        ({"query": "topk(NaN, up)", "time": "1700000000"}, "topk's k must be a finite number"),
    ],
)
def test_queries_that_would_stall_or_overflow_are_refused(client, params, message):
    """The parser takes super-linear time on deep nesting and crashes past thousands of brackets: refused first."""
    answer = client.get("/api/v1/query", params=params)
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["error"]


def test_huge_offsets_and_steps_answer_not_fail(client):
    far = client.get("/api/v1/query", params={"query": "up offset 100000y", "time": "1700000000"})
    assert far.status_code == 200 and far.json()["data"]["result"] == []
    for query in ("up offset 100000000y", "up offset 100000000000y"):  # past the parser's own duration type
        huge = client.get("/api/v1/query", params={"query": query, "time": "1700000000"})
        assert huge.status_code == 400 and huge.json()["errorType"] == "bad_data"
    step = client.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "10", "step": "1e30"})
    assert step.status_code == 400 and 'invalid parameter "step"' in step.json()["error"]


PROMQL_ALPHABET = st.sampled_from(
    [*"abcxyz_01259(){}[],.:=!~+-*/%^<>\"' ", "up", "rate", "sum", "by", "offset", "5m", "bool", "on", "topk"]
)


@given(st.lists(PROMQL_ALPHABET, max_size=40).map("".join))
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_query_text_answers_success_or_prometheus_error(sqlite_client, text):
    for path, params in (
        ("/api/v1/query", {"query": text, "time": "1700000000"}),
        ("/api/v1/query_range", {"query": text, "start": "1699990000", "end": "1700000000", "step": "60"}),
        ("/api/v1/series", {"match[]": text}),
    ):
        answer = sqlite_client.get(path, params=params)
        assert answer.status_code in (200, 400, 422), (path, text, answer.text)
        body = answer.json()
        assert body["status"] == ("success" if answer.status_code == 200 else "error")


@pytest.fixture
def sqlite_client(sqlite_engine, tmp_path):
    from core.config import load_settings

    secured = load_settings(
        database_url=sqlite_engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path,
        demo=False,
        collectors=False,
        auth="on",
    )
    _, token = create_token(sqlite_engine, "fuzz", ["read"], "tests")
    with TestClient(create_prometheus_api(lambda: secured), headers={"Authorization": f"Bearer {token}"}) as test:
        yield test


def test_instant_vectors_at_minute_steps_read_each_steps_latest_sample(engine, settings):
    """At steps of a minute or more only each step's latest sample is read (one seek per step): same answers."""
    from core.ingest import ingest
    from core.model import Batch, Sample

    start = (NOW - 7_200_000) // 60_000 * 60_000
    stamps = [start + i * 20_000 for i in range(30)] + [start + 1_200_000 + i * 20_000 for i in range(30)]  # a gap
    ingest(
        engine, Batch(tuple(Sample.of("g", {"k": "1"}, float(i), t) for i, t in enumerate(stamps))), settings=settings
    )
    end = start + 1_800_000
    vector = evaluate(engine, "g", start, end, 60_000, settings=settings, now_ms=NOW)
    shifted = evaluate(engine, "g offset 1m", start, end, 120_000, settings=settings, now_ms=NOW)
    want, want_shifted = [], []
    for t in range(start, end + 1, 60_000):
        seen = [i for i, s in enumerate(stamps) if t - 300_000 <= s <= t]
        want.append(float(seen[-1]) if seen else None)
    for t in range(start, end + 1, 120_000):
        seen = [i for i, s in enumerate(stamps) if t - 60_000 - 300_000 <= s <= t - 60_000]
        want_shifted.append(float(seen[-1]) if seen else None)
    got = [float(v) if p else None for v, p in zip(vector.values[0], vector.present[0], strict=True)]  # type: ignore[union-attr]
    got_shifted = [float(v) if p else None for v, p in zip(shifted.values[0], shifted.present[0], strict=True)]  # type: ignore[union-attr]
    assert got == want and got_shifted == want_shifted
    assert None in want and want.count(None) < len(want)  # the gap is longer than the lookback, the rest has values
