"""Downloads are exports (issue 8): the Explore CSV and the SLA reports each write an audit row with the address."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.auth import audit
from core.config import ROOT
from core.ingest import ingest
from core.model import Batch, Sample, now_ms
from core.sla import store as sla_store

ADDRESS = "203.0.113.9"


def run(script: str, role: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setattr("core.ui.login.client_address", lambda: ADDRESS)
    at = AppTest.from_file(str(ROOT / "pages" / script), default_timeout=120)
    at.session_state["role"] = role  # login off in page tests: the local viewer takes this role
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("role", ["developer", "operations"])
def test_explore_csv_download_is_audited(app_store, monkeypatch, role):
    now = now_ms()
    ingest(
        app_store,
        Batch(tuple(Sample.of("cpu_percent", {"host": "h1"}, float(i), now - i * 60_000) for i in range(10)), ()),
        origin="test",
    )
    at = run("explore.py", role, monkeypatch)
    assert audit.entries(app_store, actions=(audit.EXPORT,)).is_empty()  # drawing the button is not an export
    at.download_button[0].click().run()
    assert not at.exception
    rows = audit.entries(app_store, actions=(audit.EXPORT,))
    assert rows.height == 1 and rows["target"][0].startswith("explore:cpu_percent")
    assert rows["actor"][0] == "local" and rows["address"][0] == ADDRESS and '"rows":' in rows["detail"][0]


def report_buttons(at: AppTest) -> list:
    """The SLA report's download buttons (not the tables' and charts' "Data" menus, core.ui.export)."""
    return [d for d in at.download_button if not (d.key or "").startswith("export-")]


@pytest.mark.parametrize("role", ["executive", "operations"])
def test_sla_report_downloads_are_audited_and_stay_after_the_rerun(app_store, monkeypatch, role):
    sla_store.seed_defaults(app_store)
    at = run("sla.py", role, monkeypatch)
    assert not report_buttons(at)
    next(b for b in at.button if b.label == "Prepare report").click().run()
    assert [d.label for d in report_buttons(at)] == ["Markdown", "JSON"]
    report_buttons(at)[0].click().run()
    assert [d.label for d in report_buttons(at)] == ["Markdown", "JSON"]  # still offered after the download's rerun
    report_buttons(at)[1].click().run()
    rows = audit.entries(app_store, actions=(audit.EXPORT,))
    assert sorted(rows["target"]) == ["sla_report:sla-report.json", "sla_report:sla-report.md"]
    assert set(rows["address"]) == {ADDRESS}
