"""Whether Altair checks each chart against the Vega-Lite JSON schema: on in tests, off in the running app.

Altair validates a chart when it is built and again when Streamlit serialises it; for a
trend chart that is about 15 of its 40 ms, paid on every rerun of every page by every
viewer. The specs do not depend on the data shown, so the test suite, which draws every
chart, keeps the check and the app skips it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import altair as alt

T = TypeVar("T")
_checking = False
_unchecked_kinds: dict[type, type] = {}


def set_checking(on: bool) -> None:
    """Validate every chart from now on (tests/conftest.py) or not (the default)."""
    global _checking
    _checking = on
    (alt.utils.schemapi.enable_debug_mode if on else alt.utils.schemapi.disable_debug_mode)()


def unchecked(chart: T) -> T:
    """``chart``, serialised by ``st.altair_chart`` without the schema check unless checking is on.

    Streamlit calls ``chart.to_dict()`` with Altair's default ``validate=True``; the chart's
    class is swapped for a subclass whose default is False (same module and name, so it is
    still recognised as an Altair chart).
    """
    if _checking:
        return chart
    kind = type(chart)
    fast = _unchecked_kinds.get(kind)
    if fast is None:

        def to_dict(self: Any, *args: Any, validate: bool = False, **kwargs: Any) -> dict[str, Any]:
            return kind.to_dict(self, *args, validate=validate, **kwargs)  # type: ignore[no-any-return, attr-defined]

        fast = type(kind.__name__, (kind,), {"to_dict": to_dict, "__module__": kind.__module__})
        _unchecked_kinds[kind] = fast
    object.__setattr__(chart, "__class__", fast)  # Altair's own __setattr__ would store it as a spec property
    return chart


def with_properties(chart: T, **properties: Any) -> T:
    """``chart.properties(**properties)``, which checks each one against the schema, without the check unless on."""
    if _checking:
        return chart.properties(**properties)  # type: ignore[attr-defined, no-any-return]
    shown = chart.copy(deep=False)  # type: ignore[attr-defined]
    for key, value in properties.items():
        setattr(shown, key, value)  # Altair stores it as a spec property, as properties() does
    return shown  # type: ignore[no-any-return]


set_checking(False)

__all__ = ["set_checking", "unchecked", "with_properties"]
