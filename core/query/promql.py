"""PromQL over the Pulseboard store: parse with ``promql-parser``, evaluate every step at once with numpy.

Why an engine here rather than a translation to SQL: Grafana and every tool that speaks to
Prometheus send PromQL and expect Prometheus' numbers, so the semantics that make those
numbers — a 5-minute lookback for instant vectors, ``rate`` extrapolation, counter resets,
vector matching — are implemented as Prometheus 2.x defines them, and checked against a
real Prometheus (tests/test_promql_conformance.py). Parsing is the maintained Rust parser's
job (the ``promql-parser`` package); this module walks its tree.

An instant vector evaluated over a query's steps is a :class:`Vector`: a label set per series
and two ``(series × steps)`` arrays, values and "has a value here". Aggregations, binary
operators and functions are array operations over the steps, so a range query costs a few
numpy passes rather than one evaluation per step.

Data: raw samples wherever the retention job has not deleted them yet (its raw horizon) —
the only way to give Prometheus' exact answers; a query reaching further back reads the
tier :func:`core.query.plan.choose_tier` picks for its range and step, each bucket standing
for one sample (its last value at its last time): counters' rates stay exact across buckets
(resets inside a bucket aside), gauges read the value at each bucket's end.

Regular expressions in matchers are compiled by RE2 through
:func:`core.query.selectors.compile_regex`, as every selector in Pulseboard is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import promql_parser as pp
from sqlalchemy.engine import Engine

from core.config import Settings, get_settings
from core.model import now_ms as clock_ms
from core.query import promql_ops as ops
from core.query.plan import choose_tier
from core.query.promql_values import NAME, Matrix, PromQLError, Scalar, String, Value, Vector, drop_name
from core.query.selectors import Matcher, Selector, SelectorError
from core.query.series import find_series
from core.store import columnar
from core.store.rollup import RAW_HORIZON, TIER_MS, read_state

LOOKBACK_MS = 300_000  # Prometheus' default --query.lookback-delta
MAX_POINTS = 11_000  # points per series a range query may ask for, as Prometheus


@dataclass(frozen=True)
class Raw:
    """One series' samples in a time range.

    ``per_step``: ``ts`` are the query's step times and ``values`` each step's answer
    (:func:`_fetch_latest`); a step without a row has no value.
    """

    labels: dict[str, str]
    ts: np.ndarray
    values: np.ndarray
    per_step: bool = False


MAX_QUERY_CHARS = 16_384
MAX_NESTING = 100  # brackets inside brackets
MAX_OPERATORS = 300  # operator characters outside strings and braces


def check_size(query: str) -> None:
    """Refuse queries big enough to stall or crash the parser before it sees them.

    The Rust parser takes super-linear time in nesting and in chained operators (3,000 ``+1``
    take 8 s) and overflows its stack past some thousands of brackets, which would take the
    whole server down; real queries stay far below these bounds.
    """
    if len(query) > MAX_QUERY_CHARS:
        raise PromQLError(f"query is {len(query):,} characters, at most {MAX_QUERY_CHARS:,} allowed")
    depth = deepest = operators = braces = 0
    quote = ""
    escaped = False
    for char in query:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote != "`":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'`":
            quote = char
        elif char in "([{":
            depth += 1
            braces += char == "{"
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
            braces -= char == "}"
        elif braces <= 0 and char in "+-*/%^<>=!":
            operators += 1
    if deepest > MAX_NESTING:
        raise PromQLError(f"query nests brackets {deepest} deep, at most {MAX_NESTING} allowed")
    if operators > MAX_OPERATORS:
        raise PromQLError(f"query has {operators} operator characters, at most {MAX_OPERATORS} allowed")


def parse(query: str) -> Any:
    """The parser's tree for ``query``; a syntax error or unknown function raises PromQLError naming it."""
    if not query.strip():
        raise PromQLError('invalid parameter "query": empty query; send a PromQL expression')
    check_size(query)
    try:
        return pp.parse(query)
    except (ValueError, TypeError) as error:
        raise PromQLError(f'invalid parameter "query": parse error: {error}') from None
    except BaseException as error:  # the Rust parser's panics arrive as pyo3's PanicException, a BaseException
        if type(error).__name__ != "PanicException":
            raise
        raise PromQLError(f'invalid parameter "query": parse error: {error}') from None


