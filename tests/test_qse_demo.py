"""The demo's QSE sessions: more of them, customised and now and then slipping, without moving any earlier draw."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

import collectors.demo_programmes as demo
from core.programmes.qse import COF_DIMENSIONS

DAYS = range(20_300 - 60, 20_300)
DRAWN = ("qse.deliverable_completed", "qse.evidence_recorded", "qse.gate_evaluated", "qse.phase_completed")


def by_id(items: list[demo.Item]) -> dict[str, tuple[str, dict]]:
    return {event_id: (kind, data) for _, event_id, kind, data in items}


def test_the_first_session_of_a_day_draws_what_it_always_drew(monkeypatch):
    """With customisation, slips and further sessions switched off the generator is the one before them; with them on,
    every deliverable, evidence record, gate and phase of the day's first session has the same drawn values."""
    now = {d: by_id(demo.qse_sessions(7, d)) for d in DAYS}
    monkeypatch.setattr(demo, "ADD_PHASE_SHARE", 0.0)
    monkeypatch.setattr(demo, "SKIP_PHASE_SHARE", 0.0)
    monkeypatch.setattr(demo, "SLIP_SHARE", 0.0)
    monkeypatch.setattr(demo, "EXTRA_SESSIONS_PER_DAY", (0,))
    plain = {d: by_id(demo.qse_sessions(7, d)) for d in DAYS}
    compared = 0
    for day in DAYS:
        for event_id, (kind, data) in plain[day].items():
            assert event_id.split("-")[3][0] in "ABCDEFGH"  # only first sessions without the additions
            if kind in DRAWN and event_id in now[day]:
                drawn = {k: v for k, v in data.items() if not k.startswith(("planned_", "actual_start", "actual_end"))}
                again = {k: v for k, v in now[day][event_id][1].items() if k in drawn}
                assert again == drawn, event_id
                compared += 1
    assert compared > 500


def test_sessions_are_customised_slip_and_recover():
    sessions = [item for d in DAYS for item in demo.qse_sessions(7, d)]
    started = [data for _, _, kind, data in sessions if kind == "qse.session_started"]
    assert 60 < len(started) < 100  # about 37 in 30 days
    own = {t: [p for p, _ in phases] for t, phases in demo.TEMPLATES.items()}
    changes = Counter(
        ("added" if set(s["phases"]) - set(own[s["template"]]) else "")
        + ("skipped" if set(own[s["template"]]) - set(s["phases"]) else "")
        for s in started
    )
    assert changes["added"] > 0.15 * len(started) and changes["skipped"] > 0.03 * len(started)
    scores: dict[str, list[float]] = {}
    for _, _, kind, data in sorted(sessions, key=lambda item: item[0]):
        if kind == "qse.compliance_scored":
            scores.setdefault(data["session_id"], []).append(data["overall_compliance"])
    drops = [a - b for s in scores.values() for a, b in pairwise(s)]
    assert sum(d >= 0.05 for d in drops) >= 5  # the session degradation alert has something to find
    assert all(len(d["cof_scores"]) == len(COF_DIMENSIONS) for _, _, k, d in sessions if k == "qse.compliance_scored")


def test_weekends_have_no_session():
    saturdays = [d for d in DAYS if (d + 3) % 7 == 5]
    assert saturdays and all(demo.qse_sessions(7, d) == [] and demo.qse_sessions(7, d + 1) == [] for d in saturdays)
