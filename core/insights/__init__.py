"""Insights: what changed and what to do about it, from the data the other domains already read.

* :mod:`core.insights.baselines` — rolling and hour-of-week baselines per series, stored by the
  insights job, their bands for charts, and drift (recent values outside the band for long enough);
* :mod:`core.insights.regressions` — before/after each deployment (Mann–Whitney and Cliff's delta),
  naming the deployment and component; the migration's old-vs-new regressions join them;
* :mod:`core.insights.opportunities` — rule-based optimisation opportunities, each with the numbers
  that triggered it, impact, effort and estimated improvement; :mod:`core.insights.dismissals` keeps
  dismissed and snoozed ones (audited);
* :mod:`core.insights.score` — a 0–100 performance score per component against its baselines,
  stored for the Overview health score; :mod:`core.insights.business` — cost per team, team
  comparison, ROI of the quality programme, adoption and the service trend for the Executive page;
* :mod:`core.insights.findings` ranks everything by impact; :mod:`core.insights.job` is the job.

May import core.kpis, core.programmes, core.query, core.sla, core.store, core.auth, config, model and
selfmetrics; never ui or streamlit. Formulas and defaults: docs/insights.md.
"""
