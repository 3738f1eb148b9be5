"""Forecasts people read: capacity ("when do we run out?"), completion ETAs ("when will it be done?") and the
Executive page's predictions, fitted by a background job and stored, so pages only read finished rows.

* :mod:`core.forecasting.resources` — the capacity resources (CPU, memory, disks, queues, database size and
  connections), their capacity and what a forecast says about them;
* :mod:`core.forecasting.etas` — completion ETAs of QSE sessions, the migration and review backlogs;
* :mod:`core.forecasting.job` — the singleton job that refits what is due (or everything, on request);
* :mod:`core.forecasting.view` — what the Capacity page draws, from the stored rows.

The fitting itself is core.analytics.forecast (Prophet). May import analytics, kpis, programmes, query, store,
config, model and selfmetrics; never ui or streamlit.
"""
