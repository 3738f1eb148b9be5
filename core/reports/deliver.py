"""Deliver a finished report file: by email (SMTP, as an attachment), to a webhook (JSON with the file in
base64) or into a folder — the alerting module's email and webhook channels' settings and checks.

Every function raises on failure (with a message naming the target), so the scheduler can store the error
and retry; nothing here swallows one.
"""

from __future__ import annotations

import base64
import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx

from core.alerts.notify.email import Smtp
from core.alerts.notify.webhook import GenericWebhook
from core.config import Settings

MIME = {"html": ("text", "html"), "pdf": ("application", "pdf")}


def filename(kind: str, start_ms: int, end_ms: int, fmt: str) -> str:
    """``executive-2026-11-01--2026-12-01.pdf``: what the file is called everywhere."""
    from core.reports.model import stamp

    return f"{kind}-{stamp(start_ms, '%Y-%m-%d')}--{stamp(end_ms, '%Y-%m-%d')}.{fmt}"


def email(settings: Settings, to: list[str], subject: str, body: str, name: str, content: bytes, fmt: str) -> None:
    """Send one email with the report attached, through the SMTP server the alert emails use."""
    Smtp().check({"to": to})
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = settings.smtp_from
    mail["To"] = ", ".join(to)
    mail.set_content(body)
    main, sub = MIME[fmt]
    mail.add_attachment(content, maintype=main, subtype=sub, filename=name)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s) as client:
        if settings.smtp_starttls:
            client.starttls()
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            client.login(settings.smtp_username, password)
        client.send_message(mail)


def webhook(settings: Settings, url: str, meta: dict[str, object], name: str, content: bytes, fmt: str) -> None:
    """POST ``{"source": "pulseboard", "report": meta, "filename", "content_type", "content_base64"}`` to ``url``."""
    GenericWebhook().check({"url": url})
    main, sub = MIME[fmt]
    body = {
        "version": "1",
        "source": "pulseboard",
        "report": meta,
        "filename": name,
        "content_type": f"{main}/{sub}",
        "content_base64": base64.b64encode(content).decode(),
    }
    response = httpx.post(url, json=body, timeout=settings.alert_webhook_timeout_s)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code} from {url}: {response.text[:200]}")


def folder(path: str, name: str, content: bytes) -> Path:
    """Write the file into folder ``path`` (created if missing) atomically: a partial file renamed into place."""
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    final = target / name
    partial = target / (name + ".partial")
    partial.write_bytes(content)
    partial.replace(final)
    return final
