"""Form inputs generated from a widget kind's config schema (a pydantic model), so a new kind needs no form code.

:func:`inputs` draws one input per field of the model — text, number, checkbox, a
select box for a ``Literal``, comma-separated text for a list, the three threshold
inputs for :class:`~core.dashboards.kinds.Thresholds` — filled from the current values,
and returns the values typed, as the JSON form of the config. Blank optional fields
become ``None``. It never validates: the caller parses the result with the kind's model
so the error names the field the same way a saved or imported dashboard's does.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import streamlit as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core.dashboards.kinds import Thresholds

SKIP = ("kind",)
LONG_TEXT = ("text", "help")  # fields drawn as a text area


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``| None`` and whether None was allowed."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _label(name: str, info: FieldInfo) -> str:
    return name.replace("_", " ").capitalize()


def _field(name: str, info: FieldInfo, value: Any, key: str) -> Any:
    annotation, optional = _unwrap(info.annotation)
    label, help_text = _label(name, info), info.description
    origin = typing.get_origin(annotation)
    if origin is Literal:
        options = [*([""] if optional else []), *typing.get_args(annotation)]
        current = "" if value is None else value
        chosen = st.selectbox(
            label, options, index=options.index(current) if current in options else 0, key=key, help=help_text
        )
        return None if chosen == "" else chosen
    if annotation is bool:
        return st.checkbox(label, value=bool(value), key=key, help=help_text)
    if annotation in (int, float):
        step: Any = 1 if annotation is int else None
        number = st.number_input(
            label, value=value if value is not None else (None if optional else 0), step=step, key=key, help=help_text
        )
        return None if number is None else annotation(number)
    if origin is list:
        text = st.text_input(
            label,
            ", ".join(str(v) for v in value or []),
            key=key,
            help=(help_text or "") + " Comma-separated.",
        )
        items = [part.strip() for part in text.split(",") if part.strip()]
        return None if optional and not items else items
    if annotation is str:
        draw = st.text_area if name in LONG_TEXT else st.text_input
        text = draw(label, "" if value is None else str(value), key=key, help=help_text)
        return None if optional and not text else text
    raise TypeError(f"no form input for the field {name!r} ({annotation!r})")


def _thresholds(value: dict[str, Any] | None, key: str) -> dict[str, Any]:
    current = value or {}
    warning, critical, direction = st.columns(3)
    with warning:
        warn = st.number_input("Warning at", value=current.get("warning"), key=f"{key}-warning")
    with critical:
        crit = st.number_input("Critical at", value=current.get("critical"), key=f"{key}-critical")
    with direction:
        worse = st.checkbox(
            "Higher is worse",
            value=current.get("higher_is_worse", True),
            key=f"{key}-direction",
            help=Thresholds.model_fields["higher_is_worse"].description,
        )
    return {"warning": warn, "critical": crit, "higher_is_worse": worse}


def inputs(model: type[BaseModel], values: dict[str, Any], key: str) -> dict[str, Any]:
    """One input per field of ``model`` (inside the caller's form), filled from ``values``; the typed values."""
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in SKIP:
            continue
        default = info.get_default(call_default_factory=True)
        current = values.get(name, default)
        if isinstance(current, BaseModel):
            current = current.model_dump()
        if name == "thresholds":
            out[name] = _thresholds(current, f"{key}-{name}")
            continue
        out[name] = _field(name, info, current, f"{key}-{name}")
    return out
