"""A chart's text alternative: one sentence saying what it shows, read off the chart itself.

Every chart Pulseboard draws carries, under it, a line such as "CPU % on 3 series over 24 h to 14:05 UTC: max
91 % on web-2 at 13:40, latest 40–62 %" and a "Show data" table (core.ui.accessibility draws both), so a person
who cannot see the chart, or cannot tell its colours apart, reads the same facts. No page writes that sentence:
:func:`describe` finds the chart's roles in its Altair encoding — the time axis, the value, the series or
category — and :func:`summarise` words the frame with them. Both are pure (no Streamlit), so tests feed them
frames and charts directly.

The shapes worded: values over time (one or many series), values per category (bars, summed over their stacks),
a grid of values (heatmaps), and things counted by state (status grids, timelines, pipelines); anything else
says how many rows it draws. Values are humanised by their unit (core.ui.units).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import altair as alt
import polars as pl

from core.ui import units

DRAWN_MARKS = ("line", "area", "bar", "point", "circle", "square", "rect", "tick", "trail", "arc")
TYPES = {"T": "temporal", "Q": "quantitative", "N": "nominal", "O": "ordinal"}
MOST_STATES = 6  # states listed by name in a count sentence; the rest are "n other"


@dataclass(frozen=True)
class Roles:
    """What each column of a chart's frame is: time axis, value, series (colour) and category; ``unit`` and
    ``value_title`` are the value axis's title (a unit such as "ms" or "%", or words)."""

    time: str | None = None
    value: str | None = None
    series: str | None = None
    category: str | None = None
    column: str | None = None  # a heatmap's second (x) category
    unit: str = ""


def _field(channel: Any) -> tuple[str, str] | None:
    """(field, Vega-Lite type) of one encoding channel, None for a constant or an empty channel."""
    if channel is None or channel is alt.Undefined:
        return None
    spec = channel.to_dict() if hasattr(channel, "to_dict") else channel
    if isinstance(spec, str):
        name, _, short = spec.partition(":")
        return (name, TYPES.get(short, "nominal")) if name else None
    if not isinstance(spec, dict) or not isinstance(spec.get("field"), str):
        return None
    return spec["field"], str(spec.get("type", "nominal"))


def _title(channel: Any) -> str:
    spec = channel.to_dict() if hasattr(channel, "to_dict") else {}
    title = spec.get("title") if isinstance(spec, dict) else None
    return title if isinstance(title, str) else ""


def _marks(chart: Any, data: Any = alt.Undefined) -> Iterator[tuple[Any, Any]]:
    """Every single-view chart inside ``chart`` (itself, its layers, its concatenated parts) with the data it
    draws (its own, else its parent's), in drawing order."""
    own = getattr(chart, "data", alt.Undefined)
    data = data if own is alt.Undefined else own
    if getattr(chart, "mark", alt.Undefined) is not alt.Undefined:
        yield chart, data
    for attr in ("layer", "hconcat", "vconcat", "concat"):
        parts = getattr(chart, attr, None)
        if isinstance(parts, list):
            for part in parts:
                yield from _marks(part, data)


def _drawn(chart: Any) -> tuple[Any, pl.DataFrame | None]:
    """The first drawn mark of ``chart`` (threshold rules and labels are skipped) and its frame."""
    for part, data in _marks(chart):
        if _mark_type(part) in DRAWN_MARKS and getattr(part, "encoding", alt.Undefined) is not alt.Undefined:
            if isinstance(data, pl.DataFrame):
                return part, data
            if hasattr(data, "columns") and hasattr(data, "to_dict"):
                return part, pl.from_pandas(data)
            return part, None
    return None, None


def _mark_type(chart: Any) -> str:
    mark = chart.mark
    return mark if isinstance(mark, str) else str(getattr(mark, "type", "") or "")


