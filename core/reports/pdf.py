"""A report as PDF: WeasyPrint lays out the report's own HTML (core/reports/html.py) with CSS paged media.

One layout serves both formats. The ``@page`` margin boxes carry the period (top left), the generation
time (top right) and "Page X of Y" (bottom) on every page; table headers repeat across page breaks and rows
do not split. WeasyPrint needs Debian's Pango at run time (scripts/ensure-pdf-libs.sh installs it); without
it :func:`render` raises :class:`PdfUnavailable` with that instruction instead of a loader traceback.
"""

from __future__ import annotations

from core.reports.html import render as render_html
from core.reports.model import Report


class PdfUnavailable(RuntimeError):
    """WeasyPrint or its system libraries are missing."""


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of an HTML document that references nothing outside itself."""
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: Pango missing
        raise PdfUnavailable(
            f"PDF needs WeasyPrint and Pango ({error}); run scripts/ensure-pdf-libs.sh or pick HTML"
        ) from None
    pdf = weasyprint.HTML(string=html, base_url=None).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def render(report: Report) -> bytes:
    """The report as PDF bytes."""
    return html_to_pdf(render_html(report))
