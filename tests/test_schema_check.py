"""The app draws charts without Altair's schema check; the tests (this suite) keep it on."""

from __future__ import annotations

from collections.abc import Iterator

import altair as alt
import polars as pl
import pytest
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec

from core.ui import charts
from core.ui.schema_check import set_checking, unchecked


@pytest.fixture
def app_mode() -> Iterator[None]:
    set_checking(False)
    try:
        yield
    finally:
        set_checking(True)


def trend() -> alt.LayerChart:
    frame = pl.DataFrame(
        {"ts": [0, 60_000, 120_000] * 2, "value": [1.0, 2.0, 3.0] * 2, "series": ["a"] * 3 + ["b"] * 3}
    )
    return charts.trend(frame, warning=2.0, critical=2.5)


def without_data(spec: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in spec.items() if k != "datasets"}


def test_an_unchecked_chart_is_drawn_from_the_same_spec(app_mode: None) -> None:
    checked = _convert_altair_to_vega_lite_spec(trend())
    skipped = unchecked(trend())
    assert type(skipped).__module__ == "altair.vegalite.v6.api" and isinstance(skipped, alt.LayerChart)
    assert without_data(_convert_altair_to_vega_lite_spec(skipped)) == without_data(checked)


def broken() -> dict[str, object]:
    """A spec Vega-Lite refuses: a mark size must be a number."""
    return unchecked(alt.Chart(pl.DataFrame({"x": [1]})).mark_point(size="big").encode(x="x:Q")).to_dict()


def test_the_check_runs_in_tests_and_is_skipped_in_the_app(app_mode: None) -> None:
    assert broken()["mark"] == {"type": "point", "size": "big"}  # the app draws it and Vega reports what it cannot draw
    set_checking(True)
    with pytest.raises(alt.utils.schemapi.SchemaValidationError, match="big"):
        broken()