def _op(node: Any) -> str:
    return str(node.op)


def _duration_ms(node: Any, attribute: str) -> int:
    """``node.offset`` or ``node.range`` in ms; one too large for the parser's own types is refused by name."""
    try:
        delta = getattr(node, attribute)
        return round(delta.total_seconds() * 1000) if delta is not None else 0
    except (ValueError, OverflowError):
        raise PromQLError(f"the {attribute} in {str(node)[:100]!r} is too large") from None


def selector_of(node: Any, settings: Settings) -> Selector:
    """The store selector for a parsed vector selector: every matcher kind, regexes through RE2."""
    ops = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
    matchers = []
    for matcher in node.matchers.matchers:
        op = ops[str(matcher.op)]
        if op in ("=~", "!~") and len(matcher.value) > settings.max_regex_length:
            raise PromQLError(
                f"the regular expression for {matcher.name} is {len(matcher.value):,} characters, "
                f"at most {settings.max_regex_length:,} allowed (max_regex_length)"
            )
        try:
            matchers.append(Matcher(matcher.name, op, matcher.value))  # type: ignore[arg-type]
        except SelectorError as error:
            raise PromQLError(str(error)) from None
    if node.matchers.or_matchers:
        raise PromQLError("'or' inside a selector's braces is not supported by Pulseboard; use the 'or' operator")
    return Selector(node.name or None, tuple(matchers))


SAMPLE_COLUMNS: dict[str, pl.DataType] = {"series_id": pl.Int64(), "ts": pl.Int64(), "value": pl.Float64()}


def _fetch(engine: Engine, sql: str, params: Sequence[int], at_most_rows: int | None = None) -> pl.DataFrame:
    """``(series_id, ts, value)`` rows, columnar (ADBC/Arrow where available): no Python object per row."""
    return columnar.fetch(engine, sql, params, SAMPLE_COLUMNS, at_most_rows=at_most_rows)


PARALLEL_MIN_SERIES = 4  # fewer series are read in one statement: a second reader would cost more than it saves
PARALLEL_MIN_SPAN_MS = 3_600_000  # reads of every sample over a shorter span (instant queries) are not split either
_readers: ThreadPoolExecutor | None = None
_readers_lock = threading.Lock()


def _reader_pool() -> ThreadPoolExecutor:
    global _readers
    with _readers_lock:
        if _readers is None:
            _readers = ThreadPoolExecutor(max_workers=columnar.READERS, thread_name_prefix="promql-read")
        return _readers