def roles(chart: Any) -> Roles:
    """The roles of the first drawn mark of ``chart`` (threshold rules and labels are skipped)."""
    part, _ = _drawn(chart)
    if part is not None:
        encoding = part.encoding
        channels = {name: getattr(encoding, name, alt.Undefined) for name in ("x", "y", "color", "theta")}
        fields = {name: _field(channel) for name, channel in channels.items()}
        time = next((f for f, t in (fields[c] or ("", "") for c in ("x", "y")) if t == "temporal"), None)
        numbers = [c for c in ("x", "y", "color") if (fields[c] or ("", ""))[1] == "quantitative"]
        names = [c for c in ("y", "x") if (fields[c] or ("", ""))[1] in ("nominal", "ordinal")]
        if numbers and numbers[0] in ("x", "y") and fields["color"] and fields["color"][1] == "quantitative":
            numbers = ["color"]  # a heatmap's value is its colour
        value_channel = numbers[0] if numbers else None
        value = fields[value_channel][0] if value_channel else None  # type: ignore[index]
        colour = fields["color"]
        series = colour[0] if colour and colour[1] in ("nominal", "ordinal") else None
        category = fields[names[0]][0] if names else None  # type: ignore[index]
        column = fields[names[1]][0] if len(names) > 1 else None  # type: ignore[index]
        if value_channel == "color" and time is None and column is None and category is not None:
            other = "x" if names[0] == "y" else "y"
            column = fields[other][0] if fields[other] else None  # type: ignore[index]
        if _mark_type(part) == "arc":
            return Roles(value=value, series=series)
        return Roles(
            time=time,
            value=value,
            series=series,
            category=category,
            column=column,
            unit=_title(channels[value_channel]) if value_channel else "",
        )
    return Roles()


def _number(value: float) -> str:
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def amount(value: Any, unit: str = "") -> str:
    """One value as the sentence writes it: humanised when ``unit`` is one core.ui.units knows ("1.5 MiB/s"),
    else the number and the unit ("91 %"), or just the number when the unit is words ("load %" axis titles)."""
    if value is None:
        return "no value"
    number = float(value)
    if units.kind_of(unit):
        return units.humanise(number, unit)
    short = unit and len(unit) <= 3
    return f"{_number(number)} {unit}" if short else _number(number)


def _time(value: Any, long: bool) -> str:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float):
        stamp = datetime.fromtimestamp(float(value) / 1000, UTC)
    else:
        return str(value)
    return stamp.astimezone(UTC).strftime("%d %b %H:%M" if long else "%H:%M")


def _span(frame: pl.DataFrame, time: str) -> tuple[str, bool]:
    """("over 24 h to 14:05 UTC", whether times need their date) for the frame's time column."""
    first, last = frame[time].min(), frame[time].max()
    if isinstance(first, datetime) and isinstance(last, datetime):
        seconds = (last - first).total_seconds()
    elif isinstance(first, int | float) and isinstance(last, int | float):
        seconds = (float(last) - float(first)) / 1000
    else:
        return "", False
    long = seconds >= 86_400
    over = f"over {units.duration(seconds)} " if seconds > 0 else "at one time, "
    return f"{over}to {_time(last, long)} UTC".replace(", to", ","), long


def _counted(frame: pl.DataFrame, column: str) -> str:
    """'9 ok, 2 warning, 1 critical' (most first), at most :data:`MOST_STATES` named."""
    counts = frame.group_by(column).len().sort(["len", column], descending=[True, False])
    parts = [f"{n} {name}" for name, n in counts.head(MOST_STATES).iter_rows()]
    rest = int(counts["len"][MOST_STATES:].sum()) if counts.height > MOST_STATES else 0
    return ", ".join(parts + ([f"{rest} other"] if rest else []))


def _over_time(frame: pl.DataFrame, r: Roles, title: str, unit: str) -> str:
    assert r.time is not None and r.value is not None
    span, long = _span(frame, r.time)
    many = r.series is not None and r.series in frame.columns and frame[r.series].n_unique() > 1
    top = frame.sort(r.value, descending=True, nulls_last=True).row(0, named=True)
    where = f" on {top[r.series]}" if many and r.series else ""
    head = f"{title} on {frame[r.series].n_unique()} series" if many and r.series else title
    text = f"{head} {span}: max {amount(top[r.value], unit)}{where} at {_time(top[r.time], long)}"
    if many and r.series:
        latest = frame.sort(r.time).group_by(r.series, maintain_order=True).last()[r.value].drop_nulls()
        if latest.len():
            low, high = amount(latest.min(), unit), amount(latest.max(), unit)
            text += f", latest {low}" if low == high else f", latest {low} to {high}"
        return text
    bottom = frame.sort(r.value, nulls_last=True).row(0, named=True)
    last = frame.sort(r.time).drop_nulls(r.value)
    text += f", min {amount(bottom[r.value], unit)}"
    return text + (f", latest {amount(last[r.value][-1], unit)}" if last.height else "")


