"""Every table and chart carries a "Data" menu (core/ui/export.py) exporting exactly the rows it drew.

Role pages run through AppTest on the demo data; the deferred download callables are caught where Streamlit
registers them, called, and their files compared with the frames the page handed to st.dataframe and the data
sets of its Vega-Lite charts, under the page's range and filters. A developer's exports carry no cost column;
formula-looking text is neutralised in CSV and left as it is in Parquet and JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

import altair as alt
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from core.auth import audit
from core.auth.access import is_sensitive
from core.config import ROOT
from core.query.timewindow import RANGE_LABELS
from core.reports.export import FORMULA_STARTS, data_bytes, read_back
from core.ui import widgets as w
from core.ui.export import chart_frame, file_stem
from tests.test_role_pages_apptest import demo

ROLE_PAGES = {"overview": "operations", "executive": "executive", "operations": "operations", "developer": "developer"}
ROLE_PAGES |= {"qa": "qa_lead", "sla": "operations"}


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], bytes]]:
    """File name -> the deferred callable behind each "Data" menu button of the last run."""
    caught: dict[str, Callable[[], bytes]] = {}
    original = MediaFileManager.add_deferred

    def keep(self, data, mimetype, coordinates, file_name=None, element_id=""):  # type: ignore[no-untyped-def]
        caught[file_name] = data
        return original(self, data, mimetype, coordinates, file_name=file_name, element_id=element_id)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return caught


def run(page: str, role: str, caught: dict, **query: str) -> AppTest:
    caught.clear()
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=120)
    at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def comparable(frame: pl.DataFrame) -> list[tuple]:
    """Rows as text (times as epoch ms), so a frame read back from a file compares with the one drawn."""
    cells = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            cells.append(column.dt.epoch("ms").cast(pl.String))
        elif isinstance(dtype, pl.List | pl.Array | pl.Struct | pl.Object):
            continue  # sparkline cells: drawn as a chart in the cell, compared by the other columns
        elif dtype.is_numeric():  # a drawn int column with gaps comes back from pandas as floats
            cells.append(column.cast(pl.Float64).round(6).cast(pl.String))
        else:
            cells.append(column.cast(pl.String))
    return sorted(frame.select(cells).fill_null("∅").rows()) if cells else []


def drawn_tables(at: AppTest) -> list[pl.DataFrame]:
    return [pl.from_pandas(d.value) for d in at.dataframe]


def drawn_charts(at: AppTest) -> list[list[pl.DataFrame]]:
    """Each chart's data sets as the browser receives them."""
    return [[pl.read_ipc_stream(io.BytesIO(d.data.data)) for d in c.proto.datasets] for c in at.get("vega_lite_chart")]


def parquet_exports(caught: dict) -> dict[str, pl.DataFrame]:
    return {name: read_back(make(), "parquet") for name, make in caught.items() if name.endswith(".parquet")}


@pytest.mark.parametrize("page", list(ROLE_PAGES))
def test_every_table_and_chart_exports_exactly_the_rows_it_drew(app_store, exports, page):
    demo(app_store, 2)
    at = run(page, ROLE_PAGES[page], exports, range=RANGE_LABELS["7d"])
    files = parquet_exports(exports)
    tables, charts = drawn_tables(at), drawn_charts(at)
    assert tables or charts, page
    menus = [b for b in at.get("download_button") if b.proto.id.split("-", 2)[2].startswith("export-")]
    assert len(menus) == 3 * (len(tables) + len(charts)), sorted(files)  # one menu per table and chart, no more
    assert [b.proto.label for b in menus] == ["CSV", "Parquet", "JSON"] * (len(tables) + len(charts))
    empty = sum(t.is_empty() for t in tables)  # an empty table's menu is there, its buttons disabled
    assert sum(b.proto.disabled for b in menus) == 3 * empty
    assert len(files) == len(tables) + len(charts) - empty
    assert all(name.startswith(f"{page}-") and name.endswith("-7d.parquet") for name in files), sorted(files)
    assert (
        {n.removesuffix(".parquet") for n in files}
        == {n.rsplit(".", 1)[0] for n in exports if n.endswith(".csv")}
        == {n.rsplit(".", 1)[0] for n in exports if n.endswith(".json")}
    )  # CSV, Parquet and JSON for each
    unmatched = [
        t.columns for t in tables if t.height and not any(comparable(f) == comparable(t) for f in files.values())
    ]
    assert not unmatched, unmatched
    gauges = [f for f in files.values() if f.columns == ["value", "target", "unit", "note"] and f.height == 1]
    for datasets, spec in zip(charts, [c.proto.spec for c in at.get("vega_lite_chart")], strict=True):
        rows = sum(d.height for d in datasets)
        columns = {c for d in datasets for c in d.columns}
        if '"arc"' in spec and {"part", "share"} <= columns:  # a gauge draws arcs; it exports the figure shown
            assert gauges, sorted(files)
            continue
        assert any(f.height == rows and columns <= set(f.columns) for f in files.values()), (columns, rows)


def test_exports_follow_the_filters_the_page_applies(app_store, exports):
    demo(app_store, 2)
    at = run("operations", "operations", exports)
    repository = next(o for o in at.selectbox(key="repository").options if o != "All")
    unfiltered = parquet_exports(exports)
    at.selectbox(key="repository").set_value(repository)
    exports.clear()
    at.run()
    assert not at.exception
    files = parquet_exports(exports)
    tables = drawn_tables(at)
    assert files.keys() <= unfiltered.keys()  # a panel the filter empties draws the empty state, without a menu
    # the filter changed what some panel exports: fewer panels, fewer rows, or other figures in the same rows (which
    # of these depends on the hour the demo ends in)
    assert files.keys() < unfiltered.keys() or any(not files[n].equals(unfiltered[n]) for n in files)
    for table in tables:
        assert any(comparable(f) == comparable(table) for f in files.values()), table.columns
    for frame in files.values():
        if "repository" in frame.columns and frame.height:
            assert set(frame["repository"].drop_nulls()) <= {repository}


