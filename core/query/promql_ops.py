"""PromQL's aggregations, binary operators and functions over :class:`Vector` arrays (series × steps).

Each follows Prometheus 2.x: ``sum/avg/min/max/count/stddev/stdvar/group/quantile by|without``,
``topk``/``bottomk`` (the original series, present only where ranked), arithmetic dropping the
metric name, comparisons that filter (or answer 0/1 with ``bool``), ``and``/``or``/``unless``,
one-to-one and ``group_left``/``group_right`` matching with ``on``/``ignoring``, and the
functions listed in :data:`FUNCTIONS`. Anything else is refused with a message naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from core.query import promql_range as rng
from core.query.promql_values import NAME, PromQLError, Scalar, Value, Vector, drop_name

Evaluator = Any  # core.query.promql.Evaluator; typed loosely so the two modules do not import each other


# ---- aggregation ------------------------------------------------------------------------------------
def _group_key(labels: dict[str, str], names: list[str], without: bool) -> tuple[tuple[str, str], ...]:
    if without:
        drop = set(names) | {NAME}
        return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))
    return tuple(sorted((k, labels[k]) for k in set(names) if labels.get(k, "") != ""))


def _groups(vector: Vector, modifier: Any) -> dict[tuple[tuple[str, str], ...], list[int]]:
    without = modifier is not None and str(modifier.type).endswith("Without")
    names = list(modifier.labels) if modifier is not None else []
    groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for row, labels in enumerate(vector.labels):
        groups.setdefault(_group_key(labels, names, without), []).append(row)
    return groups


def aggregate(ev: Evaluator, node: Any) -> Vector:
    """``op [by|without (labels)] ([param,] vector)``."""
    op = str(node.op)
    vector = ev.eval(node.expr)
    if not isinstance(vector, Vector):
        raise PromQLError(f"expected an instant vector in aggregation {op!r}")
    if op in ("topk", "bottomk"):
        k = ev.scalar_arg(node.param, f"{op}'s k")
        if not math.isfinite(k):
            raise PromQLError(f"{op}'s k must be a finite number, got {k}")
        return _rank(vector, node.modifier, int(min(k, len(vector.labels))), op == "topk")
    if op in ("count_values", "limitk", "limit_ratio"):
        raise PromQLError(f"aggregation {op!r} is not supported by Pulseboard")
    q = ev.scalar_arg(node.param, "quantile's φ") if op == "quantile" else 0.0
    n = len(ev.steps)
    labels_out, values_out, present_out = [], [], []
    for key, rows in _groups(vector, node.modifier).items():
        v, p = vector.values[rows], vector.present[rows]
        count = p.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            if op == "sum":
                value = np.where(p, v, 0.0).sum(axis=0)
            elif op == "avg":
                value = np.where(p, v, 0.0).sum(axis=0) / count
            elif op == "count":
                value = count.astype(float)
            elif op == "group":
                value = np.ones(n)
            elif op == "min":
                value = np.where(p, v, np.inf).min(axis=0)
            elif op == "max":
                value = np.where(p, v, -np.inf).max(axis=0)
            elif op in ("stddev", "stdvar"):
                mean = np.where(p, v, 0.0).sum(axis=0) / count
                variance = np.where(p, (v - mean) ** 2, 0.0).sum(axis=0) / count
                value = np.sqrt(variance) if op == "stddev" else variance
            elif op == "quantile":
                value = np.array([rng.quantile(q, v[p[:, i], i]) for i in range(n)])
            else:
                raise PromQLError(f"aggregation {op!r} is not supported by Pulseboard")
        labels_out.append(dict(key))
        values_out.append(value)
        present_out.append(count > 0)
    if not labels_out:
        return Vector([], np.zeros((0, n)), np.zeros((0, n), dtype=bool))
    return Vector(labels_out, np.vstack(values_out), np.vstack(present_out))


def _rank(vector: Vector, modifier: Any, k: int, largest: bool) -> Vector:
    present = np.zeros_like(vector.present)
    if k >= 1:
        for rows in _groups(vector, modifier).values():
            v, p = vector.values[rows], vector.present[rows]
            worst = -np.inf if largest else np.inf
            score = np.where(p & ~np.isnan(v), v, worst)
            order = np.argsort(-score if largest else score, axis=0, kind="stable")[:k]
            chosen = np.zeros_like(p)
            np.put_along_axis(chosen, order, True, axis=0)
            present[rows] = chosen & p
    return Vector(vector.labels, vector.values, present)


# ---- binary operators -------------------------------------------------------------------------------
ARITHMETIC: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "%": np.fmod,
    "^": np.power,
    "atan2": np.arctan2,
}
COMPARISON: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "==": np.equal,
    "!=": np.not_equal,
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
}


def binary(ev: Evaluator, node: Any) -> Value:
    """``lhs op rhs`` for numbers and vectors, with ``bool`` and vector matching."""
    op = str(node.op)
    lhs, rhs = ev.eval(node.lhs), ev.eval(node.rhs)
    modifier = node.modifier
    as_bool = bool(modifier is not None and modifier.return_bool)
    if not isinstance(lhs, Scalar | Vector) or not isinstance(rhs, Scalar | Vector):
        raise PromQLError(f"operator {op!r} needs numbers or instant vectors on both sides")
    if op in ("and", "or", "unless"):
        if not (isinstance(lhs, Vector) and isinstance(rhs, Vector)):
            raise PromQLError(f"set operator {op!r} is defined between instant vectors only")
        return _set_op(op, lhs, rhs, modifier)
    if op not in ARITHMETIC and op not in COMPARISON:
        raise PromQLError(f"operator {op!r} is not supported by Pulseboard")
    with np.errstate(all="ignore"):
        if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
            if op in COMPARISON:
                return Scalar(COMPARISON[op](lhs.values, rhs.values).astype(float))
            return Scalar(ARITHMETIC[op](lhs.values, rhs.values))
        if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
            return _apply(op, lhs, lhs.values, rhs.values[None, :], as_bool, vector_left=True)
        if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
            return _apply(op, rhs, lhs.values[None, :], rhs.values, as_bool, vector_left=False)
        assert isinstance(lhs, Vector) and isinstance(rhs, Vector)
        return _vector_op(op, lhs, rhs, modifier, as_bool)


def _apply(op: str, vector: Vector, left: np.ndarray, right: np.ndarray, as_bool: bool, vector_left: bool) -> Vector:
    labels = vector.labels if op in COMPARISON and not as_bool else [drop_name(x) for x in vector.labels]
    if op in ARITHMETIC:
        return Vector(labels, np.broadcast_to(ARITHMETIC[op](left, right), vector.values.shape).copy(), vector.present)
    holds = np.broadcast_to(COMPARISON[op](left, right), vector.values.shape)
    if as_bool:
        return Vector(labels, holds.astype(float), vector.present)
    return Vector(labels, vector.values, vector.present & holds)


def _signature(labels: dict[str, str], matching: Any) -> tuple[tuple[str, str], ...]:
    if matching is not None and str(matching.type).endswith("Include"):  # on(...)
        keep = set(matching.labels)
        return tuple(sorted((k, v) for k, v in labels.items() if k in keep))
    drop = (set(matching.labels) if matching is not None else set()) | {NAME}
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _index(vector: Vector, matching: Any) -> dict[tuple[tuple[str, str], ...], list[int]]:
    index: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for row, labels in enumerate(vector.labels):
        index.setdefault(_signature(labels, matching), []).append(row)
    return index


def _set_op(op: str, lhs: Vector, rhs: Vector, modifier: Any) -> Vector:
    matching = modifier.matching if modifier is not None else None
    rhs_index, lhs_index = _index(rhs, matching), _index(lhs, matching)
    n = lhs.present.shape[1] if lhs.labels else rhs.present.shape[1]

    def seen(index: dict[tuple[tuple[str, str], ...], list[int]], vector: Vector, signature: Any) -> np.ndarray:
        rows = index.get(signature)
        return np.asarray(vector.present[rows].any(axis=0)) if rows else np.zeros(n, dtype=bool)

    lhs_seen = [seen(rhs_index, rhs, _signature(labels, matching)) for labels in lhs.labels]
    if op == "and":
        present = np.array([lhs.present[i] & lhs_seen[i] for i in range(len(lhs.labels))]).reshape(lhs.present.shape)
        return Vector(lhs.labels, lhs.values, present)
    if op == "unless":
        present = np.array([lhs.present[i] & ~lhs_seen[i] for i in range(len(lhs.labels))]).reshape(lhs.present.shape)
        return Vector(lhs.labels, lhs.values, present)
    extra = [
        rhs.present[j] & ~seen(lhs_index, lhs, _signature(rhs.labels[j], matching)) for j in range(len(rhs.labels))
    ]
    return Vector(
        lhs.labels + rhs.labels,
        np.vstack([lhs.values, rhs.values]) if len(rhs.labels) else lhs.values,
        np.vstack([lhs.present, np.array(extra).reshape(rhs.present.shape)]) if len(rhs.labels) else lhs.present,
    )


def _vector_op(op: str, lhs: Vector, rhs: Vector, modifier: Any, as_bool: bool) -> Vector:
    matching = modifier.matching if modifier is not None else None
    card = str(modifier.card) if modifier is not None else "OneToOne"
    swap = card.endswith("OneToMany")  # group_right: the right side is the "many" side
    many, one = (rhs, lhs) if swap else (lhs, rhs)
    include = list(modifier.group_labels or []) if modifier is not None and modifier.group_labels else []
    one_index = _index(one, matching)
    n = lhs.present.shape[1]
    labels_out, values_out, present_out = [], [], []
    for row, labels in enumerate(many.labels):
        candidates = one_index.get(_signature(labels, matching))
        if not candidates:
            continue
        present_one = one.present[candidates]
        if (present_one.sum(axis=0) > 1).any():
            raise PromQLError(
                "found duplicate series for the match group on the "
                f"{'left' if swap else 'right'} hand-side of the operation: many-to-many matching not allowed: "
                "matching labels must be unique on one side",
                "execution",
            )
        pick = np.argmax(present_one, axis=0)
        other_values = one.values[candidates][pick, np.arange(n)]
        other_present = present_one.any(axis=0)
        left, right = (other_values, many.values[row]) if swap else (many.values[row], other_values)
        present = many.present[row] & other_present
        with np.errstate(all="ignore"):
            if op in ARITHMETIC:
                value = ARITHMETIC[op](left, right)
            else:
                holds = COMPARISON[op](left, right)
                value = holds.astype(float) if as_bool else left
                if not as_bool:
                    present = present & holds
        out = dict(labels)
        if op in ARITHMETIC or as_bool:
            out = drop_name(out)
        if card.endswith("OneToOne"):
            if matching is not None and str(matching.type).endswith("Include"):
                out = {k: v for k, v in out.items() if k in set(matching.labels)}
            elif matching is not None:
                out = {k: v for k, v in out.items() if k not in set(matching.labels)}
        for name in include:
            source = one.labels[candidates[0]].get(name, "")
            if source:
                out[name] = source
            else:
                out.pop(name, None)
        labels_out.append(out)
        values_out.append(value)
        present_out.append(present)
    if not labels_out:
        return Vector([], np.zeros((0, n)), np.zeros((0, n), dtype=bool))
    return Vector(labels_out, np.vstack(values_out), np.vstack(present_out))


# ---- functions --------------------------------------------------------------------------------------
SIMPLE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sqrt": np.sqrt,
    "sgn": np.sign,
}
RATES = {
    "rate": {"counter": True, "per_second": True},
    "increase": {"counter": True, "per_second": False},
    "delta": {"counter": False, "per_second": False},
}
OVER_TIME = {f"{name}_over_time": name for name in rng.OVER_TIME}
OTHER = ("irate", "idelta", "changes", "resets", "clamp", "clamp_min", "clamp_max", "round", "scalar", "vector")
FUNCTIONS = sorted([*SIMPLE, *RATES, *OVER_TIME, *OTHER, "time", "histogram_quantile", "sort", "sort_desc"])


def call(ev: Evaluator, node: Any) -> Value:
    """A function call; a function Pulseboard does not implement is refused by name."""
    name = node.func.name
    args = list(node.args)
    steps = ev.steps
    if name not in FUNCTIONS:
        raise PromQLError(
            f"function {name!r} is not supported by Pulseboard; supported functions: {', '.join(FUNCTIONS)}"
        )
    if name in RATES:
        flags = RATES[name]
        return ev.range_function(  # type: ignore[no-any-return]
            args[0],
            lambda ts, vs, r: rng.extrapolated(
                ts, vs, steps, r, counter=flags["counter"], per_second=flags["per_second"]
            ),
            keep_name=False,
        )
    if name in ("irate", "idelta"):
        counter = name == "irate"
        return ev.range_function(  # type: ignore[no-any-return]
            args[0], lambda ts, vs, r: rng.instant_rate(ts, vs, steps, r, counter=counter), keep_name=False
        )
    if name in OVER_TIME or name in ("changes", "resets"):
        kind = OVER_TIME.get(name, name)
        arg, series = (
            (ev.scalar_arg(args[0], "quantile_over_time's φ"), args[1]) if kind == "quantile" else (0.0, args[0])
        )
        return ev.range_function(  # type: ignore[no-any-return]
            series, lambda ts, vs, r: rng.over_time(kind, ts, vs, steps, r, arg), keep_name=kind == "last"
        )
    if name == "time":
        return Scalar(steps / 1000.0)
    if name == "vector":
        number = ev.eval(args[0])
        if not isinstance(number, Scalar):
            raise PromQLError("vector() takes a number")
        return Vector([{}], number.values[None, :].copy(), np.ones((1, len(steps)), dtype=bool))
    if name == "histogram_quantile":
        return _histogram_quantile(ev.scalar_arg(args[0], "histogram_quantile's φ"), _vector_arg(ev, args[1], name))
    vector = _vector_arg(ev, args[0], name)
    if name == "scalar":
        single = vector.present.sum(axis=0) == 1
        value = np.where(vector.present, vector.values, 0.0).sum(axis=0) if vector.labels else np.zeros(len(steps))
        return Scalar(np.where(single, value, np.nan))
    if name in ("sort", "sort_desc"):
        return vector
    labels = [drop_name(x) for x in vector.labels]
    with np.errstate(all="ignore"):
        if name in SIMPLE:
            return Vector(labels, SIMPLE[name](vector.values), vector.present)
        bounds = [ev.scalar_arg(a, f"{name}'s bound") for a in args[1:]]
        if name == "clamp_min":
            return Vector(labels, np.maximum(vector.values, bounds[0]), vector.present)
        if name == "clamp_max":
            return Vector(labels, np.minimum(vector.values, bounds[0]), vector.present)
        if name == "clamp":
            low, high = bounds
            if low > high:
                return Vector([], np.zeros((0, len(steps))), np.zeros((0, len(steps)), dtype=bool))
            return Vector(labels, np.clip(vector.values, low, high), vector.present)
        to_nearest = bounds[0] if bounds else 1.0
        return Vector(labels, np.floor(vector.values / to_nearest + 0.5) * to_nearest, vector.present)


def _vector_arg(ev: Evaluator, node: Any, name: str) -> Vector:
    value = ev.eval(node)
    if not isinstance(value, Vector):
        raise PromQLError(f"{name}() expects an instant vector")
    return value


def _histogram_quantile(q: float, vector: Vector) -> Vector:
    """φ-quantile from classic ``_bucket`` series (``le`` label), interpolated linearly inside the bucket."""
    groups: dict[tuple[tuple[str, str], ...], list[tuple[float, int]]] = {}
    for row, labels in enumerate(vector.labels):
        if "le" not in labels:
            continue
        try:
            bound = float(labels["le"])
        except ValueError:
            continue
        key = tuple(sorted((k, v) for k, v in labels.items() if k not in ("le", NAME)))
        groups.setdefault(key, []).append((bound, row))
    n = vector.present.shape[1]
    labels_out, values_out, present_out = [], [], []
    for key, members in groups.items():
        members.sort()
        bounds = np.array([b for b, _ in members])
        rows = [r for _, r in members]
        counts, present = vector.values[rows], vector.present[rows]
        value = np.full(n, np.nan)
        for i in np.flatnonzero(present.any(axis=0)):
            value[i] = _bucket_quantile(q, bounds[present[:, i]], counts[present[:, i], i])
        labels_out.append(dict(key))
        values_out.append(value)
        present_out.append(present.any(axis=0))
    if not labels_out:
        return Vector([], np.zeros((0, n)), np.zeros((0, n), dtype=bool))
    return Vector(labels_out, np.vstack(values_out), np.vstack(present_out))


def _bucket_quantile(q: float, bounds: np.ndarray, counts: np.ndarray) -> float:
    """Prometheus' bucketQuantile: same-bound buckets merged, counts made monotonic, linear within the bucket."""
    if np.isnan(q):
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    if len(bounds) < 2 or not np.isposinf(bounds[-1]):
        return float("nan")
    counts = np.maximum.accumulate(counts)
    observations = counts[-1]
    if observations == 0:
        return float("nan")
    rank = q * observations
    b = int(np.searchsorted(counts[:-1], rank, side="left"))
    if b == len(bounds) - 1:
        return float(bounds[-2])
    if b == 0 and bounds[0] <= 0:
        return float(bounds[0])
    start, end, count = 0.0, float(bounds[b]), float(counts[b])
    if b > 0:
        start = float(bounds[b - 1])
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)
