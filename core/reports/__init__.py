"""Reports and data export: Executive, Technical, SLA, QSE compliance and Migration reports for a period and
scope as one self-contained HTML file or a PDF, CSV/Parquet/JSON export of any table, stored report history,
and scheduled reports delivered by email, webhook or to a folder (docs/reports.md).

Every figure in a report comes from the domain function behind the matching page (core.kpis, core.sla,
core.programmes, core.forecasting, core.insights), so a report and the page agree. May import core.kpis,
core.sla, core.programmes, core.forecasting, core.insights, core.alerts, core.query, core.store and core.auth;
never core.ui or streamlit.
"""