def _fetch_by_series(
    engine: Engine, ids: Sequence[int], read: Callable[[Sequence[int]], pl.DataFrame], small: bool
) -> pl.DataFrame:
    """``read(ids)`` for many series, split into runs of ids read side by side, in (series_id, ts) order.

    Why: one SQLite statement runs on one core, and reading a day of 50 series is tens of
    milliseconds of the reader's work however the SQL is written (the seeks or the rows'
    conversion to Arrow); the ADBC readers (SQLite worker processes, pooled Postgres
    connections) can each take a share at once. ``small``: the caller knows the read is small
    (too small to go through ADBC, see :func:`core.store.columnar.fetch`, or over a short
    span), so a second reader would only add a hop.
    """
    ordered = sorted(ids)
    parts = min(columnar.READERS, len(ordered) // PARALLEL_MIN_SERIES)
    if parts < 2 or small or not columnar.available(engine):
        return read(ordered)
    size = -(-len(ordered) // parts)
    runs = [ordered[i : i + size] for i in range(0, len(ordered), size)]
    frames = list(_reader_pool().map(read, runs))  # runs in id order, each in (series_id, ts) order
    return pl.concat(frames, rechunk=False)


SEEK_STEP_MS = 60_000  # from this step on, reading each step's latest sample beats reading them all


def _fetch_latest(engine: Engine, ids: Sequence[int], first: int, last: int, step: int) -> pl.DataFrame:
    """For each series and step time ``first, first + step, … ≤ last``: its latest sample's value in the lookback.

    Exactly what an instant vector selector answers with, as ``(series_id, step time, value)``
    rows: the time is the step's, not the sample's, and a step without a sample in its lookback
    has no row. One primary-key seek per series and step, the ids and times bound as parameters.
    """
    per_series = (last - first) // step + 1  # one row per series and step at most
    return _in_key_order(
        _fetch_by_series(
            engine,
            ids,
            lambda run: _seek_latest(engine, run, first, last, step),
            small=per_series * len(ids) <= columnar.SMALL_READ_ROWS,
        )
    )


def _seek_latest(engine: Engine, ids: Sequence[int], first: int, last: int, step: int) -> pl.DataFrame:
    """:func:`_fetch_latest` for one run of series, in one statement.

    SQLite: the seek is a correlated subquery giving the value alone — one index descent per
    step; reading the sample's time as well takes a second one (a third of the read's time).
    The pairs are materialised before steps without a value are dropped, since a filter on the
    subquery's column would run it again.
    """
    at_most = len(ids) * ((last - first) // step + 1)
    if engine.dialect.name == "postgresql":
        sql = (
            f"SELECT i.id, s.t, x.value FROM unnest(ARRAY[{', '.join(['?'] * len(ids))}]::bigint[]) AS i(id) "
            "CROSS JOIN generate_series(?::bigint, ?::bigint, ?::bigint) AS s(t) "
            "CROSS JOIN LATERAL (SELECT value FROM samples WHERE series_id = i.id AND ts <= s.t "
            "AND ts >= s.t - ? ORDER BY ts DESC LIMIT 1) AS x"
        )
        return _fetch(engine, sql, (*ids, first, last, step, LOOKBACK_MS), at_most)
    values = ", ".join(["(?)"] * len(ids))
    sql = (
        "WITH RECURSIVE steps(t) AS (SELECT ? UNION ALL SELECT t + ? FROM steps WHERE t + ? <= ?), "
        f"ids(id) AS (VALUES {values}), "
        "latest(id, t, value) AS MATERIALIZED (SELECT ids.id, steps.t, (SELECT y.value FROM samples y "
        "WHERE y.series_id = ids.id AND y.ts <= steps.t AND y.ts >= steps.t - ? ORDER BY y.ts DESC LIMIT 1) "
        "FROM ids CROSS JOIN steps) "
        "SELECT id, t, value FROM latest WHERE value IS NOT NULL"
    )
    return _fetch(engine, sql, (first, step, step, last, *ids, LOOKBACK_MS), at_most)


def _read_range(engine: Engine, ids: Sequence[int], tier: str, start: int, end: int) -> pl.DataFrame:
    """Every sample of series ``ids`` from ``start`` to ``end`` (or, from a rollup tier, each bucket's last one)."""
    marks = ", ".join(["?"] * len(ids))
    if tier == "raw":
        sql = f"SELECT series_id, ts, value FROM samples WHERE series_id IN ({marks}) AND ts >= ? AND ts <= ?"
        return _fetch(engine, sql + " ORDER BY series_id, ts", (*ids, start, end))
    sql = (
        f"SELECT series_id, last_ts, last FROM samples_{tier} WHERE series_id IN ({marks}) "
        "AND bucket >= ? AND bucket <= ? AND last_ts >= ? AND last_ts <= ? ORDER BY series_id, last_ts"
    )
    return _fetch(engine, sql, (*ids, start - TIER_MS[tier], end, start, end))


def _in_key_order(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` ordered by (series_id, ts); the seek queries already return them so, checked in one numpy pass."""
    ids, times = rows["series_id"].to_numpy(), rows["ts"].to_numpy()
    step_id, step_t = np.diff(ids), np.diff(times)
    if bool(np.all((step_id > 0) | ((step_id == 0) & (step_t >= 0)))):
        return rows
    return rows.sort("series_id", "ts")


class Evaluator:
    """Evaluates one query at steps ``steps`` (epoch ms) against ``engine``."""

    def __init__(self, engine: Engine, steps: np.ndarray, settings: Settings, now_ms: int) -> None:
        self.engine = engine
        self.steps = steps
        self.settings = settings
        self.now = now_ms

    # ---- data -----------------------------------------------------------------------------------
    def load(self, node: Any, range_ms: int, latest_only: bool = False) -> list[Raw]:
        """Samples of every series ``node`` selects, over the steps' windows (lookback or range, and offset).

        ``latest_only``: the caller reads each step's latest sample and nothing else (an instant
        vector selector), so at steps of a minute or more only each step's answer is read — one index
        seek per series and step, :attr:`Raw.per_step` — instead of every sample in the range.
        """
        if node.at is not None:
            raise PromQLError("the @ modifier is not supported by Pulseboard")
        selector = selector_of(node, self.settings)
        offset = _duration_ms(node, "offset")
        bound = 2**62  # a huge offset or range must not overflow the 64-bit time column
        start = max(-bound, min(bound, int(self.steps[0]) - offset - (range_ms or LOOKBACK_MS)))
        end = max(-bound, min(bound, int(self.steps[-1]) - offset))
        try:
            found = find_series(self.engine, selector)
        except ValueError as error:
            raise PromQLError(str(error), "execution") from None
        if found.is_empty():
            return []
        ids = found["series_id"].to_list()
        with self.engine.connect() as connection:
            # Raw samples are complete from the retention job's horizon on (0: nothing deleted yet).
            horizon = read_state(connection, RAW_HORIZON)
        tier = "raw"
        if start < horizon:
            step = int(self.steps[1] - self.steps[0]) if len(self.steps) > 1 else None
            tier = choose_tier(start, end + 1, self.now, self.settings, step)
            tier = "1m" if tier == "raw" else tier  # raw is gone there: the finest tier instead
        step = int(self.steps[1] - self.steps[0]) if len(self.steps) > 1 else 0
        per_step = tier == "raw" and latest_only and step >= SEEK_STEP_MS
        if per_step:
            rows = _fetch_latest(self.engine, ids, start + LOOKBACK_MS, end, step)
        else:
            rows = _fetch_by_series(
                self.engine,
                ids,
                lambda run: _read_range(self.engine, run, tier, start, end),
                small=end - start < PARALLEL_MIN_SPAN_MS,
            )
        ids_read = rows["series_id"].to_numpy()
        times = rows["ts"].to_numpy()
        samples = rows["value"].to_numpy()
        cuts = np.flatnonzero(np.diff(ids_read)) + 1
        starts = np.concatenate(([0], cuts)) if len(rows) else np.array([], dtype=np.int64)
        ends = np.concatenate((cuts, [len(rows)])) if len(rows) else np.array([], dtype=np.int64)
        by_id = {int(ids_read[a]): (a, b) for a, b in zip(starts, ends, strict=True)}
        out = []
        columns = (found[column].to_list() for column in ("series_id", "name", "labels"))  # a select is a polars query
        for sid, name, labels in zip(*columns, strict=True):
            span = by_id.get(sid)
            if span is None:
                continue
            ts = times[span[0] : span[1]] + offset
            values = np.ascontiguousarray(samples[span[0] : span[1]])
            out.append(Raw({NAME: name, **json.loads(labels)}, ts, values, per_step))
        return out

    # ---- tree walk ------------------------------------------------------------------------------
    def eval(self, node: Any) -> Value:
        """The value of ``node`` at every step."""
        kind = type(node).__name__
        handler = getattr(self, f"_eval_{kind}", None)
        if handler is None:
            raise PromQLError(f"{kind} expressions are not supported by Pulseboard")
        return handler(node)  # type: ignore[no-any-return]

    def _eval_NumberLiteral(self, node: Any) -> Scalar:
        return Scalar(np.full(len(self.steps), float(node.val)))

    def _eval_StringLiteral(self, node: Any) -> String:
        return String(str(node.val))

    def _eval_ParenExpr(self, node: Any) -> Value:
        return self.eval(node.expr)

    def _eval_SubqueryExpr(self, node: Any) -> Value:
        raise PromQLError("subqueries (expr[range:step]) are not supported by Pulseboard")

    def _eval_UnaryExpr(self, node: Any) -> Value:
        value = self.eval(node.expr)
        if isinstance(value, Scalar):
            return Scalar(-value.values)
        if isinstance(value, Vector):
            return Vector([drop_name(labels) for labels in value.labels], -value.values, value.present)
        raise PromQLError("unary minus applies to numbers and instant vectors only")

    def _eval_VectorSelector(self, node: Any) -> Vector:
        series = self.load(node, 0, latest_only=True)
        n = len(self.steps)
        values, present = np.zeros((len(series), n)), np.zeros((len(series), n), dtype=bool)
        for row, raw in enumerate(series):
            index = np.searchsorted(raw.ts, self.steps, side="right") - 1
            safe = np.maximum(index, 0)
            found = raw.ts[safe] == self.steps if raw.per_step else raw.ts[safe] >= self.steps - LOOKBACK_MS
            present[row] = (index >= 0) & found
            values[row] = raw.values[safe]
        return Vector([raw.labels for raw in series], values, present)

    def _eval_MatrixSelector(self, node: Any) -> Matrix:
        if len(self.steps) != 1:
            raise PromQLError("a range vector (selector[range]) can be asked for by an instant query only")
        range_ms = _duration_ms(node, "range")
        series = self.load(node.vector_selector, range_ms)
        t = int(self.steps[0])
        points = []
        for raw in series:
            keep = (raw.ts >= t - range_ms) & (raw.ts <= t)
            points.append((raw.ts[keep], raw.values[keep]))
        return Matrix([raw.labels for raw in series], points)

    def _eval_AggregateExpr(self, node: Any) -> Value:
        return ops.aggregate(self, node)

    def _eval_BinaryExpr(self, node: Any) -> Value:
        return ops.binary(self, node)

    def _eval_Call(self, node: Any) -> Value:
        return ops.call(self, node)

    def scalar_arg(self, node: Any, what: str) -> float:
        """A parameter that must be one number (``topk``'s k, ``quantile``'s φ): its value at the first step."""
        value = self.eval(node) if node is not None else None
        if not isinstance(value, Scalar):
            raise PromQLError(f"{what} must be a number")
        return float(value.values[0])

    def range_function(
        self,
        node: Any,
        compute: Callable[[np.ndarray, np.ndarray, int], tuple[np.ndarray, np.ndarray]],
        keep_name: bool,
    ) -> Vector:
        """Apply ``compute(ts, values, range_ms)`` to each series of a range-selector argument."""
        if type(node).__name__ == "SubqueryExpr":
            self.eval(node)  # refused there, by name
        if type(node).__name__ != "MatrixSelector":
            raise PromQLError("expected a range vector (selector[range]) as the argument")
        range_ms = _duration_ms(node, "range")
        series = self.load(node.vector_selector, range_ms)
        n = len(self.steps)
        values, present = np.zeros((len(series), n)), np.zeros((len(series), n), dtype=bool)
        for row, raw in enumerate(series):
            values[row], present[row] = compute(raw.ts, raw.values, range_ms)
        labels = [raw.labels if keep_name else drop_name(raw.labels) for raw in series]
        return Vector(labels, values, present)


def steps_for(start_ms: int, end_ms: int, step_ms: int) -> np.ndarray:
    """The evaluation times of a range query, refused past :data:`MAX_POINTS` as Prometheus does."""
    if step_ms <= 0:
        raise PromQLError("zero or negative query resolution step widths are not accepted. Try a positive integer")
    if end_ms < start_ms:
        raise PromQLError("end timestamp must not be before start time")
    if (end_ms - start_ms) // step_ms > MAX_POINTS:  # Prometheus' own test: (end - start) / step > 11,000
        raise PromQLError(
            f"exceeded maximum resolution of {MAX_POINTS:,} points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    return np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)


def evaluate(
    engine: Engine,
    query: str,
    start_ms: int,
    end_ms: int,
    step_ms: int,
    *,
    settings: Settings | None = None,
    now_ms: int | None = None,
) -> Value:
    """Evaluate ``query`` at every step from ``start_ms`` to ``end_ms`` (an instant query: start = end)."""
    tree = parse(query)
    steps = steps_for(start_ms, end_ms, step_ms)
    evaluator = Evaluator(engine, steps, settings or get_settings(), clock_ms() if now_ms is None else now_ms)
    try:
        value = evaluator.eval(tree)
    except RecursionError:
        raise PromQLError("query is nested too deeply to evaluate") from None
    if isinstance(value, Matrix) and start_ms != end_ms:
        raise PromQLError("a range query must evaluate to an instant vector or a number, not a range vector")
    return value


__all__ = [
    "LOOKBACK_MS",
    "MAX_POINTS",
    "Matrix",
    "PromQLError",
    "Scalar",
    "String",
    "Value",
    "Vector",
    "evaluate",
    "parse",
    "selector_of",
    "steps_for",
]
