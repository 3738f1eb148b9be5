"""User dashboards: the definition model, safe variables, storage with sharing, and provisioning from files.

* :mod:`core.dashboards.kinds` — each widget kind's config schema (drawn by core.ui.widgets);
* :mod:`core.dashboards.model` — the dashboard document (schema_version, time range, variables,
  widgets on a 12-column grid), validation naming the field, export/import and upgrades;
* :mod:`core.dashboards.variables` — ``$host`` substituted into selectors as escaped literals;
* :mod:`core.dashboards.store` — saved dashboards per user, shared with roles, a role's default,
  every change audited;
* :mod:`core.dashboards.provision` — a folder of JSON files loaded at start, bad files reported
  and skipped.

May import query (selectors, label values), store, auth (viewers, audit), config, model and
selfmetrics; never ui or streamlit.
"""
