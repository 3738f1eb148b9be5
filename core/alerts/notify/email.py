"""Email over SMTP with the standard library; server settings come from Settings, a channel may override host/port."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any, ClassVar

from core.alerts.notify.base import Message
from core.config import Settings


def build(config: dict[str, Any], message: Message, settings: Settings) -> EmailMessage:
    """The email for ``message``: subject with notice and title, plain-text body with one line per alert."""
    mail = EmailMessage()
    mail["Subject"] = f"[Pulseboard {message.notice.upper()}] {message.title}"
    mail["From"] = str(config.get("from") or settings.smtp_from)
    mail["To"] = ", ".join(_recipients(config))
    mail.set_content("\n".join([message.title, "", *message.lines(), "", f"group: {message.group}"]))
    return mail


def _recipients(config: dict[str, Any]) -> list[str]:
    to = config.get("to", [])
    items = [to] if isinstance(to, str) else list(to)
    return [str(item).strip() for item in items if str(item).strip()]


class Smtp:
    """Send one plain-text email per message."""

    kind = "smtp"
    description = "Email over SMTP."
    fields: ClassVar[dict[str, str]] = {
        "to": "Recipients, comma separated",
        "host": "SMTP host (empty: smtp_host setting)",
        "port": "SMTP port (empty: smtp_port setting)",
    }

    def check(self, config: dict[str, Any]) -> None:
        recipients = _recipients(config)
        if not recipients or any("@" not in r for r in recipients):
            raise ValueError("to: give at least one email address")
        if config.get("port") not in (None, "") and not str(config["port"]).isdigit():
            raise ValueError("port: must be a number")

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        host = str(config.get("host") or settings.smtp_host)
        port = int(config.get("port") or settings.smtp_port)
        with smtplib.SMTP(host, port, timeout=settings.smtp_timeout_s) as client:
            if settings.smtp_starttls:
                client.starttls()
            if settings.smtp_username:
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                client.login(settings.smtp_username, password)
            client.send_message(build(config, message, settings))
