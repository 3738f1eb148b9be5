"""SMS through a Twilio-compatible HTTP gateway: one form POST (To, From, Body) per recipient, basic auth.

The gateway URL is configurable (Twilio's is
``https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json``; ``{sid}`` is filled with the
account SID), the user of the basic auth is the account SID and the password the token read from the
environment setting the channel names (core.alerts.notify.secrets). The text is cut to one SMS
segment (:func:`sms_text`), so a page never arrives in pieces or costs several messages.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from core.alerts.notify import secrets
from core.alerts.notify.base import Message
from core.alerts.notify.http import post
from core.config import Settings

TWILIO_URL = "https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json"
GSM_LIMIT, UCS2_LIMIT = 160, 70  # characters in one segment: GSM 03.38 text, else UCS-2
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€\f"  # each takes two of the 160 septets
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164


def segment_size(text: str) -> int:
    """Characters of ``text`` counted as an SMS segment counts them (extended GSM characters count twice)."""
    return sum(2 if ch in GSM_EXTENDED else 1 for ch in text)


def is_gsm(text: str) -> bool:
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def fit(text: str) -> str:
    """``text`` cut to one segment: 160 GSM septets, or 70 characters when it needs UCS-2; cut text ends in "..."."""
    if is_gsm(text):
        if segment_size(text) <= GSM_LIMIT:
            return text
        out = ""
        for ch in text:
            if segment_size(out + ch) > GSM_LIMIT - 3:
                break
            out += ch
        return out.rstrip() + "..."
    return text if len(text) <= UCS2_LIMIT else text[: UCS2_LIMIT - 3].rstrip() + "..."


def sms_text(message: Message) -> str:
    """The short text: notice, top severity, the first alert's summary, and how many more."""
    first = sorted(message.alerts, key=lambda a: not a.get("root_cause"))[0] if message.alerts else {}
    more = f" (+{len(message.alerts) - 1} more)" if len(message.alerts) > 1 else ""
    summary = str(first.get("summary") or message.title)
    return fit(f"[{message.notice.upper()}] {message.severity}: {summary}{more}")


def recipients(config: dict[str, Any]) -> list[str]:
    to = config.get("to", [])
    items = [to] if isinstance(to, str) else list(to)
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


class Sms:
    """A text message per recipient through a Twilio-compatible gateway."""

    kind = "sms"
    description = "SMS through a Twilio-compatible gateway."
    fields: ClassVar[dict[str, str]] = {
        "url": f"Gateway URL; {{sid}} becomes the account SID (default {TWILIO_URL})",
        "account_sid": "Account SID (the basic-auth user)",
        "auth_token_setting": "Environment setting holding the auth token, e.g. PULSEBOARD_TWILIO_TOKEN",
        "from": "Sending number, E.164 (+15551234567)",
        "to": "Recipient numbers, E.164, comma separated",
    }

    def check(self, config: dict[str, Any]) -> None:
        secrets.refuse_plain(config)
        secrets.check_setting(config, "auth_token_setting")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(config.get("account_sid", ""))):
            raise ValueError("account_sid: give the gateway account SID (letters, digits, - and _)")
        if not str(config.get("url") or TWILIO_URL).startswith(("http://", "https://")):
            raise ValueError("url: give the gateway's http:// or https:// address")
        if not PHONE.match(str(config.get("from", ""))):
            raise ValueError("from: give the sending number in E.164 form, e.g. +15551234567")
        numbers = recipients(config)
        bad = [n for n in numbers if not PHONE.match(n)]
        if not numbers or bad:
            raise ValueError(f"to: give E.164 numbers like +15551234567{f', not {bad[0]!r}' if bad else ''}")

    def send(self, config: dict[str, Any], message: Message, settings: Settings) -> None:
        sid = str(config["account_sid"])
        token = secrets.secret(config, "auth_token_setting")
        url = str(config.get("url") or TWILIO_URL).replace("{sid}", sid)
        body = sms_text(message)
        for number in recipients(config):
            post(url, settings, data={"To": number, "From": str(config["from"]), "Body": body}, auth=(sid, token))
