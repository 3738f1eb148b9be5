"""Docs that drift from the code are worse than none: every setting and self-metric is documented."""

from __future__ import annotations

from core.config import ROOT
from core.selfmetrics import REGISTRY


def test_every_self_metric_is_documented():
    doc = (ROOT / "docs" / "metrics.md").read_text()
    exposed = {family.name + ("_total" if family.type == "counter" else "") for family in REGISTRY.collect()}
    missing = sorted(name for name in exposed if f"`{name}`" not in doc)
    assert missing == [], f"metrics missing from docs/metrics.md: {missing}"


def test_readme_states_the_two_commands_first():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("make run") < readme.index("## ") or readme.index("make run") < 1500
    assert "make test" in readme


def test_settings_table_is_the_generated_one():
    import subprocess
    import sys

    table = subprocess.run([sys.executable, "scripts/config_table.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert table in (ROOT / "docs" / "configuration.md").read_text(), "run scripts/config_table.py and paste its table"
