"""Imports run one way (DESIGN.md, Conventions): no cycle inside core/, core never reaches
into pages/ or collectors/, and only core/ui, pages and app.py touch Streamlit."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.import_graph import ROOT, cycles, external_imports, project_graph

RUNTIME = ["core", "collectors", "pages", "app.py"]
STREAMLIT_ALLOWED = ("core.ui", "pages", "app")


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return project_graph(RUNTIME)


def test_core_has_no_import_cycle(graph):
    core = {m: {t for t in edges if _within(t, ("core",))} for m, edges in graph.items() if _within(m, ("core",))}
    assert cycles(core) == []


def test_core_packages_do_not_depend_on_each_other_in_a_circle(graph):
    """core.store under core.ingest under core.query …: a package-level loop means two packages are really one."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, edges in graph.items():
        if _within(module, ("core",)):
            mine = package(module)
            packages.setdefault(mine, set()).update(
                package(t) for t in edges if _within(t, ("core",)) and package(t) != mine
            )
    assert cycles(packages) == []


# What each package's __init__ docstring says it may import (besides itself); keep the two in step.
BASE = {"core.config", "core.model", "core.selfmetrics"}
MAY_IMPORT = {
    "core.store": {"core.config", "core.model"},
    "core.ingest": {"core.store"} | BASE,
    "core.query": {"core.store", "core.auth"} | BASE,
    "core.auth": {"core.store"} | BASE,
    "core.analytics": {"core.query"} | BASE,
    "core.programmes": {"core.kpis", "core.query", "core.store"} | BASE,
    "core.alerts": {"core.store", "core.query", "core.analytics", "core.auth"} | BASE,
    "core.sla": {"core.alerts", "core.query", "core.store", "core.auth"} | BASE,
    "core.recording": {"core.kpis", "core.ingest", "core.programmes", "core.store"} | BASE,
    "core.kpis": {"core.query", "core.store", "core.sla", "core.analytics", "core.auth"} | BASE,
}
MAY_IMPORT["core.forecasting"] = {"core.analytics", "core.kpis", "core.programmes", "core.query", "core.store"} | BASE
MAY_IMPORT["core.reports"] = {
    "core.insights",
    "core.kpis",
    "core.sla",
    "core.programmes",
    "core.forecasting",
    "core.alerts",
    "core.query",
    "core.store",
    "core.auth",
} | BASE
MAY_IMPORT["core.insights"] = {
    "core.auth",
    "core.kpis",
    "core.programmes",
    "core.query",
    "core.sla",
    "core.store",
} | BASE
MAY_IMPORT["core.dashboards"] = {"core.auth", "core.query", "core.store"} | BASE
MAY_IMPORT["core.api"] = set(MAY_IMPORT) - {"core.api"} | BASE | {"core.jobs"}  # every domain package, never core.ui


def test_each_core_package_imports_only_what_its_docstring_allows(graph):
    wrong = {}
    for module, edges in graph.items():
        owner = ".".join(module.split(".")[:2])
        if owner in MAY_IMPORT:
            outside = {".".join(t.split(".")[:2]) for t in edges if _within(t, ("core",))} - {owner, "core"}
            if extra := outside - MAY_IMPORT[owner]:
                wrong[module] = sorted(extra)
    assert wrong == {}


def test_core_never_imports_pages_or_collectors(graph):
    wrong = {
        m: sorted(t for t in e if _within(t, ("pages", "collectors")))
        for m, e in graph.items()
        if _within(m, ("core",))
    }
    assert {m: e for m, e in wrong.items() if e} == {}


def test_only_core_ui_imports_core_ui_inside_core(graph):
    wrong = {
        m: sorted(t for t in e if _within(t, ("core.ui",)))
        for m, e in graph.items()
        if _within(m, ("core",)) and not _within(m, ("core.ui",))
    }
    assert {m: e for m, e in wrong.items() if e} == {}


def test_pages_never_import_collectors(graph):
    wrong = {m: sorted(t for t in e if _within(t, ("collectors",))) for m, e in graph.items() if _within(m, ("pages",))}
    assert {m: e for m, e in wrong.items() if e} == {}


def test_streamlit_only_in_ui_pages_and_app():
    users = {
        module
        for module, names in external_imports(RUNTIME).items()
        if any(name.startswith("streamlit") for name in names)
    }
    assert users, "the app draws with Streamlit somewhere"
    assert sorted(m for m in users if not _within(m, STREAMLIT_ALLOWED)) == []


def test_cycle_finder_on_a_synthetic_graph():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e2"}, "e2": {"e"}}) == [
        ["a", "b", "c"],
        ["e", "e2"],
    ]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


TYPE_ONLY_IMPORT_OF_RULE = """\
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from core.alerts.rules import Rule
"""


def test_graph_from_source_catches_a_planted_cycle(tmp_path):
    """The same reader the real check uses sees a cycle closed by a lazy, type-only import."""
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/alerts/__init__.py": "",
            "core/alerts/kinds.py": TYPE_ONLY_IMPORT_OF_RULE,
            "core/alerts/rules.py": "def check():\n    from core.alerts.kinds import kind\n",
            "core/store/__init__.py": "from core.store.engine import make_engine\n",
            "core/store/engine.py": "from core.store import schema\n",
            "core/store/schema.py": "",
        },
    )
    graph = project_graph(["core"], root=tmp_path)
    assert graph["core.alerts.rules"] == {"core.alerts.kinds"}
    # a package importing its own submodule is how packages work, not a cycle
    assert cycles(graph) == [["core.alerts.kinds", "core.alerts.rules"]]


def test_graph_from_source_sees_streamlit_and_upward_imports(tmp_path):
    _write(
        tmp_path,
        {
            "core/__init__.py": "",
            "core/kpis.py": "import streamlit as st\nfrom pages import overview\n",
            "pages/overview.py": "",
        },
    )
    assert "streamlit" in external_imports(["core"], root=tmp_path)["core.kpis"]
    assert project_graph(["core", "pages"], root=tmp_path)["core.kpis"] == {"pages.overview"}


HAND_MADE_MATCHER = re.compile(r"\{\s*[a-zA-Z_]\w*\s*(=~|!~|!=|=)\s*[\"']")


def hand_made_selectors(source: str) -> list[int]:
    """Lines of f-strings whose literal text opens a label matcher (``name{{key="{value}"}}``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) and any(isinstance(part, ast.FormattedValue) for part in node.values):
            text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
            if HAND_MADE_MATCHER.search(text):
                found.append(node.lineno)
    return found


def test_pages_build_selectors_instead_of_formatting_them():
    """A label value with a quote or a backslash breaks a hand-made selector; build_selector escapes it."""
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert pages
    assert {p.name: lines for p in pages if (lines := hand_made_selectors(p.read_text()))} == {}


def test_hand_made_selector_check_sees_one():
    assert hand_made_selectors("q = f'qms_queue_depth{{queue=\"{queue}\"}}'\n") == [1]
    assert hand_made_selectors("q = f'{name}{{endpoint, quantile}} samples'\nr = 'up{job=\"x\"}'\n") == []
