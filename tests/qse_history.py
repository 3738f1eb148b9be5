"""Crafted QSE event histories for the QSE tests: small, readable, every figure derivable by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl

from core.kpis.records import EVENT_SCHEMA
from core.model import Event
from core.programmes.qse import COF_DIMENSIONS, UCL_LAWS

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC, a Thursday


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class History:
    """Events appended in any order; ``frame()`` is what core.kpis.records.load_events would return."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, int, str, str]] = []

    def add(self, kind: str, ts: int, data: dict[str, Any]) -> History:
        self.rows.append((f"e{len(self.rows)}", kind, ts, "test", json.dumps(data)))
        return self

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=EVENT_SCHEMA, orient="row").sort("ts", "id")

    def events(self) -> list[Event]:
        return [Event(i, kind, ts, "test", json.loads(data)) for i, kind, ts, _, data in self.rows]

    # --- builders --------------------------------------------------------------------------------------------------

    def started(self, sid: str, ts: int, template: str, team: str, phases: list[str]) -> History:
        return self.add(
            "qse.session_started",
            ts,
            {"session_id": sid, "template": template, "team": team, "title": sid, "phases": phases},
        )

    def phase(
        self,
        sid: str,
        name: str,
        start: int,
        planned_hours: float,
        actual_hours: float | None = None,
        **who: str,
    ) -> History:
        """A phase started at ``start`` with its plan; completed after ``actual_hours`` when given."""
        timing = {
            "session_id": sid,
            **who,
            "phase": name,
            "planned_start": iso(start),
            "planned_end": iso(start + int(planned_hours * HOUR)),
            "planned_hours": planned_hours,
            "actual_start": iso(start),
        }
        self.add("qse.phase_started", start, timing)
        if actual_hours is not None:
            end = start + int(actual_hours * HOUR)
            self.add(
                "qse.phase_completed",
                end,
                timing | {"actual_end": iso(end), "actual_hours": actual_hours, "status": "completed"},
            )
        return self

    def gate(self, sid: str, phase: str, ts: int, passed: bool, score: float, name: str | None = None) -> History:
        return self.add(
            "qse.gate_evaluated",
            ts,
            {"session_id": sid, "phase": phase, "gate_name": name or f"{phase}-gate", "passed": passed, "score": score},
        )

    def deliverable(self, sid: str, phase: str, ts: int, quality: float, name: str = "d") -> History:
        return self.add(
            "qse.deliverable_completed",
            ts,
            {"session_id": sid, "phase": phase, "deliverable": name, "quality_score": quality},
        )

    def assessed(
        self,
        sid: str,
        ts: int,
        cof: dict[str, float] | float,
        ucl: dict[str, float] | float,
        **who: str,
    ) -> History:
        """A ``qse.compliance_scored``; a single number scores every dimension (law) alike.

        The event's own means and overall are deliberately wrong (0.5): the code must recompute them.
        """
        cof_map = dict.fromkeys(COF_DIMENSIONS, cof) if isinstance(cof, float) else cof
        ucl_map = dict.fromkeys(UCL_LAWS, ucl) if isinstance(ucl, float) else ucl
        return self.add(
            "qse.compliance_scored",
            ts,
            {
                "session_id": sid,
                **who,
                "cof_scores": cof_map,
                "ucl_scores": ucl_map,
                "cof_score": 0.5,
                "ucl_score": 0.5,
                "overall_compliance": 0.5,
            },
        )

    def evidence(self, sid: str, ts: int, framework: str, criterion: str, score: float, n: int) -> History:
        return self.add(
            "qse.evidence_recorded",
            ts,
            {
                "bundle_id": f"EB-{sid}",
                "record_id": str(n),
                "session_id": sid,
                "framework": framework,
                "criterion": criterion,
                "artefact": f"evidence/{sid}/{n}.md",
                "score": score,
            },
        )

    def completed(self, sid: str, ts: int, status: str = "completed") -> History:
        return self.add("qse.session_completed", ts, {"session_id": sid, "status": status})
