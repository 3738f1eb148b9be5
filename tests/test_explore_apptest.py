"""Explore with data, run by AppTest on a real store: the chart, the table and the CSV hold the seeded values."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qsl, urlsplit

import polars as pl
import pyarrow as pa
import pytest
import yaml
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Sample, now_ms
from core.ui.text import md_escape

CPU = [float(v) for v in (12, 47, 33, 81, 5, 64, 29, 90, 18, 56)]  # one sample a minute, newest first
MEMORY = [70.0, 71.5, 73.0]


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, str | None]]:
    """(data, file name) of every file a download button hands to Streamlit's media storage."""
    saved: list[tuple[bytes, str | None]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        saved.append((path_or_data, filename))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return saved


@pytest.fixture
def seeded(app_store) -> int:
    now = now_ms()
    samples = [Sample.of("cpu_percent", {"host": "h1"}, v, now - (i + 1) * 60_000) for i, v in enumerate(CPU)]
    samples += [Sample.of("a_memory_percent", {"host": "h1"}, v, now - (i + 1) * 60_000) for i, v in enumerate(MEMORY)]
    ingest(app_store, Batch(tuple(samples)), origin="test")
    return now


def explore(role: str | None = None, **typed: str) -> AppTest:
    """Explore over the last hour (the raw tier: every sample as stored), as the local viewer or as ``role``.

    Without a role the page must show no error box; with one, a refused selector's error is the subject.
    """
    at = AppTest.from_file(str(ROOT / "pages" / "explore.py"), default_timeout=120)
    if role is not None:
        at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    next(s for s in at.selectbox if s.label == "Range").set_value("Last 1 h")
    if "metric" in typed:
        next(s for s in at.selectbox if s.label == "Metric").set_value(typed["metric"])
    if "selector" in typed:
        at.text_input[0].input(typed["selector"])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    if role is None:
        assert not at.error, [e.value for e in at.error]
    return at


def chart(at: AppTest) -> tuple[dict, pl.DataFrame]:
    """The Vega-Lite spec of the one chart and the data it draws."""
    charts = at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart")
    assert len(charts) == 1
    proto = charts[0].proto
    spec = json.loads(proto.spec)
    data = pl.from_arrow(pa.ipc.open_stream(proto.datasets[0].data.data).read_all())
    assert isinstance(data, pl.DataFrame)
    return spec, data


def y_title(spec: dict) -> str:
    return str(spec["layer"][0]["encoding"]["y"]["title"])


def csv(downloads: list[tuple[bytes, str | None]]) -> tuple[str | None, pl.DataFrame]:
    """The newest CSV handed out (the table is also offered as Parquet and JSON)."""
    data, name = next(d for d in reversed(downloads) if (d[1] or "").endswith(".csv"))
    return name, pl.read_csv(io.BytesIO(data))


def test_chart_table_and_csv_show_the_seeded_values(seeded, downloads):
    at = explore(metric="cpu_percent")
    spec, drawn = chart(at)
    assert y_title(spec) == "cpu_percent"
    oldest_first = list(reversed(CPU))
    assert drawn.sort("ts")["value"].to_list() == oldest_first
    table = at.dataframe[0].value
    assert table["value"].tolist() == oldest_first and set(table["series"]) == {'cpu_percent{host="h1"}'}
    name, rows = csv(downloads)
    assert name == "cpu_percent.csv"
    assert rows.columns == ["ts", "series", "value"] and rows["value"].to_list() == oldest_first
    # an hour at 1,000 points is 5 s buckets of raw samples: each sample stands at the start of its bucket
    stamps = pl.from_epoch(
        pl.Series([(seeded - (i + 1) * 60_000) // 5_000 * 5_000 for i in reversed(range(len(CPU)))]), "ms"
    )
    assert rows["ts"].to_list() == stamps.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_list()
    assert "10 points" in at.caption[0].value and "raw tier" in at.caption[0].value


def test_a_typed_selector_names_the_csv_and_the_axis_after_its_own_metric(seeded, downloads):
    at = explore(selector='cpu_percent{host="h1"}')
    assert next(s for s in at.selectbox if s.label == "Metric").value == "a_memory_percent"  # the picker says otherwise
    spec, drawn = chart(at)
    assert y_title(spec) == "cpu_percent"
    assert sorted(drawn["value"].to_list()) == sorted(CPU)
    name, rows = csv(downloads)
    assert name == "cpu_percent.csv" and sorted(rows["value"].to_list()) == sorted(CPU)


# --- who sees what, the previous-period comparison, and "create alert" ---------------------------------------------

REVIEWS = {("org/api", "ann"): 100.0, ("org/api", "bob"): 300.0}


@pytest.fixture
def reviews(app_store) -> int:
    now = now_ms()
    samples = []
    for i in range(3):
        ts = now - (i + 1) * 60_000
        samples += [
            Sample.of("review_duration_seconds", {"repository": repo, "reviewer": who}, v, ts)
            for (repo, who), v in REVIEWS.items()
        ]
        samples += [Sample.of("review_cost_usd_total", {"repository": "org/api"}, 42.0, ts)]
    ingest(app_store, Batch(tuple(samples)), origin="test")
    return now


def shown_text(at: AppTest) -> str:
    """Everything the page put on screen as text, tables included."""
    parts = [str(e.value) for kind in ("caption", "markdown", "error", "warning", "metric") for e in at.get(kind)]
    parts += [o for s in at.selectbox for o in s.options] + [o for m in at.multiselect for o in [m.label, *m.options]]
    parts += [at.dataframe[0].value.to_csv()] if at.dataframe else []
    return "\n".join(parts)


def test_a_developer_never_sees_cost_metrics_or_reviewer_values(reviews):
    at = explore("developer", metric="review_duration_seconds")
    metric = next(s for s in at.selectbox if s.label == "Metric")
    assert metric.options == ["review_duration_seconds"]
    assert [m.label for m in at.multiselect] == ["repository", "Group by"]
    assert next(m for m in at.multiselect if m.label == "Group by").options == ["repository"]
    assert set(at.dataframe[0].value["series"]) == {'review_duration_seconds{repository="org/api"}'}
    assert at.dataframe[0].value["value"].tolist() == [200.0] * 3  # ann and bob together, neither alone
    text = shown_text(at)
    assert "cost" not in text and "reviewer" not in text and "ann" not in text and "bob" not in text


@pytest.mark.parametrize(
    ("selector", "permission"),
    [("review_cost_usd_total", "view_costs"), ('review_duration_seconds{reviewer="ann"}', "view_people")],
)
def test_a_developer_typing_a_hidden_selector_is_refused(reviews, downloads, selector, permission):
    at = explore("developer", selector=selector)
    # the message is Markdown-escaped (it quotes the typed selector): compare with the escaped words
    assert len(at.error) == 1 and md_escape(f"lacks the permission '{permission}'") in at.error[0].value
    assert not at.dataframe and not (at.get("vega_lite_chart") or at.get("arrow_vega_lite_chart"))
    # the first run, before the selector was typed, may export the default metric as the developer sees it: no cost
    # metric and no reviewer in anything handed out
    assert not [name for data, name in downloads if b"cost" in data or b"reviewer" in data or b"ann" in data]


@pytest.mark.parametrize("role", ["executive", "admin"])
def test_executives_and_admins_see_costs_and_reviewers(reviews, role):
    at = explore(role, metric="review_duration_seconds")
    assert next(s for s in at.selectbox if s.label == "Metric").options == [
        "review_cost_usd_total",
        "review_duration_seconds",
    ]
    reviewer = next(m for m in at.multiselect if m.label == "reviewer")
    assert reviewer.options == ["ann", "bob"]
    assert set(at.dataframe[0].value["series"]) == {
        'review_duration_seconds{repository="org/api", reviewer="ann"}',
        'review_duration_seconds{repository="org/api", reviewer="bob"}',
    }
    typed = explore(role, selector="review_cost_usd_total")
    assert not typed.error and set(typed.dataframe[0].value["value"]) == {42.0}


@pytest.fixture
def two_hours(app_store) -> int:
    """cpu_percent 12 and 12 in the hour before the last, 14 and 16 in the last one."""
    now = now_ms()
    values = {90: 12.0, 80: 12.0, 30: 14.0, 20: 16.0}  # minutes ago → value
    ingest(
        app_store,
        Batch(tuple(Sample.of("cpu_percent", {"host": "h1"}, v, now - m * 60_000) for m, v in values.items())),
        origin="test",
    )
    return now


@pytest.mark.parametrize(
    ("agg", "value", "delta"),
    [
        ("avg", "15", "↑ 25% vs previous hour"),
        ("max", "16", "↑ 33% vs previous hour"),
        ("min", "14", "↑ 17% vs previous hour"),
        ("count", "2", "→ 0% vs previous hour"),
    ],
)
def test_the_card_compares_the_aggregation_with_the_previous_period(two_hours, agg, value, delta):
    at = explore("developer", metric="cpu_percent")
    next(s for s in at.selectbox if s.label == "Aggregation").set_value(agg).run()
    assert not at.exception and not at.error
    card = at.metric[0]
    assert (card.label, card.value, card.delta) == (f"{agg} over the range, all matching series", value, delta)


def alert_url(at: AppTest) -> str:
    buttons = [e for e in at.get("link_button") if e.proto.label == "Create alert from this query"]
    assert len(buttons) == 1
    return str(buttons[0].proto.url)


def test_create_alert_prefills_the_rule_with_the_same_selector_and_aggregation(seeded):
    at = explore(metric="cpu_percent")
    next(m for m in at.multiselect if m.label == "host").set_value(["h1"])
    next(s for s in at.selectbox if s.label == "Aggregation").set_value("max")
    at.run()
    assert not at.exception and not at.error
    url = urlsplit(alert_url(at))
    params = dict(parse_qsl(url.query))
    assert (url.path, params) == ("/alerts", {"selector": 'cpu_percent{host="h1"}', "agg": "max"})
    # The Alerts page reads the prefill from those query parameters, as the browser opens it.
    alerts = AppTest.from_file(str(ROOT / "pages" / "alerts.py"), default_timeout=120)
    alerts.session_state["role"] = "operations"
    alerts.query_params.update(params)
    alerts.run()
    assert not alerts.exception, [e.value for e in alerts.exception]
    next(t for t in alerts.tabs if t.label.startswith("Rules"))
    rule = yaml.safe_load(next(t for t in alerts.text_area if t.label.startswith("Rule (YAML")).value)
    assert (rule["selector"], rule["agg"], rule["name"]) == ('cpu_percent{host="h1"}', "max", "cpu_percent_alert")


def test_create_alert_carries_a_typed_selector_with_several_matchers(seeded):
    typed = 'cpu_percent{host=~"h1|h2", env!="dev"}'
    at = explore(selector=typed)
    next(s for s in at.selectbox if s.label == "Aggregation").set_value("last")
    at.run()
    params = dict(parse_qsl(urlsplit(alert_url(at)).query))
    assert params == {"selector": 'cpu_percent{host=~"h1|h2", env!="dev"}', "agg": "last"}


@pytest.mark.parametrize(
    ("selector", "words"),
    [
        ('cpu_percent{host=~"(?=h)1"}', "look-ahead is not supported"),
        ("cpu_percent{host=~`(h)\\1`}", "back-references are not supported"),
        ('cpu_percent{host=~"' + "h" * 1001 + '"}', "at most 1,000 allowed"),
    ],
)
def test_a_regex_re2_refuses_is_an_error_box_naming_why(seeded, downloads, selector, words):
    at = explore("operations", selector=selector)
    assert len(at.error) == 1 and md_escape(words) in at.error[0].value
    # the first run, before the selector was typed, may export the default metric: nothing of the refused one
    assert not at.dataframe and not [d for d in downloads if (d[1] or "").startswith("cpu_percent")]
