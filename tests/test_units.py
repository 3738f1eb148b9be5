"""Humanised units (core.ui.units): one wording for sizes, rates, durations and counts, for one value, a polars
column and a Vega axis expression."""

from __future__ import annotations

import math
import re

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ui import units

NUMBER = r"−?\d+(\.\d+)?"


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (1_000_000, "977 KiB"),
        (1.5 * 2**30, "1.5 GiB"),
        (10 * 2**40, "10 TiB"),
        (-2048, "−2 KiB"),
    ],
)
def test_sizes_use_the_largest_binary_unit_reached(n, text):
    assert units.size(n) == text
    assert units.rate(n) == text + "/s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.0004, "400 µs"),
        (0.25, "250 ms"),
        (1.5, "1.5 s"),
        (12.34, "12.3 s"),
        (60, "1 min"),
        (65, "1 min 5 s"),
        (3_600, "1 h"),
        (3_725, "1 h 2 min"),
        (90_000, "1 d 1 h"),
        (200_000, "2 d 7 h"),
    ],
)
def test_durations_read_as_a_person_would_say_them(seconds, text):
    assert units.duration(seconds) == text


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0"), (5, "5"), (999, "999"), (1_000, "1 k"), (12_400, "12.4 k"), (3.1e6, "3.1 M")]
)
def test_counts_shorten_past_a_thousand(n, text):
    assert units.count(n) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1_234, "ms", "1.23 s"),
        (90, "minutes", "1 h 30 min"),
        (3 * 2**20, "B/s", "3 MiB/s"),
        (2048, "bytes", "2 KiB"),
        (12.5, "%", "12.5%"),
        (3, "defects", "3.0 defects"),
        (None, "B", "—"),
        (math.nan, "ms", "—"),
    ],
)
def test_humanise_goes_by_the_unit_and_leaves_other_units_as_they_were(value, unit, text):
    assert units.humanise(value, unit) == text


def test_units_not_humanised_keep_their_own_axis_title():
    assert units.kind_of("%") is None and units.vega_expr("%") is None
    assert units.axis_title("%") == "%"
    assert units.axis_title("ms") == "duration"
    assert units.axis_title("B/s", "Network in") == "Network in"


def test_a_column_is_humanised_like_one_value():
    frame = pl.DataFrame({"v": [0.5, 2048.0, None]})
    shown = frame.select(units.humanise_expr(pl.col("v"), "B"))["v"].to_list()
    assert shown == ["0 B", "2 KiB", None]


@given(st.floats(min_value=-1e18, max_value=1e18, allow_nan=False))
def test_every_size_is_a_short_number_and_a_binary_unit(n):
    text = units.size(n)
    assert re.fullmatch(NUMBER + r" (B|KiB|MiB|GiB|TiB|PiB|EiB)", text), text
    number = float(text.split()[0].replace("−", "-"))
    assert abs(number) < 1024 or text.endswith("EiB")


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_every_duration_has_at_most_two_parts_in_falling_units(seconds):
    text = units.duration(seconds)
    assert re.fullmatch(NUMBER + r" (µs|ms|s|min|h|d)( \d+ (min|h|s))?", text), text
    parts = text.replace("−", "").split()
    order = ["d", "h", "min", "s"]
    if len(parts) == 4:
        assert order.index(parts[1]) + 1 == order.index(parts[3])
        assert float(parts[2]) > 0


@given(st.floats(min_value=1, max_value=1e8, allow_nan=False))
def test_durations_never_lose_more_than_a_unit_of_their_second_part(seconds):
    """Read back, a humanised duration is within one of its smallest shown unit (or 1 % below a minute)."""
    parts = units.duration(seconds).split()
    size = {"ms": 0.001, "s": 1, "min": 60, "h": 3_600, "d": 86_400}
    back = sum(float(parts[i]) * size[parts[i + 1]] for i in range(0, len(parts), 2))
    smallest = size[parts[-1]]
    assert abs(back - seconds) <= (0.01 * seconds if seconds < 60 else smallest)


@given(st.floats(min_value=0, max_value=1e15, allow_nan=False))
def test_counts_round_to_three_figures(n):
    text = units.count(n)
    if n < 1000:
        assert float(text.replace(",", "")) == pytest.approx(n, rel=0.006, abs=0.006)
    else:
        number, suffix = text.split()
        scale = {"k": 1e3, "M": 1e6, "bn": 1e9, "tn": 1e12}[suffix]
        assert float(number) * scale == pytest.approx(n, rel=0.006)


def test_vega_expressions_scale_the_raw_field_and_name_the_unit():
    assert "datum.value / 1048576" in units.vega_expr("B/s")  # type: ignore[operator]
    assert units.vega_expr("B/s").endswith("+ '/s'")  # type: ignore[union-attr]
    latency = units.vega_expr("ms", "datum['value']")
    assert latency is not None and "(datum['value'] * 0.001)" in latency and "' ms'" in latency
    assert "' k'" in units.vega_expr("count")  # type: ignore[operator]


@pytest.mark.parametrize(
    ("name", "agg", "unit"),
    [
        ("system_network_receive_bytes_per_second", "avg", "B/s"),
        ("system_memory_used_bytes", "max", "B"),
        ("process_written_bytes_total", "rate", "B/s"),
        ("api_request_duration_seconds", "avg", "s"),
        ("api_request_duration_seconds", "count", ""),
        ("cpu_seconds_total", "rate", ""),
        ("system_cpu_percent", "avg", ""),
    ],
)
def test_a_metric_name_declares_its_unit_as_read_after_the_aggregation(name, agg, unit):
    assert units.metric_unit(name, agg) == unit
