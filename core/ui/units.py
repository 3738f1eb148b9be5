"""Humanised units: bytes, bytes/s, durations and counts written the way a person reads them.

A KPI card, a table column, a chart axis and a chart's text alternative must say "1.5 MiB/s", "2 min 5 s" and
"12.4 k" the same way, so the one wording lives here, three times over:

- :func:`size`, :func:`rate`, :func:`duration`, :func:`count` and :func:`humanise` for one value (KPI cards,
  summaries, messages);
- :func:`humanise_expr` for a whole polars column (tables);
- :func:`vega_expr` for a Vega expression over ``datum.value`` (an Altair axis ``labelExpr``) or any other field
  (a calculated tooltip field), so the data a chart carries (and exports) stays in its raw unit.

Which values are humanised is decided by their unit, as the widget configs write it (``unit="ms"``, ``"B/s"``):
:func:`kind_of` maps a unit to ``size``, ``rate``, ``duration`` or ``count`` and the factor to its base unit
(bytes, bytes per second, seconds, items); any other unit ("%", "defects", "MB") is written as it is.
Sizes are binary (KiB = 1,024 bytes, as memory and disk tools report them).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import polars as pl

Kind = Literal["size", "rate", "duration", "count"]

BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
COUNT_STEPS = ((1e12, "tn"), (1e9, "bn"), (1e6, "M"), (1e3, "k"))
# seconds per unit, largest first: a duration is written in its two largest units ("2 h 5 min")
DURATION_STEPS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))
UNITS: dict[str, tuple[Kind, float]] = {
    "B": ("size", 1.0),
    "bytes": ("size", 1.0),
    "B/s": ("rate", 1.0),
    "bytes/s": ("rate", 1.0),
    "ms": ("duration", 0.001),
    "s": ("duration", 1.0),
    "sec": ("duration", 1.0),
    "seconds": ("duration", 1.0),
    "min": ("duration", 60.0),
    "minutes": ("duration", 60.0),
    "h": ("duration", 3_600.0),
    "hours": ("duration", 3_600.0),
    "d": ("duration", 86_400.0),
    "days": ("duration", 86_400.0),
    "count": ("count", 1.0),
}
TITLES: dict[Kind, str] = {"size": "size", "rate": "bytes/s", "duration": "duration", "count": "count"}


def kind_of(unit: str) -> tuple[Kind, float] | None:
    """``(kind, factor to the base unit)`` for a unit this module humanises, else None ("%", "defects")."""
    return UNITS.get(unit.strip())


METRIC_SUFFIXES = (  # Prometheus naming: the base unit is the name's last word(s)
    ("_bytes_per_second", "B/s"),
    ("_bytes_total", "B"),
    ("_bytes", "B"),
    ("_seconds_total", "s"),
    ("_seconds", "s"),
)


def metric_unit(name: str, agg: str = "") -> str:
    """The unit a metric's name declares (``…_bytes`` → "B", ``…_seconds`` → "s", ``…_bytes_per_second`` →
    "B/s"), as read after the aggregation ``agg``: a per-second rate of bytes is "B/s", and of seconds or of
    anything else a number with no unit to humanise; "" when the name declares none this module humanises."""
    unit = next((unit for suffix, unit in METRIC_SUFFIXES if name.endswith(suffix)), "")
    if agg == "rate":
        return "B/s" if unit == "B" else ""
    return "" if agg == "count" else unit


def axis_title(unit: str, title: str = "") -> str:
    """The axis title for values in ``unit``: ``title`` when given, else what the values are ("duration"), since
    humanised tick labels carry their own unit; a unit not humanised is its own title, as before."""
    if title and title != unit:
        return title
    kind = kind_of(unit)
    return TITLES[kind[0]] if kind else unit


def _number(value: float) -> str:
    """Three significant figures at most, without trailing zeros: 1.5, 12.3, 512, 1020."""
    size = abs(value)
    text = f"{value:.0f}" if size >= 100 else f"{value:.1f}" if size >= 10 else f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _sign(value: float) -> str:
    return "−" if value < 0 else ""


def size(n_bytes: float) -> str:
    """'512 B', '1.5 KiB', '3.21 GiB': the largest binary unit the value reaches, three figures at most."""
    if not math.isfinite(n_bytes):
        return "—"
    magnitude, step = abs(n_bytes), 0
    while magnitude >= 1024 and step < len(BINARY) - 1:
        magnitude /= 1024
        step += 1
    text = f"{magnitude:.0f}" if step == 0 else _number(magnitude)
    return f"{_sign(n_bytes)}{text} {BINARY[step]}"


def rate(bytes_per_s: float) -> str:
    """'1.5 MiB/s': :func:`size` per second."""
    return size(bytes_per_s) + ("/s" if math.isfinite(bytes_per_s) else "")


def duration(seconds: float) -> str:
    """'850 ms', '12.3 s', '5 min 20 s', '3 h 5 min', '2 d 4 h': below a minute with decimals, above it in the
    two largest whole units (the second left out when zero)."""
    if not math.isfinite(seconds):
        return "—"
    span, sign = abs(seconds), _sign(seconds)
    if span == 0:
        return "0 s"
    if span < 0.001:
        return f"{sign}{_number(span * 1e6)} µs"
    if span < 1:
        return f"{sign}{_number(span * 1000)} ms"
    if span < 60:
        return f"{sign}{_number(span)} s"
    whole = round(span)
    for i, (unit, length) in enumerate(DURATION_STEPS[:-1]):
        if whole >= length:
            big, rest = divmod(whole, length)
            small_unit, small_length = DURATION_STEPS[i + 1]
            small = rest // small_length
            return f"{sign}{big} {unit}" + (f" {small} {small_unit}" if small else "")
    return f"{sign}{whole} s"  # pragma: no cover  (span >= 60 always meets "min")


def count(n: float) -> str:
    """'950', '12.4 k', '3.1 M', '1.2 bn': whole numbers below a thousand, three figures above."""
    if not math.isfinite(n):
        return "—"
    for step, suffix in COUNT_STEPS:
        if abs(n) >= step:
            return f"{_sign(n)}{_number(abs(n) / step)} {suffix}"
    return f"{n:,.0f}" if float(n).is_integer() else _number(n)


def humanise(value: float | None, unit: str, fallback: str = "{:,.1f}") -> str:
    """``value`` in ``unit`` as a person reads it; a unit this module does not know is written after the value
    formatted with ``fallback`` ("12.5 %" style: no space before "%"). None is "—"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    known = kind_of(unit)
    if known is None:
        text = fallback.format(value)
        return text + (unit if unit in ("%", "") else f" {unit}")
    kind, factor = known
    base = float(value) * factor
    return {"size": size, "rate": rate, "duration": duration, "count": count}[kind](base)


