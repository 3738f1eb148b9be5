"""What every notifier receives: one message for a group of alerts, with text helpers shared by the channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from core.config import Settings

SEVERITY_COLOURS = {"info": "#439FE0", "warning": "#DAA038", "error": "#E8590C", "critical": "#D00000"}
SEVERITY_ICONS = {"info": "🔵", "warning": "🟡", "error": "🟠", "critical": "🔴"}


@dataclass(frozen=True)
class Message:
    """One notification: ``notice`` is firing, resolved or test; ``alerts`` are plain dicts (see docs/alerting.md)."""

    notice: str
    group: str
    title: str
    alerts: tuple[dict[str, Any], ...]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Message:
        return cls(payload["notice"], payload["group"], payload["title"], tuple(payload["alerts"]))

    def payload(self) -> dict[str, Any]:
        return {"notice": self.notice, "group": self.group, "title": self.title, "alerts": list(self.alerts)}

    @property
    def severity(self) -> str:
        """The highest severity in the message."""
        order = ("info", "warning", "error", "critical")
        return max((a.get("severity", "info") for a in self.alerts), key=order.index, default="info")

    def lines(self) -> list[str]:
        """One readable line per alert, root cause first."""
        out = []
        for alert in sorted(self.alerts, key=lambda a: not a.get("root_cause")):
            since = stamp(alert.get("resolved_at") if alert.get("state") == "resolved" else alert.get("fired_at"))
            root = " (probable root cause)" if alert.get("root_cause") and len(self.alerts) > 1 else ""
            runbook = f" — runbook: {alert['runbook']}" if alert.get("runbook") else ""
            state = alert.get("state", "").upper()
            out.append(f"[{state}] {alert.get('severity')}: {alert.get('summary')}{root} since {since}{runbook}")
        return out


def stamp(ms: int | None) -> str:
    """UTC ISO text for an epoch-ms instant."""
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class Notifier(Protocol):
    """One channel kind."""

    kind: str
    description: str
    fields: ClassVar[dict[str, str]]  # config key → what to enter, for the channel editor

    def check(self, config: dict[str, Any]) -> None:
        """Raise ValueError naming a missing or bad config value."""
        ...

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        """Deliver ``message``; raise on any failure so it is retried."""
        ...
