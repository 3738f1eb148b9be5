"""Reports (issue 19): each report's numbers are the domain functions' values for the same period; the HTML holds
no URL; the PDF parses with its sections, period and "Page X of Y" on every page; an empty period is a valid
"no data" report; the CLI writes files; the data export neutralises formulas and round-trips."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import UTC, datetime

import polars as pl
import pytest
from pypdf import PdfReader
from sqlalchemy.engine import Engine

from collectors.demo import DemoCollector
from core.config import ROOT
from core.kpis.executive import load_executive
from core.kpis.overview import load_overview
from core.kpis.records import load_events, within
from core.programmes.compliance import QseRules
from core.programmes.migration_store import load_view
from core.programmes.views import EVENT_TYPES, history_start, programme_view
from core.reports import export, history
from core.reports.build import ReportError, build, check, render
from core.reports.content_business import step_for
from core.reports.generate import start_background
from core.sla.report import build_report

DAY = 86_400_000
NOW = 1_790_000_000_000 - 1_790_000_000_000 % DAY + 6 * 3_600_000
START, END = NOW - 2 * DAY, NOW


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """Two days of demo data in a SQLite store (one back-fill for the whole module)."""
    from core.store.engine import make_engine
    from core.store.migrate import upgrade

    path = tmp_path_factory.mktemp("reports") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    DemoCollector(engine, seed=7, clock=lambda: NOW, backfill_days=2).collect()
    return engine


@pytest.fixture(scope="module")
def cfg(demo: Engine, tmp_path_factory: pytest.TempPathFactory):
    from core.config import load_settings

    return load_settings(
        database_url=str(demo.url), data_dir=tmp_path_factory.mktemp("data"), demo=False, collectors=False
    )


def test_executive_numbers_equal_the_domain_functions(demo, cfg):
    report = build(demo, "executive", START, END, settings=cfg, now_ms=NOW)
    data = load_executive(demo, START, END, NOW, step_for(START, END), {}, None, cfg)
    assert report.has_data and data.current.reviews > 0
    fig = lambda label: report.figure("Executive summary", label).value  # noqa: E731
    assert fig("Quality score") == data.current.quality_score
    assert fig("SLA adherence") == data.current.sla_pct
    assert fig("Completion rate") == data.current.completion_pct
    assert fig("Reviews completed") == data.current.reviews
    assert fig("Cost per review") == data.current.cost_per_review
    assert fig("Critical defects open") == data.critical_open
    assert fig("Health score") == load_overview(demo, START, END, {}, cfg).health.score
    assert fig("SLA compliance") == build_report(demo, cfg, START, END, NOW).overall_compliance
    kpis = report.section("Business KPIs vs the previous period").table
    assert kpis is not None
    assert kpis.filter(pl.col("KPI") == "Quality score")["this period"][0] == round(data.current.quality_score, 2)


def test_sla_numbers_equal_build_report(demo, cfg):
    report = build(demo, "sla", START, END, settings=cfg, now_ms=NOW)
    sla = build_report(demo, cfg, START, END, NOW)
    assert report.figure("Summary", "SLAs met").value == sla.overall_compliance
    assert report.figure("Summary", "Breaches").value == sum(line.breaches or 0 for line in sla.lines)
    table = report.section("Compliance per SLA vs objective").table
    assert table is not None and table["SLA"].to_list() == [line.name for line in sla.lines]
    assert table["breaches"].to_list() == [line.breaches for line in sla.lines]


def test_qse_and_migration_numbers_equal_their_views(demo, cfg):
    report = build(demo, "qse", START, END, settings=cfg, now_ms=NOW)
    first = history_start(START, END)
    events = within(load_events(demo, EVENT_TYPES, first, END), first, END)
    view = programme_view(events, START, END, QseRules.of(cfg), {}, max((END - START) // 90, 60_000))
    assert report.has_data
    assert report.figure("Compliance summary", "Overall compliance").value == view.kpis.compliance_pct
    assert report.figure("Compliance summary", "Sessions").value == view.kpis.sessions
    migration = build(demo, "migration", START, END, settings=cfg, now_ms=NOW)
    from core.programmes.migration_plan import load_plan

    plan = load_plan(cfg.migration_plan_file)
    mv = load_view(demo, start_ms=START, end_ms=END, plan=plan, plan_file=str(cfg.migration_plan_file), settings=cfg)
    assert migration.figure("Health", "Progress").value == mv.progress_pct
    assert migration.figure("Health", "Success rate").value == mv.batches["success_rate_pct"]
    assert migration.figure("Health", "Rollbacks").value == mv.rollbacks.height


def test_technical_health_equals_the_overview(demo, cfg):
    report = build(demo, "technical", START, END, settings=cfg, now_ms=NOW)
    assert report.figure("Summary", "Health score").value == load_overview(demo, START, END, {}, cfg).health.score


@pytest.mark.parametrize("kind", ["executive", "technical", "sla", "qse", "migration"])
def test_html_is_self_contained_and_pdf_has_sections_and_page_numbers(demo, cfg, kind):
    report = build(demo, kind, START, END, settings=cfg, now_ms=NOW)
    html = render(report, "html").decode()
    assert re.findall(r'(?:src|href)\s*=\s*["\']?\s*https?:', html, re.I) == []
    assert "http" not in html.lower()  # not even a namespace URL: the file needs nothing outside itself
    if report.section(report.sections[0].title).chart or any(s.chart for s in report.sections):
        assert "<svg" in html
    reader = PdfReader(io.BytesIO(render(report, "pdf")))
    pages = [page.extract_text() for page in reader.pages]
    total = len(pages)
    assert total >= 1
    text = "\n".join(pages)
    for section in report.sections:
        assert section.title.split(":")[0] in text, section.title
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {total}" in page
        assert "Period:" in page and "Generated" in page


def test_long_tables_span_pages_with_their_header_on_each():
    from core.reports.model import Report, Section

    rows = pl.DataFrame({"workflow": [f"WF-{i:04d}" for i in range(300)], "minutes": [i * 1.5 for i in range(300)]})
    report = Report("sla", START, END, NOW, {}, (Section("Breaches", table=rows),))
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(render(report, "pdf"))).pages]
    assert len(pages) >= 3
    assert all("workflow minutes" in page for page in pages)  # the header repeats on every page the table spans
    text = "\n".join(pages)
    assert all(f"WF-{i:04d} {i * 1.5:,.2f}" in text for i in range(300))  # every row whole, none split or lost


@pytest.mark.parametrize("kind", ["executive", "technical", "sla", "qse", "migration"])
def test_empty_period_is_a_valid_no_data_report(engine, kind):
    from core.config import load_settings

    cfg = load_settings(demo=False, collectors=False)
    report = build(engine, kind, START, END, settings=cfg, now_ms=NOW)
    assert not report.has_data
    html = render(report, "html").decode()
    assert "No data for this period" in html
    reader = PdfReader(io.BytesIO(render(report, "pdf")))
    assert "No data for this period" in reader.pages[0].extract_text()


def test_bad_requests_name_the_problem():
    with pytest.raises(ReportError, match="unknown report type 'weekly'"):
        check("weekly", "pdf", 0, 1)
    with pytest.raises(ReportError, match="use html or pdf"):
        check("sla", "docx", 0, 1)
    with pytest.raises(ReportError, match="end must be after"):
        check("sla", "pdf", 5, 5)


def test_background_generation_records_progress_history_and_audit(demo, cfg):
    from core.auth import audit

    report_id, thread = start_background(demo, cfg, "technical", "html", START, END, {}, "alice")
    thread.join(120)
    stored = history.get(demo, report_id, content=True)
    assert stored is not None and stored.status == "done" and stored.progress == 1.0
    assert stored.requested_by == "alice" and stored.content and stored.content.startswith(b"<!DOCTYPE html>")
    rows = history.history(demo)
    assert rows.filter(pl.col("id") == report_id)["by"][0] == "alice"
    entries = audit.entries(demo, actions=(history.AUDIT_ACTION,))
    assert (entries["actor"] == "alice").any()


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def test_cli_writes_pdf_and_html_and_names_bad_arguments(demo, tmp_path):
    env = {"PULSEBOARD_DATABASE_URL": str(demo.url), "PATH": "/usr/bin:/bin", "PULSEBOARD_DEMO": "0"}
    out = tmp_path / "exec.pdf"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "report",
            "--type",
            "executive",
            "--from",
            day(START),
            "--to",
            day(END),
            "--format",
            "pdf",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert len(PdfReader(str(out)).pages) >= 1
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "core.cli",
            "report",
            "--type",
            "sla",
            "--range",
            "30d",
            "--out",
            str(tmp_path / "x.docx"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "give --format html or pdf" in bad.stderr
    stats = subprocess.run(
        [sys.executable, "-m", "core.cli", "stats", "report", "--out", str(tmp_path / "m.html"), "--range", "30d"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert stats.returncode in (0, 1), stats.stderr  # the migration command still parses and runs


def test_export_neutralises_csv_and_round_trips_parquet_and_json():
    frame = pl.DataFrame({"who": ["=HYPERLINK(1)", "bob", "@x", "-5"], "n": [1, -2, 3, 4]})
    csv = export.data_bytes(frame, "csv").decode()
    assert "'=HYPERLINK(1)" in csv and "'@x" in csv and "'-5" in csv and ",-2" in csv
    assert export.read_back(export.data_bytes(frame, "parquet"), "parquet").equals(frame)
    assert export.read_back(export.data_bytes(frame, "json"), "json").equals(frame)
    big = pl.DataFrame({"i": range(120_001)})
    pieces = list(export.chunks(big, "csv", rows=50_000))
    assert len(pieces) == 3 and pl.read_csv(io.BytesIO(b"".join(pieces))).height == 120_001
    assert export.read_back(b"".join(export.chunks(big, "json", rows=50_000)), "json").height == 120_001
    with pytest.raises(ValueError, match="use one of csv, parquet, json"):
        export.data_bytes(frame, "xlsx")


def test_a_regression_is_a_change_the_wrong_way_and_names_the_deployment():
    from core.reports.content_technical import regressions

    impact = pl.DataFrame(
        {
            "deployment": ["d1", "d1", "d2", "d3"],
            "ts": [NOW, NOW, NOW, NOW],
            "component": ["api", "api", "db", "ui"],
            "version": ["1.2", "1.2", "3.0", "0.9"],
            "metric": ["API error rate (%)", "API p95 latency (ms)", "Workflow step time (s)", "Requests per s"],
            "before": [1.0, 100.0, 10.0, 50.0],
            "after": [0.1, 150.0, 10.5, 30.0],
            "delta": [-0.9, 50.0, 0.5, -20.0],
            "delta_pct": [-90.0, 50.0, 5.0, -40.0],
        }
    )
    found = regressions(impact)
    assert found["metric"].to_list() == ["API p95 latency (ms)", "Requests per s"]  # fewer errors is no regression
    assert found["likely cause"][0] == "deployment d1 of api 1.2"
