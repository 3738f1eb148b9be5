"""/api/v1/query applies Explore's limits: at most max_data_points points per series without a step, the top
max_series_shown series past it (with the count left out), and a step finer than 11,000 points refused naming it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from core.api.routes import create_api
from core.ingest.writer import write_batch
from core.model import Sample, now_ms

SERIES = 150


@pytest.fixture
def client(settings, engine):
    now = now_ms()
    samples = [
        Sample("temp", (("probe", f"p{i:03d}"),), float(1000 + i if ts < now - 1_800_000 else SERIES - i), ts)
        for i in range(SERIES)
        for ts in range(now - 3_600_000, now, 10_000)
    ]
    write_batch(engine, samples, ())
    with TestClient(create_api(lambda: settings.model_copy(update={"auth": "off"}))) as api:
        yield api


def probes(data: dict) -> set[int]:
    return {int(s["series"].split('probe="p')[1][:3]) for s in data["result"]}


def test_past_max_series_shown_the_top_series_come_back_with_the_count_left_out(client):
    reply = client.get("/v1/query", params={"selector": "temp"})
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert (data["series_total"], data["left_out"], data["rank"], len(data["result"])) == (SERIES, 50, "max", 100)
    assert probes(data) == set(range(50, SERIES))  # largest max: the probes whose older half was highest
    last = client.get("/v1/query", params={"selector": "temp", "rank": "last", "limit": 10}).json()["data"]
    assert probes(last) == set(range(10)) and last["left_out"] == SERIES - 10  # largest last: SERIES - i


def test_without_a_step_at_most_max_points_per_series(client):
    data = client.get("/v1/query", params={"selector": 'temp{probe="p001"}', "max_points": 50}).json()["data"]
    assert data["step_ms"] == 300_000  # an hour / 49 = 73.5 s -> the 5m tier's bucket
    assert len(data["result"][0]["points"]) <= 50
    default = client.get("/v1/query", params={"selector": 'temp{probe="p001"}'}).json()["data"]
    # 5 s buckets of samples 10 s apart: one point a sample, the hour's oldest one or two may fall before the window
    assert default["step_ms"] == 5_000 and 355 <= len(default["result"][0]["points"]) <= 360


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"step": "1s", "start": "0", "end": "11001"}, 400, "step: gives more than 11000 points per series"),
        ({"max_points": "1"}, 422, "max_points: Input should be greater than or equal to 2"),
        ({"max_points": "11001"}, 422, "max_points: Input should be less than or equal to 11000"),
        ({"rank": "median"}, 422, "rank: Input should be 'max', 'mean', 'min' or 'last'"),
    ],
)
def test_limits_a_client_oversteps_are_refused_naming_them(client, params, status, words):
    reply = client.get("/v1/query", params={"selector": "temp", **params})
    assert reply.status_code == status, reply.text
    assert words in reply.json()["error"]["message"]
