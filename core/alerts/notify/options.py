"""Per-channel delivery options that every kind accepts: retries, backoff and a rate limit.

``max_attempts`` (1–20) and ``backoff_s`` (0–3600) override the ``alert_delivery_attempts`` and
``alert_delivery_backoff_s`` settings for one channel; ``rate_limit_per_minute`` (1–600) caps how many
notifications the channel sends in any 60 s. Over the cap a notification is **held, not dropped**: it
stays pending, its log row says why and until when, and it goes out when the minute has room — an
on-call page that arrives late is better than one that never arrives. Held time does not use up attempts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.config import Settings

KEYS = ("max_attempts", "backoff_s", "rate_limit_per_minute")
RANGES = {"max_attempts": (1, 20), "backoff_s": (0, 3600), "rate_limit_per_minute": (1, 600)}


@dataclass(frozen=True)
class DeliveryOptions:
    """How one channel is retried and paced."""

    max_attempts: int
    backoff_s: float
    rate_limit_per_minute: int | None


def check(config: Mapping[str, Any]) -> None:
    """Raise ValueError naming an option that is not a number in its range."""
    for key in KEYS:
        raw = config.get(key)
        if raw in (None, ""):
            continue
        low, high = RANGES[key]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{key}: must be a number from {low} to {high}, not {raw!r}") from None
        if isinstance(raw, bool) or not low <= value <= high or (key != "backoff_s" and value != int(value)):
            raise ValueError(
                f"{key}: must be {'a number' if key == 'backoff_s' else 'a whole number'} from {low} to {high}, "
                f"not {raw!r}"
            )


def of(config: Mapping[str, Any], settings: Settings) -> DeliveryOptions:
    """The channel's options, the settings filling what it leaves out. A config :func:`check` refuses (a row saved
    before the options existed) gets the settings' values for all three, so one odd row cannot stop deliveries."""
    try:
        check(config)
    except ValueError:
        config = {}
    attempts, backoff, limit = (config.get(key) for key in KEYS)
    return DeliveryOptions(
        int(float(attempts)) if attempts not in (None, "") else settings.alert_delivery_attempts,
        float(backoff) if backoff not in (None, "") else settings.alert_delivery_backoff_s,
        int(float(limit)) if limit not in (None, "") else None,
    )
