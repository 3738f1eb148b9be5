"""Open an issue for a failing test through the configured ticket webhook (the QA page's "Open an issue").

The body is the JSON object of ``ticket_webhook_template`` (default: GitHub's create-issue shape,
``title``/``body``/``labels``) with the placeholders in its string values filled from the failing
test; substituting into parsed values, never into the JSON text, means a quote or brace in a test
message cannot break or extend the document. The POST is made like the alert webhooks'
(core/alerts/notify/webhook.py: httpx, ``alert_webhook_timeout_s``), plus an optional bearer token.

The webhook URL and token may carry credentials, so no message here ever contains them: a
failure names the HTTP status and the start of the answer, or the kind of network error. Only
viewers with the ``open_tickets`` permission may send; every attempt, sent or failed, is audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy.engine import Engine

from core.auth import audit
from core.auth.access import Viewer, require
from core.config import DEFAULT_TICKET_TEMPLATE, TICKET_PLACEHOLDERS, Settings, check_ticket_template

TICKET_OPENED = "ticket_opened"  # audit actions (core.auth.audit lets modules add their own)
TICKET_FAILED = "ticket_failed"
MAX_ANSWER_CHARS = 200
MAX_TEXT_CHARS = 3_000  # of the failure text put in a ticket body


class TicketError(RuntimeError):
    """The ticket could not be opened; the message is for the person who clicked, and holds no secret."""


@dataclass(frozen=True)
class Ticket:
    """What the tracker answered: its HTTP status and the new issue's address or key when it said one."""

    status: int
    reference: str


def configured(settings: Settings) -> bool:
    """True when a ticket webhook URL is set (the page offers "Open an issue" only then)."""
    return settings.ticket_webhook_url is not None


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return "" if value is None else str(value)


def ticket_fields(failing: Mapping[str, Any], settings: Settings) -> dict[str, str]:
    """The placeholder values for one failing test (a row of core.kpis.test_results.failing_tests)."""
    suite, test = str(failing.get("suite") or ""), str(failing.get("test") or "")
    message = str(failing.get("message") or "")
    trace = str(failing.get("trace") or "")
    run_link = f"{settings.public_url.rstrip('/')}/qa?test_suite={quote(suite, safe='')}" if settings.public_url else ""
    details = "\n".join([message, trace]).strip()[:MAX_TEXT_CHARS]
    body = "\n".join(
        line
        for line in (
            f"Test `{test}` in suite `{suite}` is {failing.get('status') or 'failing'}.",
            "",
            f"- Failing since: {_when(failing.get('failing_since'))} "
            f"({failing.get('streak_runs') or '?'} run(s) in a row)",
            f"- First failed: {_when(failing.get('first_failed'))}",
            f"- Run: {run_link}" if run_link else None,
            "",
            "```",
            details or "(no message in the report)",
            "```",
            "",
            "Opened from Pulseboard.",
        )
        if line is not None
    )
    values = {
        "title": f"Failing test: {test}"[:250],
        "body": body,
        "suite": suite,
        "test": test,
        "status": str(failing.get("status") or ""),
        "message": message,
        "failing_since": _when(failing.get("failing_since")),
        "first_failed": _when(failing.get("first_failed")),
        "run_link": run_link,
    }
    assert set(values) == set(TICKET_PLACEHOLDERS)
    return values


def _fill(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        for key, text in values.items():
            value = value.replace("{" + key + "}", text)
        return value
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    return value


def ticket_body(values: Mapping[str, str], template: str | None = None) -> dict[str, Any]:
    """The JSON object to post: ``template`` (default :data:`DEFAULT_TICKET_TEMPLATE`) with placeholders filled."""
    return _fill(check_ticket_template(template or DEFAULT_TICKET_TEMPLATE), values)  # type: ignore[no-any-return]


def _reference(response: httpx.Response) -> str:
    """The new issue's address or key from the answer (GitHub html_url, GitLab web_url, Jira key), else ""."""
    try:
        answer = response.json()
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    return str(next((answer[k] for k in ("html_url", "web_url", "url", "key", "id") if answer.get(k)), ""))


def post_ticket(body: Mapping[str, Any], settings: Settings) -> Ticket:
    """POST ``body`` to the ticket webhook; raises :class:`TicketError` (without the URL) when it is not accepted."""
    if settings.ticket_webhook_url is None:
        raise TicketError("no ticket webhook is configured (set PULSEBOARD_TICKET_WEBHOOK_URL)")
    headers = {"User-Agent": "pulseboard", "Accept": "application/json"}
    if settings.ticket_webhook_token is not None:
        headers["Authorization"] = f"Bearer {settings.ticket_webhook_token.get_secret_value()}"
    try:
        response = httpx.post(
            settings.ticket_webhook_url.get_secret_value(),
            json=dict(body),
            headers=headers,
            timeout=settings.alert_webhook_timeout_s,
        )
    except httpx.TimeoutException:
        raise TicketError(
            f"the ticket webhook did not answer within {settings.alert_webhook_timeout_s:g} s; no issue was opened"
        ) from None
    except httpx.HTTPError as error:
        raise TicketError(f"could not reach the ticket webhook ({type(error).__name__}); no issue was opened") from None
    if response.status_code >= 300:
        answer = " ".join(response.text.split())[:MAX_ANSWER_CHARS]
        raise TicketError(
            f"the ticket webhook answered HTTP {response.status_code}"
            + (f": {answer}" if answer else "")
            + "; no issue was opened"
        )
    return Ticket(response.status_code, _reference(response))


def open_ticket(
    engine: Engine,
    settings: Settings,
    viewer: Viewer | None,
    failing: Mapping[str, Any],
    *,
    address: str | None = None,
) -> Ticket:
    """Open an issue for one failing test as ``viewer``: check the permission, post, audit the outcome.

    Raises core.auth.access.NotAllowed without ``open_tickets``, :class:`TicketError` when the webhook
    is missing, unreachable or refuses (that attempt is audited as ``ticket_failed``).
    """
    require(viewer, "open_tickets", "open an issue for a failing test")
    assert viewer is not None
    target = f"{failing.get('suite')}: {failing.get('test')}"
    detail: dict[str, Any] = {"suite": failing.get("suite"), "test": failing.get("test")}
    try:
        ticket = post_ticket(ticket_body(ticket_fields(failing, settings), settings.ticket_webhook_template), settings)
    except TicketError as error:
        audit.record(engine, viewer.username, TICKET_FAILED, target, {**detail, "error": str(error)}, address)
        raise
    audit.record(
        engine,
        viewer.username,
        TICKET_OPENED,
        target,
        {**detail, "http_status": ticket.status, "reference": ticket.reference},
        address,
    )
    return ticket


def preview(failing: Mapping[str, Any], settings: Settings) -> str:
    """The JSON that "Open an issue" would send, pretty-printed, for the confirmation step."""
    return json.dumps(ticket_body(ticket_fields(failing, settings), settings.ticket_webhook_template), indent=2)
