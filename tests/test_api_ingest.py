"""The ingest API on both backends: exact storage, precise refusals, nothing half-written."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from core.api.routes import create_api
from core.auth.tokens import create_token

PROM = "text/plain; version=0.0.4"


@pytest.fixture
def client(settings, engine):
    """An API client holding an ingest+read token, with token checks on."""
    secured = settings.model_copy(update={"auth": "on"})
    _, token = create_token(engine, "tests", ["ingest", "read"], "tests")
    with TestClient(create_api(lambda: secured), headers={"Authorization": f"Bearer {token}"}) as test_client:
        yield test_client


def rows(engine, table):
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def stored_samples(engine):
    query = (
        "SELECT s.name, s.labels, x.ts, x.value FROM samples x JOIN series s ON s.id = x.series_id "
        "ORDER BY s.name, x.ts"
    )
    with engine.connect() as connection:
        return [(n, json.loads(lbl), ts, v) for n, lbl, ts, v in connection.execute(sa.text(query))]


def event(i, **extra):
    body = {
        "id": f"evt-{i}",
        "type": "workflow.pr_created",
        "timestamp": "2025-08-17T06:23:14Z",
        "source": "qms-orchestrator",
        "data": {"pr_number": i},
    }
    return {**body, **extra}


def test_json_batch_is_stored_exactly(client, engine):
    batch = [
        {
            "name": "queue_depth",
            "labels": {"queue": "review", "source": "ci"},
            "value": 12,
            "timestamp": "2025-08-17T06:00:00Z",
        },
        {"name": "queue_depth", "labels": {"source": "ci", "queue": "review"}, "value": 14.5, "timestamp": 1755410460},
        {"name": "agent_load_percent", "labels": {"agent": "a1"}, "value": -3.25, "timestamp": 1755410400.5},
    ]
    response = client.post("/v1/metrics", json=batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"samples_written": 3, "series_created": 2, "events_written": 0, "events_duplicate": 0}
    assert stored_samples(engine) == [
        ("agent_load_percent", {"agent": "a1"}, 1755410400500, -3.25),
        ("queue_depth", {"queue": "review", "source": "ci"}, 1755410400000, 12.0),
        ("queue_depth", {"queue": "review", "source": "ci"}, 1755410460000, 14.5),
    ]


def test_object_form_and_resend_overwrites_not_duplicates(client, engine):
    body = {"samples": [{"name": "up", "labels": {"job": "x"}, "value": 1, "timestamp": 1755410400}]}
    assert client.post("/v1/metrics", json=body).status_code == 200
    body["samples"][0]["value"] = 0
    assert client.post("/v1/metrics", json=body).status_code == 200
    assert stored_samples(engine) == [("up", {"job": "x"}, 1755410400000, 0.0)]


def test_prometheus_text_is_stored_with_kind(client, engine):
    text = '# TYPE http_requests_total counter\nhttp_requests_total{code="200"} 1027 1755410400000\nsummary_x NaN\n'
    response = client.post("/v1/metrics", content=text, headers={"Content-Type": PROM})
    assert response.status_code == 200, response.text
    assert response.json()["samples_written"] == 1 and response.json()["skipped_nan"] == 1
    assert stored_samples(engine) == [("http_requests_total", {"code": "200"}, 1755410400000, 1027.0)]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT kind FROM series")).scalar_one() == "counter"


def test_events_are_idempotent_on_id(client, engine):
    first = client.post("/v1/events", json=[event(1), event(2), event(2)])
    assert first.status_code == 200, first.text
    assert first.json()["events_written"] == 2 and first.json()["events_duplicate"] == 1
    again = client.post("/v1/events", json={"events": [event(2), event(3)]})
    assert again.json()["events_written"] == 1 and again.json()["events_duplicate"] == 1
    assert rows(engine, "events") == 3
    with engine.connect() as connection:
        data = connection.execute(sa.text("SELECT data FROM events WHERE id = 'evt-3'")).scalar_one()
    assert (json.loads(data) if isinstance(data, str) else data) == {"pr_number": 3}


BAD_SAMPLE_BATCHES = [
    ([{"name": "1bad", "value": 1}], "name", "is not a metric name"),
    ([{"name": "m", "value": "1.5"}], "value", "valid number"),
    ([{"name": "m", "value": True}], "value", "valid number"),
    ([{"name": "m"}], "value", "Field required"),
    ([{"name": "m", "value": 1, "lables": {}}], "lables", "Extra inputs"),
    ([{"name": "m", "value": 1, "labels": {"__x": "y"}}], "labels.__x", "reserved"),
    ([{"name": "m", "value": 1, "labels": {"bad-key": "y"}}], "labels.bad-key", "not a label name"),
    ([{"name": "m", "value": 1, "labels": {"k": "v" * 2000}}], "labels.k", "longer than 1024"),
    ([{"name": "m", "value": 1, "labels": {f"l{i}": "v" for i in range(40)}}], "labels", "at most 32"),
    ([{"name": "m", "value": 1, "timestamp": "yesterday"}], "timestamp", "not an ISO 8601"),
    ([{"name": "m", "value": 1, "timestamp": "2025-08-17T06:00:00"}], "timestamp", "no timezone"),
    ([{"name": "m", "value": 1, "timestamp": 1755410400000}], "timestamp", "looks like milliseconds"),
    ([{"name": "m", "value": 1, "timestamp": "2999-01-01T00:00:00Z"}], "timestamp", "in the future"),
    ([{"name": "m", "value": 1, "labels": {"k": "a\u0000b"}}], "labels.k", "NUL"),
    ([{"name": "m", "value": 1, "labels": {"k": 5}}], "labels.k", "valid string"),
    ([{"name": "m", "value": 1, "timestamp": True}], "timestamp.float", "valid number"),
    (["not an object"], "", "valid dictionary"),
]


@pytest.mark.parametrize(("items", "field", "message"), BAD_SAMPLE_BATCHES)
def test_bad_sample_is_named_and_nothing_is_stored(client, engine, items, field, message):
    good = {"name": "fine", "value": 1}
    response = client.post("/v1/metrics", json=[good, *items, good])
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(p["index"] == 1 and p["field"] == field and message in p["message"] for p in problems), problems
    assert all(p["index"] == 1 for p in problems)
    assert rows(engine, "samples") == 0 and rows(engine, "series") == 0


def test_every_bad_item_is_listed_across_both_checks(client, engine):
    items = [{"name": "ok", "value": 1}, {"name": "m", "value": "x"}, {"name": "9m", "value": 1}]
    problems = client.post("/v1/metrics", json=items).json()["problems"]
    assert [(p["index"], p["field"]) for p in problems] == [(1, "value"), (2, "name")]
    assert rows(engine, "samples") == 0


BAD_EVENTS = [
    (event(1, type="PR Created"), "type", "not an event type"),
    (event(1, id=""), "id", "1 to 128"),
    (event(1, source="x" * 200), "source", "1 to 128"),
    ({k: v for k, v in event(1).items() if k != "timestamp"}, "timestamp", "Field required"),
    (event(1, data=[1, 2]), "data", "valid dictionary"),
    (event(1, extra=1), "extra", "Extra inputs"),
]


@pytest.mark.parametrize(("number", "word"), [("1e999", "+Inf"), ("-Infinity", "-Inf"), ("NaN", "NaN")])
def test_non_finite_number_inside_event_data_is_refused_naming_its_path(client, engine, number, word):
    good = json.dumps(event(0)).encode()
    bad = b'{"id": "e", "type": "a.b", "timestamp": "2025-01-01T00:00:00Z", "source": "s", "data": {"x": [1, {"y": '
    body = b"[" + good + b", " + bad + number.encode() + b"}]}}]"
    response = client.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert (problem["index"], problem["field"]) == (1, "data.x[1].y") and problem["message"].startswith(word)
    assert rows(engine, "events") == 0  # the good event is not stored either: the batch is refused whole


@pytest.mark.parametrize(
    ("number", "word"), [("NaN", "NaN"), ("Infinity", "+Inf"), ("-Infinity", "-Inf"), ("1e400", "+Inf")]
)
def test_non_finite_sample_value_is_refused_naming_the_item(client, engine, number, word):
    items = [json.dumps({"name": "m", "labels": {"i": str(i)}, "value": i}) for i in range(5)]
    items[3] = '{"name": "m", "labels": {"i": "3"}, "value": ' + number + "}"
    response = client.post(
        "/v1/metrics", content="[" + ", ".join(items) + "]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "batch rejected; nothing was stored"
    assert [(p["index"], p["field"]) for p in response.json()["problems"]] == [(3, "value")]  # [3].value
    assert response.json()["problems"][0]["message"] == f"{word} cannot be stored; send a finite number"
    assert rows(engine, "samples") == 0 and rows(engine, "series") == 0


@pytest.mark.parametrize("value", ["+Inf", "-Inf", "Inf"])
def test_infinite_value_in_prometheus_text_is_refused_naming_the_line(client, engine, value):
    text = f'# TYPE m gauge\nm{{a="1"}} 1\nm{{a="2"}} {value}\nm{{a="3"}} 3\n'
    response = client.post("/v1/metrics", content=text, headers={"Content-Type": PROM})
    assert response.status_code == 400, response.text
    (problem,) = response.json()["problems"]
    assert problem["kind"] == "line" and problem["index"] == 3 and "not a finite number" in problem["message"]
    assert rows(engine, "samples") == 0 and rows(engine, "series") == 0


def test_non_finite_values_from_any_writer_are_refused(engine):
    """Collectors and files write through core.ingest too: the same check applies there."""
    from core.ingest import BatchRejected, ingest
    from core.model import Batch, Event, Sample

    with pytest.raises(BatchRejected) as caught:
        ingest(engine, Batch((Sample.of("m", {}, 1.0, 1), Sample.of("m", {}, float("inf"), 2))), origin="test")
    assert [(p.index, p.field) for p in caught.value.problems] == [(1, "value")]
    with pytest.raises(BatchRejected) as caught:
        ingest(engine, Batch(events=(Event("e", "a.b", 1, "s", {}, {"m": float("nan")}),)), origin="test")
    assert [(p.index, p.field) for p in caught.value.problems] == [(0, "metadata.m")]
    assert rows(engine, "samples") == 0 and rows(engine, "events") == 0


@pytest.mark.parametrize(("item", "field", "message"), BAD_EVENTS)
def test_bad_event_is_named_and_nothing_is_stored(client, engine, item, field, message):
    response = client.post("/v1/events", json=[event(0), item])
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(p["index"] == 1 and p["field"] == field and message in p["message"] for p in problems), problems
    assert rows(engine, "events") == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"", "application/json", 400, "empty"),
        (b'{"foo": 1}', "application/json", 400, "JSON array"),
        (b'[{"name": "m", "value": NaN}]', "application/json", 422, "NaN cannot be stored"),
        (b"\xff\xfe", PROM, 400, "not UTF-8"),
        (b"metric{ 1\n", PROM, 400, "could not be parsed"),
        (b"<xml/>", "application/xml", 415, "unsupported Content-Type"),
        (b"m 1", "", 415, "unsupported Content-Type"),
        (b"[" + b"1," * 200 + b"1]", "application/json", 422, None),
        (b'[{"name": "m", "value": 1e400}]', "application/json", 422, "+Inf cannot be stored"),
        (b'[{"name": "m", "value": ' + b"7" * 5_000 + b"}]", "application/json", 400, "more than 4300 digits"),
    ],
)
def test_malformed_bodies_get_clear_statuses(client, engine, body, content_type, status, message):
    response = client.post("/v1/metrics", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    if status == 422:  # the right overall shape, but items are wrong: each is named
        assert response.json()["problems"] and all(
            message in p["message"] for p in response.json()["problems"] if message
        )
    else:
        assert message in response.json()["error"]
    assert rows(engine, "samples") == 0


def test_limits_answer_413(engine, tmp_path):
    from core.config import load_settings

    small = load_settings(
        database_url=engine.url.render_as_string(hide_password=False),
        data_dir=tmp_path,
        max_body_bytes=2048,
        max_batch_items=3,
        collectors=False,
    )
    with TestClient(create_api(lambda: small)) as client:
        too_big = client.post("/v1/metrics", content=b"m 1\n" * 1000, headers={"Content-Type": PROM})
        assert too_big.status_code == 413 and "2048 bytes" in too_big.json()["error"]
        too_long = client.post("/v1/metrics", json=[{"name": "m", "value": i} for i in range(4)])
        assert too_long.status_code == 413 and "at most 3" in too_long.json()["error"]
        prom_long = client.post("/v1/metrics", content="a 1\nb 2\nc 3\nd 4\n", headers={"Content-Type": PROM})
        assert prom_long.status_code == 413
    assert rows(engine, "samples") == 0


def test_health_ready_and_openapi(client):
    assert client.get("/v1/health").json()["status"] == "ok"
    ready = client.get("/v1/ready").json()
    assert ready["ready"] is True and ready["checks"]["migrations"]["current"] == ready["checks"]["migrations"]["head"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/metrics", "/v1/events", "/v1/health", "/v1/ready"} <= set(paths)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
sample_like = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=12), st.sampled_from(["up", "cpu_percent"]))},
    optional={
        "labels": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3) | json_values,
        "value": json_values,
        "timestamp": json_values,
    },
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sample_like | json_values, min_size=1, max_size=5))
def test_fuzzed_json_never_errors_and_is_all_or_nothing(client, engine, items):
    before = rows(engine, "samples")
    response = client.post("/v1/metrics", json=items)
    assert response.status_code in (200, 400, 413, 422), response.text
    after = rows(engine, "samples")
    if response.status_code == 200:
        assert after - before <= len(items)
    else:
        assert after == before and response.json()["error"]


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_fuzzed_prometheus_text_never_errors(client, engine, text):
    before = rows(engine, "samples")
    response = client.post("/v1/metrics", content=text.encode(), headers={"Content-Type": PROM})
    assert response.status_code in (200, 400, 413, 422), response.text
    if response.status_code != 200:
        assert rows(engine, "samples") == before


def test_a_stricter_name_pattern_refuses_what_the_default_allows(settings, engine):
    batch = [{"name": "cpu:ratio", "labels": {"Host": "a"}, "value": 1}]
    _, token = create_token(engine, "tests", ["ingest"], "tests")
    strict = settings.model_copy(
        update={"auth": "on", "metric_name_pattern": "[a-z_]+", "label_name_pattern": "[a-z]+"}
    )
    with TestClient(create_api(lambda: strict), headers={"Authorization": f"Bearer {token}"}) as client:
        refused = client.post("/v1/metrics", json=batch)
    assert refused.status_code == 422, refused.text
    problems = {p["field"]: p["message"] for p in refused.json()["problems"]}
    assert "'[a-z_]+'" in problems["name"] and "PULSEBOARD_METRIC_NAME_PATTERN" in problems["name"]
    assert "'[a-z]+'" in problems["labels.Host"] and "PULSEBOARD_LABEL_NAME_PATTERN" in problems["labels.Host"]
    assert rows(engine, "samples") == 0
    default = settings.model_copy(update={"auth": "on"})
    with TestClient(create_api(lambda: default), headers={"Authorization": f"Bearer {token}"}) as client:
        assert client.post("/v1/metrics", json=batch).status_code == 200
    assert rows(engine, "samples") == 1


event_like = st.fixed_dictionaries(
    {
        "id": st.none() | st.text(max_size=12) | json_values,  # None: a fresh valid id
        "type": st.sampled_from(["workflow.pr_created", "qa.defect_found", "custom.thing"])
        | st.text(max_size=12)
        | json_values,
        "timestamp": st.sampled_from(["2025-08-17T06:23:14Z", 1755411794.25]) | json_values,
        "source": st.sampled_from(["qms-orchestrator"]) | st.text(max_size=12) | json_values,
    },
    optional={
        "data": st.dictionaries(st.text(max_size=8), json_values, max_size=4) | json_values,
        "metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
        "extra": json_values,
    },
)

valid_event = st.fixed_dictionaries(
    {
        "id": st.none(),
        "type": st.sampled_from(["workflow.pr_created", "system.deployment", "unknown.kind_of_thing"]),
        "timestamp": st.sampled_from(["2025-08-17T06:23:14Z", "2025-08-17T08:23:14+02:00", 1755411794.25]),
        "source": st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=1, max_size=12),
    },
    optional={
        "data": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
        "metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    },
)


def _unique_ids(items: list[object], run: str) -> list[object]:
    """Give each item's id a per-run, per-position prefix, so a stored batch adds exactly one row per item."""
    unique = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and (item.get("id") is None or isinstance(item.get("id"), str)):
            item = {**item, "id": f"fz-{run}-{index}-{item.get('id') or ''}"}
        unique.append(item)
    return unique


@hsettings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(valid_event, min_size=1, max_size=5)
    | st.lists(valid_event | event_like | json_values, min_size=1, max_size=5)
)
def test_fuzzed_events_never_error_and_are_all_or_nothing(client, engine, items):
    items = _unique_ids(items, uuid.uuid4().hex)  # not drawn: hypothesis replays its draws, the store keeps every id
    before = rows(engine, "events")
    response = client.post("/v1/events", json=items)
    assert response.status_code in (200, 400, 413, 422), response.text
    after = rows(engine, "events")
    if response.status_code == 200:
        assert after - before == len(items) == response.json()["events_written"]
    else:
        assert after == before and response.json()["error"]
