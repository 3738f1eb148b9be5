"""Pulseboard's Prometheus-compatible API against a real Prometheus holding the same samples.

One Prometheus (Debian's package; blocks made by promtool from the OpenMetrics of
tests/prometheus_peer.py) and one live Pulseboard (real store, samples posted to its ingest
API). Every query below is asked of both — as instant queries at three times (one inside the
data, its last sample, and four minutes after it, inside the 5-minute lookback) and as a range
query — and the answers must match: same series, same timestamps, values within 1e-9 relative.

The same Prometheus scrapes itself every second and remote_writes to Pulseboard; what it sent
must read back from Pulseboard sample for sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.live import LiveServer, live_server
from tests.prometheus_peer import Peer, conformance_series, load_into_pulseboard, prometheus

MINUTE = 60_000
END_MS = (int(time.time() * 1000) // MINUTE - 20) * MINUTE  # the data ends 20 minutes ago, within raw retention

QUERIES = [
    # selectors, every matcher kind
    "http_requests_total",
    'http_requests_total{code="500"}',
    'http_requests_total{code!="200"}',
    'http_requests_total{instance=~"a|b"}',
    'http_requests_total{instance!~"a.*", code=~"2.."}',
    '{__name__=~"node_temp.*"}',
    "flaky_gauge",
    "sparse_gauge",
    "node_temp_celsius offset 10m",
    # counters
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "rate(http_requests_total[5m] offset 5m)",
    "resets(http_requests_total[30m])",
    "rate(sparse_gauge[5m])",
    "delta(node_temp_celsius[10m])",
    "idelta(node_temp_celsius[5m])",
    # *_over_time
    "avg_over_time(node_temp_celsius[10m])",
    "min_over_time(node_temp_celsius[10m])",
    "max_over_time(node_temp_celsius[7m])",
    "sum_over_time(node_temp_celsius[10m])",
    "count_over_time(flaky_gauge[30m])",
    "last_over_time(flaky_gauge[10m])",
    "stddev_over_time(node_temp_celsius[10m])",
    "stdvar_over_time(node_temp_celsius[10m])",
    "quantile_over_time(0.9, node_temp_celsius[10m])",
    "present_over_time(sparse_gauge[3m])",
    "changes(sparse_gauge[10m])",
    # aggregations
    "sum(rate(http_requests_total[5m]))",
    "sum by (code) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "avg by (instance) (node_temp_celsius)",
    "min(node_temp_celsius)",
    "max by (job) (node_temp_celsius)",
    "count(http_requests_total)",
    "count by (code) (http_requests_total)",
    "group by (job) (node_temp_celsius)",
    "stddev(node_temp_celsius)",
    "quantile(0.75, node_temp_celsius)",
    "topk(2, node_temp_celsius)",
    "bottomk(1, rate(http_requests_total[5m]))",
    "topk by (code) (1, http_requests_total)",
    "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(http_request_duration_seconds_bucket[10m]))",
    # arithmetic, comparison, matching
    "node_temp_celsius * 2 + 1",
    "-node_temp_celsius",
    "node_temp_celsius > 20",
    "node_temp_celsius > bool 20",
    "20 < node_temp_celsius",
    "2 ^ 3 - 1",
    "sum(http_requests_total) % 7",
    "avg(rate(http_requests_total[5m])) * 60",
    'rate(http_requests_total{code="500"}[5m]) / ignoring(code) rate(http_requests_total{code="200"}[5m])',
    "node_temp_celsius / on(instance) group_left sum by (instance) (node_temp_celsius)",
    "node_temp_celsius == on(instance, job) node_temp_celsius",
    "node_temp_celsius and on(instance) flaky_gauge",
    "node_temp_celsius unless on(instance) flaky_gauge",
    "flaky_gauge or node_temp_celsius",
    # functions
    "abs(delta(node_temp_celsius[5m]))",
    "clamp(node_temp_celsius, 18, 21)",
    "clamp_max(node_temp_celsius, 20)",
    "clamp_min(node_temp_celsius, 20)",
    "round(node_temp_celsius, 0.5)",
    "sqrt(node_temp_celsius)",
    "ln(node_temp_celsius)",
    "scalar(sum(node_temp_celsius))",
    "time() - 1",
    "vector(1)",
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Peer, LiveServer]]:
    series = conformance_series(END_MS)
    tmp = tmp_path_factory.mktemp("promql")
    with live_server(tmp / "pulseboard", env={"PULSEBOARD_COLLECTORS": "false"}) as pulseboard:

        def config(port: int) -> str:
            return (
                "global:\n  scrape_interval: 1s\n"
                f"scrape_configs:\n  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
                f"remote_write:\n  - url: {pulseboard.url}/prometheus/api/v1/write\n"
                f"    authorization: {{credentials: {pulseboard.token}}}\n"
                "    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms}\n"
            )

        with prometheus(tmp / "prometheus", series, config) as peer, httpx.Client(timeout=30) as client:
            assert load_into_pulseboard(client, pulseboard.url, pulseboard.headers, series) == sum(
                len(points) for _, _, points in series
            )
            yield peer, pulseboard


def _ask(client: httpx.Client, url: str, path: str, params: dict[str, str], headers: dict[str, str]) -> dict:
    answer = client.get(f"{url}{path}", params=params, headers=headers)
    body = answer.json()
    assert body["status"] == "success", (url, params, body)
    return body["data"]


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def _same(a: str, b: str) -> bool:
    x, y = float(a), float(b)
    return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _normal(data: dict) -> tuple[str, dict]:
    kind = data["resultType"]
    if kind in ("scalar", "string"):
        return kind, {(): [tuple(data["result"])]}
    if kind == "vector":
        return kind, {_key(item["metric"]): [tuple(item["value"])] for item in data["result"]}
    return kind, {_key(item["metric"]): [tuple(p) for p in item["values"]] for item in data["result"]}


def _compare(expected: dict, actual: dict, what: str) -> None:
    kind, want = _normal(expected)
    got_kind, got = _normal(actual)
    assert got_kind == kind, what
    assert sorted(got) == sorted(want), f"{what}: series differ"
    for key, points in want.items():
        mine = got[key]
        assert [t for t, _ in mine] == [t for t, _ in points], f"{what} {key}: timestamps differ"
        bad = [(t, v, w) for (t, v), (_, w) in zip(points, mine, strict=True) if not _same(v, w)]
        assert not bad, f"{what} {key}: values differ (time, Prometheus, Pulseboard): {bad[:5]}"


def test_at_least_forty_queries_are_compared():
    assert len(QUERIES) >= 40


@pytest.mark.parametrize("query", QUERIES)
def test_query_matches_prometheus(servers, query):
    peer, pulseboard = servers
    with httpx.Client(timeout=30) as client:
        for at in (END_MS - 3_600_000 + 7_000, END_MS, END_MS + 4 * MINUTE):
            params = {"query": query, "time": f"{at / 1000:.3f}"}
            _compare(
                _ask(client, peer.url, "/api/v1/query", params, {}),
                _ask(client, pulseboard.url, "/prometheus/api/v1/query", params, pulseboard.headers),
                f"instant {query!r} at {at}",
            )
        params = {
            "query": query,
            "start": str((END_MS - 2 * 3_600_000) // 1000),
            "end": str((END_MS + 6 * MINUTE) // 1000),
            "step": "60",
        }
        theirs = _ask(client, peer.url, "/api/v1/query_range", params, {})
        assert theirs["result"], f"Prometheus has no answer to {query!r}: the comparison would prove nothing"
        _compare(
            theirs,
            _ask(client, pulseboard.url, "/prometheus/api/v1/query_range", params, pulseboard.headers),
            f"range {query!r}",
        )


def test_range_selector_in_an_instant_query_returns_the_raw_samples(servers):
    peer, pulseboard = servers
    params = {"query": "node_temp_celsius[2m]", "time": str(END_MS // 1000)}
    with httpx.Client(timeout=30) as client:
        _compare(
            _ask(client, peer.url, "/api/v1/query", params, {}),
            _ask(client, pulseboard.url, "/prometheus/api/v1/query", params, pulseboard.headers),
            "node_temp_celsius[2m]",
        )


def test_post_form_answers_like_get(servers):
    peer, pulseboard = servers
    form = {"query": "sum by (code) (rate(http_requests_total[5m]))", "time": str(END_MS // 1000)}
    with httpx.Client(timeout=30) as client:
        mine = client.post(f"{pulseboard.url}/prometheus/api/v1/query", data=form, headers=pulseboard.headers)
        theirs = client.post(f"{peer.url}/api/v1/query", data=form)
    _compare(theirs.json()["data"], mine.json()["data"], "POST form")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/query", {"query": "sum(rate(http_requests_total[5m]"}),
        ("/api/v1/query", {"query": "up", "time": "yesterday"}),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "11001", "step": "1"}),
        ("/api/v1/query_range", {"query": "up", "start": "100", "end": "10", "step": "1"}),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "10", "step": "0"}),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "10", "step": "soon"}),
    ],
)
def test_bad_requests_answer_prometheus_error_shape(servers, path, params):
    peer, pulseboard = servers
    with httpx.Client(timeout=30) as client:
        theirs = client.get(f"{peer.url}{path}", params=params)
        mine = client.get(f"{pulseboard.url}/prometheus{path}", params=params, headers=pulseboard.headers)
    assert (mine.status_code, theirs.status_code) == (400, 400)
    assert set(mine.json()) == set(theirs.json()) == {"status", "errorType", "error"}
    assert mine.json()["errorType"] == theirs.json()["errorType"] == "bad_data"
    if "step" in params and params["end"] == "11001":
        assert mine.json()["error"] == theirs.json()["error"]  # the 11,000 points per series limit, word for word


def test_series_labels_and_label_values_match_prometheus(servers):
    peer, pulseboard = servers
    with httpx.Client(timeout=30) as client:
        for path, params in [
            ("/api/v1/series", {"match[]": 'http_requests_total{code="500"}'}),
            ("/api/v1/series", [("match[]", "node_temp_celsius"), ("match[]", '{__name__="flaky_gauge"}')]),
            ("/api/v1/labels", {"match[]": "http_request_duration_seconds_bucket"}),
            ("/api/v1/label/instance/values", {"match[]": "node_temp_celsius"}),
            ("/api/v1/label/le/values", {"match[]": "http_request_duration_seconds_bucket"}),
        ]:
            theirs = _ask(client, peer.url, path, params, {})
            mine = _ask(client, pulseboard.url, f"/prometheus{path}", params, pulseboard.headers)
            if path.endswith("series"):
                assert sorted(map(_key, mine)) == sorted(map(_key, theirs)), path
            else:
                assert mine == theirs, path


def test_remote_write_from_prometheus_reads_back_identical(servers):
    """Prometheus scrapes itself every second and remote_writes; Pulseboard holds the same samples."""
    peer, pulseboard = servers
    selector = '{job="self", __name__=~"up|scrape_.*|prometheus_tsdb_head_.*|go_goroutines|go_memstats_.*"}'
    with httpx.Client(timeout=30) as client:
        deadline = time.monotonic() + 60
        while True:
            cut = time.time() - 3
            params = {"query": f"{selector}[20s]", "time": f"{cut:.3f}"}
            theirs = _ask(client, peer.url, "/api/v1/query", params, {})
            time.sleep(2.5)  # a flush (batch_send_deadline 1 s) past the cut
            mine = _ask(client, pulseboard.url, "/prometheus/api/v1/query", params, pulseboard.headers)
            points = sum(len(item["values"]) for item in theirs["result"])
            if points >= 200 or time.monotonic() > deadline:
                break
            time.sleep(1)
    assert points >= 200, "Prometheus scraped too little to compare"
    finite = {
        "resultType": "matrix",
        "result": [
            {"metric": item["metric"], "values": [p for p in item["values"] if p[1] != "NaN"]}
            for item in theirs["result"]
            if any(p[1] != "NaN" for p in item["values"])
        ],
    }
    _compare(finite, mine, "remote_write read-back")


def test_unsupported_function_is_named_in_prometheus_error_json(servers):
    _, pulseboard = servers
    answer = httpx.get(
        f"{pulseboard.url}/prometheus/api/v1/query",
        params={"query": "predict_linear(node_temp_celsius[10m], 60)"},
        headers=pulseboard.headers,
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert "'predict_linear' is not supported" in body["error"]


def test_queries_need_a_read_token(servers):
    _, pulseboard = servers
    url = f"{pulseboard.url}/prometheus/api/v1/query"
    assert httpx.get(url, params={"query": "vector(1)"}).status_code == 401
    basic = httpx.get(url, params={"query": "vector(1)"}, auth=("grafana", pulseboard.token))
    assert basic.status_code == 200 and basic.json()["data"]["result"][0]["value"][1] == "1"