def _per_category(frame: pl.DataFrame, r: Roles, title: str, unit: str) -> str:
    assert r.category is not None and r.value is not None
    totals = (
        frame.group_by(r.category)
        .agg(pl.col(r.value).sum())
        .sort([r.value, r.category], descending=[True, False], nulls_last=True)
    )
    high, low = totals.row(0), totals.row(-1)
    if totals.height == 1:
        return f"{title}: {high[0]} {amount(high[1], unit)}"
    bars = f"{title}, {totals.height} bars"
    if high[1] == low[1]:
        return f"{bars}: all at {amount(high[1], unit)}"
    text = f"{bars}: highest {high[0]} {amount(high[1], unit)}, lowest {low[0]} {amount(low[1], unit)}"
    kind = units.kind_of(unit)
    if kind is None or kind[0] in ("size", "count"):  # a total of durations or rates would mean nothing
        text += f", total {amount(totals[r.value].sum(), unit)}"
    return text


def _grid(frame: pl.DataFrame, r: Roles, title: str, unit: str) -> str:
    assert r.value is not None and r.category is not None
    across = r.time or r.column
    top = frame.sort(r.value, descending=True, nulls_last=True).row(0, named=True)
    where = top[r.category] if across is None else f"{top[r.category]}, {_time(top[across], True)}"
    size = f"{frame[r.category].n_unique()} rows" + (f" × {frame[across].n_unique()} columns" if across else "")
    mean = frame[r.value].mean()
    return f"{title}, {size}: highest {amount(top[r.value], unit)} at {where}, mean {amount(mean, unit)}"


def summarise(frame: pl.DataFrame, r: Roles, title: str = "", unit: str | None = None) -> str:
    """One sentence about ``frame`` drawn with roles ``r``; ``unit`` overrides the unit read off the value axis."""
    title = title.strip() or "Chart"
    unit = r.unit if unit is None else unit
    present = {c for c in (r.time, r.value, r.series, r.category, r.column) if c} <= set(frame.columns)
    if frame.is_empty():
        return f"{title}: no data."
    if present and r.value and frame[r.value].drop_nulls().len() == 0:
        return f"{title}: {frame.height} rows, none with a value."
    if present and r.value and r.time and r.category is None:
        return _over_time(frame, r, title, unit) + "."
    if present and r.value and r.category and (r.time or r.column):
        return _grid(frame, r, title, unit) + "."
    if present and r.value and r.category:
        return _per_category(frame, r, title, unit) + "."
    states = r.series if r.series and r.series in frame.columns else None
    if states:
        what = "events" if r.time else "items"
        span = f" {_span(frame, r.time)[0]}" if r.time and r.time in frame.columns else ""
        return f"{title}, {frame.height} {what}{span}: {_counted(frame, states)}."
    if present and r.value and frame.height == 1:
        return f"{title}: {amount(frame[r.value][0], unit)}."
    return f"{title}: {frame.height} {'row' if frame.height == 1 else 'rows'} of data (see Show data)."


def describe(chart: Any, rows: pl.DataFrame | None = None, title: str = "", unit: str | None = None) -> str:
    """The text alternative of ``chart``, worded from the frame its first drawn mark draws; ``rows`` replaces that
    frame when the chart draws geometry rather than the figures (a gauge's arcs: its value, target and unit)."""
    chart_title = getattr(chart, "title", alt.Undefined)
    if not title.strip() and isinstance(chart_title, str):
        title = chart_title
    if rows is not None and {"value", "target", "unit"} <= set(rows.columns) and rows.height == 1:
        row = rows.row(0, named=True)
        shown = row["unit"] or "" if unit is None else unit
        target = f", target {amount(row['target'], shown)}" if row["target"] is not None else ""
        note = f" ({row['note']})" if row.get("note") else ""
        return f"{title.strip() or 'Gauge'}: {amount(row['value'], shown)}{target}{note}."
    _, frame = _drawn(chart)
    return summarise(
        rows if frame is None and rows is not None else frame if frame is not None else pl.DataFrame(),
        roles(chart),
        title,
        unit,
    )


__all__ = ["Roles", "amount", "describe", "roles", "summarise"]