def humanise_expr(column: pl.Expr, unit: str) -> pl.Expr:
    """:func:`humanise` over a column (tables); null stays null."""
    return column.map_elements(lambda v: humanise(v, unit), return_dtype=pl.String)


def _vega_steps(value: str, steps: list[tuple[float, str]], smallest: str) -> str:
    """A Vega expression writing ``value`` in the first unit of ``steps`` (largest threshold first) it reaches,
    three significant figures; ``smallest`` is the expression for a value below them all."""
    expr = smallest
    for threshold, suffix in reversed(steps):
        at = f"{threshold:.0f}" if float(threshold).is_integer() else repr(threshold)
        expr = f"abs({value}) >= {at} ? format({value} / {at}, '.3~r') + ' {suffix}' : ({expr})"
    return f"({expr})"


def _vega_duration(value: str) -> str:
    """:func:`duration` as a Vega expression: decimals below a minute, the two largest whole units above."""
    whole = f"round(abs({value}))"
    expr = f"{whole} + ' s'"  # not reached: a minute or more always meets "min"
    for (big, length), (small, small_length) in reversed(list(itertools.pairwise(DURATION_STEPS))):
        rest = f"floor({whole} % {length} / {small_length})"
        text = f"floor({whole} / {length}) + ' {big}' + ({rest} > 0 ? ' ' + {rest} + ' {small}' : '')"
        expr = f"({whole} >= {length} ? {text} : {expr})"
    below = f"(abs({value}) < 1 ? format(abs({value}) * 1000, '.3~r') + ' ms' : format(abs({value}), '.3~r') + ' s')"
    return f"({value} == 0 ? '0 s' : ({value} < 0 ? '−' : '') + (abs({value}) < 60 ? {below} : {expr}))"


def vega_expr(unit: str, field: str = "datum.value") -> str | None:
    """A Vega expression writing ``field`` (in ``unit``) humanised as the functions above do ("1.5 MiB/s",
    "1 h 10 min"): an axis ``labelExpr`` or a ``transform_calculate`` for tooltips. None for a unit not humanised."""
    known = kind_of(unit)
    if known is None:
        return None
    kind, factor = known
    value = f"({field} * {factor:g})" if factor != 1 else field
    if kind in ("size", "rate"):
        steps = [(1024.0**i, BINARY[i]) for i in range(len(BINARY) - 2, 0, -1)]
        expr = _vega_steps(value, steps, f"format({value}, '.0f') + ' B'")
        return f"{expr} + '/s'" if kind == "rate" else expr
    if kind == "duration":
        return _vega_duration(value)
    return _vega_steps(value, [(step, suffix) for step, suffix in COUNT_STEPS], f"format({value}, ',~r')")


__all__ = [
    "axis_title",
    "count",
    "duration",
    "humanise",
    "humanise_expr",
    "kind_of",
    "metric_unit",
    "rate",
    "size",
    "vega_expr",
]
