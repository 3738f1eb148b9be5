"""A report as one self-contained HTML file: inline CSS and inline SVG charts, no script, no URL.

It is mailed, archived and opened without a server or network, so it references nothing outside
itself (a test checks there is no ``http`` in it at all). The same HTML is the PDF's source
(core/reports/pdf.py): the ``@page`` rules below put the period, the generation time and
"page X of Y" in every printed page's margins, and table headers repeat on each page a table
spans while rows never split.
"""

from __future__ import annotations

from html import escape

import polars as pl

from core.reports.charts import svg
from core.reports.model import MAX_ROWS, Report, Section, stamp

CSS = """
@page{size:A4;margin:20mm 14mm 18mm 14mm;
@top-left{content:"Period: " string(period);font-size:8pt;color:#555}
@top-right{content:"Generated " string(generated);font-size:8pt;color:#555}
@bottom-center{content:"Page " counter(page) " of " counter(pages);font-size:8pt;color:#555}}
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:1.5rem auto;max-width:1000px;color:#1b1b1b;
padding:0 1rem;line-height:1.35;font-size:10.5pt}
h1{margin:0 0 .2rem 0;font-size:1.6rem}h2{margin-top:1.4rem;border-bottom:1px solid #ccc;padding-bottom:.15rem;
font-size:1.15rem;break-after:avoid}
.meta{color:#444;margin:.1rem 0}.period{string-set:period content()}.generated{string-set:generated content()}
.cards{display:flex;flex-wrap:wrap;gap:.5rem;margin:.6rem 0}
.card{border:1px solid #bbb;border-radius:6px;padding:.35rem .6rem;min-width:8.5rem;break-inside:avoid}
.card b{display:block;font-size:1.15rem}.card span{color:#444;font-size:.8rem}.card i{display:block;color:#555;
font-size:.75rem;font-style:normal}
table{border-collapse:collapse;width:100%;font-size:8.5pt;margin:.4rem 0}thead{display:table-header-group}
tr{break-inside:avoid}th{background:#eef1f5;text-align:left}
th,td{padding:.2rem .35rem;border-bottom:1px solid #ddd;vertical-align:top;overflow-wrap:break-word}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.chart{break-inside:avoid;margin:.4rem 0;max-width:760px}
.empty{color:#666;font-style:italic}.nodata{border:1px solid #E69F00;background:#fff8e6;padding:.6rem;border-radius:6px}
ul{margin:.3rem 0 .3rem 1.2rem;padding:0}
"""


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value + 0.0:,.2f}"  # + 0.0: no "-0.00"
    return str(value)


def table_html(frame: pl.DataFrame, limit: int = MAX_ROWS, more_note: str = "") -> str:
    """A frame as an HTML table (numbers right-aligned, at most ``limit`` rows with a note on the rest)."""
    shown = frame.head(limit).with_columns(
        pl.col(name).dt.strftime("%Y-%m-%d %H:%M") for name, dtype in frame.schema.items() if dtype.is_temporal()
    )
    numeric = [dtype.is_numeric() for dtype in shown.schema.values()]
    head = "".join(f"<th>{escape(str(name))}</th>" for name in shown.columns)
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{escape(_cell(v))}</td>' if numeric[i] else f"<td>{escape(_cell(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in shown.iter_rows()
    )
    more = (
        f'<p class="empty">{frame.height - limit:,} more rows are in the data export.</p>'
        if frame.height > limit
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"


def section_html(section: Section) -> str:
    """One section: heading, figure cards, notes, chart, table — or its 'no data' line."""
    parts = [f"<section><h2>{escape(section.title)}</h2>"]
    if not section.has_content:
        parts.append(f'<p class="empty">{escape(section.empty)}</p></section>')
        return "".join(parts)
    if section.figures:
        cards = "".join(
            f"<div class='card'><span>{escape(f.label)}</span><b>{escape(f.text)}</b>"
            + (f"<i>{escape(f.note)}</i>" if f.note else "")
            + "</div>"
            for f in section.figures
        )
        parts.append(f"<div class='cards'>{cards}</div>")
    if section.notes:
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in section.notes) + "</ul>")
    if section.chart:
        parts.append(f"<div class='chart'>{svg(section.chart)}</div>")
    if section.table is not None and section.table.height:
        parts.append(table_html(section.table, section.limit, section.more_note))
    parts.append("</section>")
    return "".join(parts)


def render(report: Report) -> str:
    """The whole report as an HTML document."""
    title = f"{report.title} — {report.period}"
    body = [
        f"<h1>{escape(report.title)}</h1>",
        f"<p class='meta'>Period: <span class='period'>{escape(report.period)}</span></p>",
        f"<p class='meta'>Scope: {escape(report.scope_text)}</p>",
        f"<p class='meta'>Generated <span class='generated'>{escape(stamp(report.generated_ms))} UTC</span>"
        " by Pulseboard</p>",
    ]
    if not report.has_data:
        body.append(
            "<p class='nodata'><b>No data for this period.</b> Nothing was recorded for this report between "
            f"{escape(report.period)} in this scope; pick another period or scope.</p>"
        )
    body += [section_html(s) for s in report.sections]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
