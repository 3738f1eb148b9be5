"""Overview: is data arriving, and what arrived last."""

from __future__ import annotations

import streamlit as st

from core.inventory import latest_events, latest_samples, store_totals
from core.store import get_engine
from core.timefmt import ago

engine = get_engine()

st.title("Overview")
totals = store_totals(engine)
series_col, samples_col, events_col, fresh_col = st.columns(4)
series_col.metric("Series", f"{totals.series:,}")
samples_col.metric("Samples, last hour", f"{totals.samples_last_hour:,}")
events_col.metric("Events, last 24 h", f"{totals.events_last_day:,}")
fresh_col.metric("Last sample", ago(totals.newest_sample_ms))

if totals.series == 0 and totals.events_last_day == 0:
    st.info(
        "The store is empty. Send samples with `curl -X POST localhost:8501/api/v1/metrics "
        "-H 'Content-Type: application/json' -d '[{\"name\": \"up\", \"labels\": {\"job\": \"demo\"}, \"value\": 1}]'`, "
        "or events to `/api/v1/events` (see docs/api.md).",
        icon=":material/inbox:",
    )

samples_tab, events_tab = st.tabs(["Latest samples", "Latest events"])
with samples_tab:
    st.dataframe(latest_samples(engine), hide_index=True, width="stretch")
with events_tab:
    st.dataframe(latest_events(engine), hide_index=True, width="stretch")
