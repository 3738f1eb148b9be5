"""The values a PromQL expression evaluates to over a query's steps, and the error it can raise.

Kept apart from the evaluator (core/query/promql.py) and the operators (core/query/promql_ops.py)
so both can name them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NAME = "__name__"


class PromQLError(ValueError):
    """A query Pulseboard cannot answer; ``kind`` is Prometheus' errorType (bad_data or execution)."""

    def __init__(self, message: str, kind: str = "bad_data") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Vector:
    """An instant vector at every step: one label dict per series, values and presence as (series × steps)."""

    labels: list[dict[str, str]]
    values: np.ndarray
    present: np.ndarray


@dataclass
class Scalar:
    """A number per step."""

    values: np.ndarray


@dataclass
class Matrix:
    """A range selector's samples, answered by an instant query (``up[5m]``): per series, times and values."""

    labels: list[dict[str, str]]
    points: list[tuple[np.ndarray, np.ndarray]]


@dataclass
class String:
    """A string literal at the top of a query."""

    value: str


Value = Vector | Scalar | Matrix | String


def drop_name(labels: dict[str, str]) -> dict[str, str]:
    """``labels`` without the metric name, as arithmetic and most functions return them."""
    return {k: v for k, v in labels.items() if k != NAME} if NAME in labels else labels
