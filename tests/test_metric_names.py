"""One name per metric, and every metric Pulseboard reads has a producer.

Walks the metric names that pages, KPI modules, widgets, default SLAs, default alert rules and
recording rules refer to, and fails for any name that no built-in collector or recording rule
writes and that docs/metrics.md does not list as an outside input with an example exporter. A
misspelt name (``db_pool_utilization_percent`` read, ``db_connection_pool_used_percent``
written) is exactly what this catches: a panel that stays empty on every real install.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from collectors import database, prometheus, selfstats, system
from core.alerts.rules import load_yaml
from core.query.selectors import SelectorError, parse_selector
from core.recording.rules import RULES
from core.sla.definitions import DEFAULTS as DEFAULT_SLAS

ROOT = Path(__file__).resolve().parent.parent
# where names are read: pages, the figures behind them, the widgets and chart chrome, default settings and SLAs
READERS = ("pages", "core/kpis", "core/ui", "core/sla", "core/forecasting", "core/config.py")
# a metric name ends in its unit (collectors/fields.py enforces the same for what collectors write)
METRIC_LIKE = re.compile(
    r"^(up|[a-z][a-z0-9_]*_(percent|seconds|bytes|total|per_second|per_hour|days|ratio|depth|up|active|sessions))$"
)
NOT_METRICS = {"period_days"}  # an SLA field that happens to end in a unit


def _not_a_selector_here(parent: ast.AST, node: ast.AST) -> bool:
    """Places where a string is a field, column, widget key or export name, never a series selector."""
    if isinstance(parent, ast.Subscript) or (isinstance(parent, ast.Dict) and node in parent.keys):
        return True  # row["tests_total"], {"delay_days": ...}
    if isinstance(parent, ast.keyword) and parent.arg in ("key", "name", "alias"):
        return True  # st.button(..., key="admin_end_sessions")
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute):
        return parent.func.attr in ("col", "alias", "field", "get", "struct")  # pl.col("delay_days")
    return False


def literal_metric_names(source: str) -> set[str]:
    """Metric names in string literals that are whole selectors (``name`` or ``name{...}``)."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    exported = {
        id(element)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
        for element in ast.walk(node.value)
    }
    names = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.strip()):
            continue
        if id(node) in exported or _not_a_selector_here(parents.get(node, tree), node):
            continue
        try:
            name = parse_selector(node.value.strip()).name
        except SelectorError:
            continue
        if name and METRIC_LIKE.match(name) and name not in NOT_METRICS:
            names.add(name)
    return names


def referenced() -> dict[str, set[str]]:
    """Metric name → where it is read."""
    where: dict[str, set[str]] = {}
    for folder in READERS:
        target = ROOT / folder
        for path in [target] if target.suffix else sorted(target.rglob("*.py")):
            for name in literal_metric_names(path.read_text()):
                where.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    for rule in load_yaml((ROOT / "alert_rules.yaml").read_text()):
        if rule.source == "series":
            where.setdefault(parse_selector(rule.selector).name or "", set()).add(f"alert_rules.yaml:{rule.name}")
    for sla in DEFAULT_SLAS:
        for selector in (sla.selector, sla.availability_selector):
            if selector:
                where.setdefault(parse_selector(selector).name or "", set()).add(f"default SLA {sla.id}")
    return where


def produced() -> dict[str, str]:
    """Metric name → what writes it: a built-in collector or a recording rule."""
    writers = {
        "system collector": system.SPECS,
        "prometheus collector": prometheus.SPECS,
        "database collector": database.SPECS,
        "selfstats collector": tuple(selfstats.stored_specs()),
    }
    out = {spec.name: writer for writer, specs in writers.items() for spec in specs}
    out.update({rule.name: "recording rule" for rule in RULES})
    return out


def documented_inputs() -> dict[str, str]:
    """The 'Inputs from outside' table of docs/metrics.md: metric → example exporter."""
    text = (ROOT / "docs" / "metrics.md").read_text()
    section = text.split("## Inputs from outside", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    return {cells[0].strip().strip("`"): cells[-1].strip() for cells in rows}


def test_every_metric_read_is_written_by_pulseboard_or_documented_as_an_input():
    writers, inputs = produced(), documented_inputs()
    orphans = {name: sorted(places) for name, places in referenced().items() if name not in writers | inputs}
    assert orphans == {}, "read but neither produced nor listed under 'Inputs from outside' in docs/metrics.md"


def test_outside_inputs_name_an_example_exporter_and_are_not_also_produced_here():
    inputs = documented_inputs()
    assert inputs, "docs/metrics.md lists the outside inputs"
    assert {name for name, example in inputs.items() if len(example) < 10} == set()
    assert set(inputs) & set(produced()) == set(), "one producer per metric: document it where it is written"


def test_recording_rules_are_listed_in_the_docs():
    text = (ROOT / "docs" / "metrics.md").read_text()
    section = text.split("## Derived series (recording rules)", 1)[1].split("\n## ", 1)[0]
    assert {rule.name for rule in RULES} == set(re.findall(r"^\| `([a-z0-9_]+)`", section, re.M))


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ('DB = {"Pool (%)": "db_pool_utilization_percent"}', {"db_pool_utilization_percent"}),
        ("q = 'api_request_duration_seconds{quantile=\"0.95\"}'", {"api_request_duration_seconds"}),
        ('x = "up"; y = "period_days"; z = "dor_validation"; w = "Pool in use (%)"', {"up"}),
        (
            'pl.col("delay_days"); row["tests_total"]; st.button("x", key="end_sessions"); __all__ = ["csv_bytes"]',
            set(),
        ),
        ('series(engine, "db_size_bytes", 0, 1); {"a": "qms_queue_depth"}', {"db_size_bytes", "qms_queue_depth"}),
    ],
)
def test_the_walk_finds_metric_names_in_literals(source, names):
    assert literal_metric_names(source) == names
