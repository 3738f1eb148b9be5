"""Prometheus' JSON for query results, built without a Python object per point.

A 24-hour range over 50 series is 72,000 ``[time, "value"]`` pairs; making a list and a
string object for each and handing them to ``json.dumps`` costs more than the query. The
pairs are formatted column-wise by polars (times as seconds, values as Prometheus writes
them: shortest round-trip digits, no exponent, ``NaN``/``+Inf``/``-Inf``), joined per series,
and only the label sets go through orjson.

Small answers (up to :data:`SMALL_POINTS` points: one series over a day at a minute's step)
are formatted by plain Python instead, with the same rules: each polars operation has a fixed
cost, and on a busy host its worker threads wait for the scheduler, so a 1,441-point answer
took several times longer through polars than through ``repr``. tests/test_prometheus_api.py
checks both ways give the same bytes.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import orjson
import polars as pl

from core.query.promql_values import Matrix, Scalar, String, Value, Vector


def _seconds(ms: pl.Expr) -> pl.Expr:
    whole = (ms // 1000).cast(pl.String)
    fraction = (ms % 1000).cast(pl.String).str.zfill(3).str.strip_chars_end("0")
    return pl.when(ms % 1000 == 0).then(whole).otherwise(pl.concat_str([whole, pl.lit("."), fraction]))


def _positional(text: str) -> str:
    return format(Decimal(text), "f")


SMALL_POINTS = 10_000  # answers up to this many points are formatted without polars (see the module docstring)
_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def _text_of(shortest: str) -> str:
    """Python's shortest ``repr`` of a float (not ending in ``.0``) as Prometheus writes it."""
    special = _SPECIAL.get(shortest)
    if special is not None:
        return special
    return _positional(shortest) if "e" in shortest else shortest


def small_number_texts(values: np.ndarray) -> list[str]:
    """:func:`number_texts` for a few values, as a list: shortest round-trip digits from ``repr``."""
    return [text[:-2] if (text := repr(v)).endswith(".0") else _text_of(text) for v in values.tolist()]


def number_texts(values: np.ndarray) -> pl.Series:
    """Each value as Prometheus' ``strconv.FormatFloat(v, 'f', -1, 64)``."""
    if len(values) <= SMALL_POINTS:
        return pl.Series("v", small_number_texts(values), dtype=pl.String)
    return _polars_number_texts(values)


def _polars_number_texts(values: np.ndarray) -> pl.Series:
    texts = pl.Series("v", values, dtype=pl.Float64).cast(pl.String)
    texts = (
        pl.DataFrame({"v": texts})
        .select(
            pl.when(pl.col("v") == "inf")
            .then(pl.lit("+Inf"))
            .when(pl.col("v") == "-inf")
            .then(pl.lit("-Inf"))
            .otherwise(pl.col("v").str.replace(r"\.0$", ""))
            .alias("v")
        )
        .to_series()
    )
    exponent = texts.str.contains("e", literal=True) & ~texts.str.contains("Inf", literal=True)
    if exponent.any():
        fixed = texts.to_list()
        for i in np.flatnonzero(exponent.to_numpy()):
            fixed[i] = _positional(fixed[i])
        texts = pl.Series("v", fixed, dtype=pl.String)
    return texts


def _time(ms: int) -> str:
    return f"{ms // 1000}" if ms % 1000 == 0 else f"{ms // 1000}.{ms % 1000:03d}".rstrip("0")


def _label_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _series_points(labels: list[dict[str, str]], rows: np.ndarray, times: np.ndarray, values: np.ndarray) -> list[str]:
    """``{"metric":…,"values":[[t,"v"],…]}`` per series that has points, sorted by labels."""
    if len(rows) == 0:
        return []
    if len(rows) <= SMALL_POINTS and bool(np.all(np.diff(rows) >= 0)):
        return _small_series_points(labels, rows, [_time(t) for t in times.tolist()], values)
    frame = pl.DataFrame({"row": rows, "t": times, "v": _polars_number_texts(values)})
    joined = frame.group_by("row", maintain_order=True).agg(
        pl.format('[{},"{}"]', _seconds(pl.col("t")), pl.col("v")).str.join(",").alias("points")
    )
    out = [
        (_label_key(labels[row]), f'{{"metric":{orjson.dumps(labels[row]).decode()},"values":[{points}]}}')
        for row, points in joined.iter_rows()
    ]
    return [text for _, text in sorted(out, key=lambda item: item[0])]


def _small_series_points(
    labels: list[dict[str, str]], rows: np.ndarray, time_texts: list[str], values: np.ndarray
) -> list[str]:
    """:func:`_series_points` in plain Python for a few points, ``rows`` grouped (each series' points together)."""
    value_texts = small_number_texts(values)
    cuts = (np.flatnonzero(np.diff(rows)) + 1).tolist()
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        points = ",".join([f'[{t},"{v}"]' for t, v in zip(time_texts[start:end], value_texts[start:end], strict=True)])
        row = int(rows[start])
        out.append((_label_key(labels[row]), f'{{"metric":{orjson.dumps(labels[row]).decode()},"values":[{points}]}}'))
    return [text for _, text in sorted(out, key=lambda item: item[0])]


def matrix_json(value: Vector | Scalar, steps: np.ndarray) -> bytes:
    """A range query's answer: ``resultType`` matrix (a number becomes one series without labels)."""
    if isinstance(value, Scalar):
        value = Vector([{}], value.values[None, :], np.ones((1, len(steps)), dtype=bool))
    rows, columns = np.nonzero(value.present)
    series = _series_points(value.labels, rows, steps[columns], value.values[rows, columns])
    return _success("matrix", "[" + ",".join(series) + "]")


def instant_json(value: Value, time_ms: int) -> bytes:
    """An instant query's answer: vector, scalar, string or (for ``x[5m]``) matrix."""
    t = _time(time_ms)
    if isinstance(value, Scalar):
        return _success("scalar", f'[{t},"{number_texts(value.values[:1])[0]}"]')
    if isinstance(value, String):
        return _success("string", f"[{t},{orjson.dumps(value.value).decode()}]")
    if isinstance(value, Matrix):
        rows = np.concatenate([np.full(len(ts), i) for i, (ts, _) in enumerate(value.points)] or [np.array([], int)])
        times = np.concatenate([ts for ts, _ in value.points] or [np.array([], np.int64)])
        values = np.concatenate([vs for _, vs in value.points] or [np.array([], float)])
        return _success("matrix", "[" + ",".join(_series_points(value.labels, rows, times, values)) + "]")
    present = np.flatnonzero(value.present[:, 0]) if value.labels else np.array([], int)
    texts = number_texts(value.values[present, 0]).to_list() if len(present) else []
    items = [
        f'{{"metric":{orjson.dumps(value.labels[row]).decode()},"value":[{t},"{text}"]}}'
        for row, text in zip(present, texts, strict=True)
    ]
    return _success("vector", "[" + ",".join(items) + "]")


def _success(kind: str, result: str) -> bytes:
    return f'{{"status":"success","data":{{"resultType":"{kind}","result":{result}}}}}'.encode()


def data_json(data: object) -> bytes:
    """``{"status":"success","data":…}`` for series, labels and label values."""
    return orjson.dumps({"status": "success", "data": data})


def error_json(kind: str, message: str) -> bytes:
    """Prometheus' error body: ``{"status":"error","errorType":…,"error":…}``."""
    return orjson.dumps({"status": "error", "errorType": kind, "error": message})
