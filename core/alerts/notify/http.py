"""One HTTP POST for every HTTP channel, telling a failure worth retrying from one that is not.

A timeout, a connection error, HTTP 5xx, 408 or 429 raises :class:`RuntimeError`, which
core.alerts.deliver retries with backoff; any other 4xx raises :class:`PermanentDeliveryError`
(the request itself is wrong: a bad key, a bad number, a missing field), which is marked failed at
once, since sending the same request again cannot succeed. Messages never carry the request body or
its credentials, only the URL, the status and the start of the answer.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.config import Settings

RETRYABLE_4XX = (408, 429)  # request timeout, too many requests: the receiver asks to try again later


class PermanentDeliveryError(RuntimeError):
    """A delivery that cannot succeed by repeating it (HTTP 4xx, a missing secret): not retried."""


def post(
    url: str,
    settings: Settings,
    *,
    json: Any = None,
    data: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    """POST ``json`` (or form ``data``) to ``url`` within ``alert_webhook_timeout_s``; raise on any non-2xx answer."""
    try:
        response = httpx.post(url, json=json, data=data, auth=auth, timeout=settings.alert_webhook_timeout_s)
    except httpx.TimeoutException:
        raise RuntimeError(f"timed out after {settings.alert_webhook_timeout_s:g} s posting to {url}") from None
    except httpx.HTTPError as error:
        raise RuntimeError(f"could not reach {url}: {type(error).__name__}: {error}") from None
    if response.status_code >= 300:
        text = f"HTTP {response.status_code} from {url}: {response.text[:200]}"
        if response.status_code >= 500 or response.status_code in RETRYABLE_4XX or response.status_code < 400:
            raise RuntimeError(text)
        raise PermanentDeliveryError(text)
    return response