def test_a_developer_never_exports_a_cost_field(app_store, exports):
    demo(app_store, 2)
    run("developer", "developer", exports)
    assert exports
    for name, make in exports.items():
        fmt = name.rsplit(".", 1)[1]
        columns = read_back(make(), fmt).columns if fmt != "csv" else next(csv.reader(io.StringIO(make().decode())))
        assert not [c for c in columns if is_sensitive(c, "view_costs")], name


def test_a_panel_download_is_audited_when_clicked_not_when_drawn(app_store, exports):
    demo(app_store, 2)
    run("operations", "operations", exports)
    assert audit.entries(app_store, actions=(audit.EXPORT,)).is_empty()  # drawing the menus exports nothing
    name = next(n for n in exports if n.endswith(".csv"))
    data = exports[name]()
    rows = audit.entries(app_store, actions=(audit.EXPORT,))
    assert rows.height == 1 and rows["target"][0] == f"panel:{name}" and rows["actor"][0] == "local"
    detail = json.loads(rows["detail"][0])
    assert detail["rows"] == len(data.decode().splitlines()) - 1 and detail["columns"]


def cost_table() -> None:
    """A page drawing a table with cost columns; the session's role says who looks at it."""
    import polars as pl
    import streamlit as st

    from core.auth.access import Viewer
    from core.ui import export

    export.set_scope("executive", "30d", Viewer("someone", frozenset({st.session_state["who"]})))
    frame = pl.DataFrame(
        {"team": ["a", "b"], "cost_usd": [1.5, 2.0], "review_cost_per_item": [2.0, 3.0], "items": [3, 4]}
    )
    export.table(frame, "team costs")


@pytest.mark.parametrize(("role", "columns"), [("developer", ["team", "items"]), ("executive", None)])
def test_the_menu_redacts_what_the_viewer_may_not_see(exports, role, columns):
    at = AppTest.from_function(cost_table)
    at.session_state["who"] = role
    at.run()
    assert not at.exception
    assert sorted(exports) == [f"executive-team-costs-30d.{f}" for f in ("csv", "json", "parquet")]
    expected = columns or ["team", "cost_usd", "review_cost_per_item", "items"]
    for name, make in exports.items():
        fmt = name.rsplit(".", 1)[1]
        assert read_back(make(), fmt).columns == expected, name


def test_file_names_say_page_panel_and_range():
    assert file_stem("sla", "Error budget (30 d)", "7d") == "sla-error-budget-30-d-7d"
    assert file_stem("qa", "risk/matrix", "2026-12-01-to-2026-12-07") == "qa-risk-matrix-2026-12-01-to-2026-12-07"
    assert file_stem("admin", "users") == "admin-users"
    assert file_stem("x", "../../etc/passwd", "") == "x-etc-passwd"


def test_a_gauge_exports_its_figure_not_its_arcs():
    out = w.build(w.GaugeConfig(kind="gauge", title="SLA compliance", target=99.3, unit="%"), (97.4, "12 items"))
    assert isinstance(out, w.ChartOut) and out.rows is not None
    assert out.rows.to_dicts() == [{"value": 97.4, "target": 99.3, "unit": "%", "note": "12 items"}]


def test_chart_frame_is_the_drawn_rows_once_per_data_set():
    series = pl.DataFrame({"ts": [1, 2, 3], "value": [1.0, 2.0, 3.0]})
    marks = pl.DataFrame({"ts": [2], "what": ["deploy"]})
    line = alt.Chart(series).mark_line().encode(x="ts:Q", y="value:Q")
    assert chart_frame(line).equals(series)
    points = alt.Chart(series).mark_point().encode(x="ts:Q", y="value:Q")
    assert chart_frame(alt.layer(line, points)).equals(series)  # one data set drawn twice is exported once
    both = chart_frame(alt.layer(line, alt.Chart(marks).mark_rule().encode(x="ts:Q")))
    assert both.columns == ["layer", "ts", "value", "what"]
    assert both["layer"].to_list() == ["line"] * 3 + ["rule"]
    assert chart_frame(alt.Chart().mark_rule()).is_empty()


risky = st.tuples(st.sampled_from(FORMULA_STARTS), st.text(max_size=15)).map("".join)


@given(st.lists(st.one_of(risky, st.text(max_size=15)), min_size=1, max_size=8))
def test_formula_text_is_neutralised_in_csv_and_raw_in_parquet_and_json(values):
    frame = pl.DataFrame({"text": values, "n": list(range(len(values)))})
    rows = list(csv.reader(io.StringIO(data_bytes(frame, "csv").decode(), newline="")))
    assert rows[0] == ["text", "n"]
    written = [row[0] for row in rows[1:]]
    assert written == ["'" + v if v.startswith(FORMULA_STARTS) else v for v in values]
    assert not any(cell.startswith(FORMULA_STARTS) for cell in written)
    assert read_back(data_bytes(frame, "parquet"), "parquet")["text"].to_list() == values
    assert [row["text"] for row in json.loads(data_bytes(frame, "json"))] == values


def test_list_cells_are_json_text_in_csv():
    frame = pl.DataFrame({"suite": ["=a"], "trend": [[90.0, 95.5]]})
    rows = list(csv.reader(io.StringIO(data_bytes(frame, "csv").decode())))
    assert rows == [["suite", "trend"], ["'=a", "[90.0,95.5]"]]
    assert read_back(data_bytes(frame, "parquet"), "parquet")["trend"].to_list() == [[90.0, 95.5]]
