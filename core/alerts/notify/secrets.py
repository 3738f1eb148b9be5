"""Channel secrets (routing keys, tokens) come from the environment, never from the channel row.

A channel's config names the setting that holds a secret, e.g. ``routing_key_setting:
PULSEBOARD_PAGERDUTY_KEY``; the value is read from the process environment at send time, so the
database, the audit log, exports and the channel editor only ever see the name. A name must start
with ``PULSEBOARD_`` and must not be one of Pulseboard's own settings (docs/configuration.md), so
a channel editor cannot point a channel at, say, the database URL and post it to a URL of their
choosing. A config that carries the secret itself (``routing_key``, ``auth_token``, ...) is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.alerts.notify.http import PermanentDeliveryError
from core.config import ENV_PREFIX, Settings

NAME = re.compile(rf"^{ENV_PREFIX}[A-Z0-9_]{{1,100}}$")
SUFFIX = "_setting"
PLAIN_SECRET_WORDS = ("key", "token", "password", "secret")


def own_settings() -> frozenset[str]:
    """Environment names of Pulseboard's own settings: never readable as a channel secret."""
    return frozenset(f"{ENV_PREFIX}{name}".upper() for name in Settings.model_fields)


def check_setting(config: Mapping[str, Any], field: str) -> None:
    """Raise ValueError naming ``field`` unless it holds an acceptable setting name."""
    name = str(config.get(field) or "")
    if not NAME.match(name):
        raise ValueError(
            f"{field}: give the name of an environment setting holding the secret, like {ENV_PREFIX}PAGERDUTY_KEY "
            f"(upper case, starting {ENV_PREFIX}), not the secret itself"
        )
    if name in own_settings():
        raise ValueError(f"{field}: {name} is one of Pulseboard's own settings; use a setting of its own")


def refuse_plain(config: Mapping[str, Any], allowed: Iterable[str] = ()) -> None:
    """Raise ValueError when the config holds what looks like a secret value instead of a setting name."""
    for key in config:
        if key in allowed or key.endswith(SUFFIX):
            continue
        if any(word in key.lower() for word in PLAIN_SECRET_WORDS):
            raise ValueError(
                f"{key}: secrets are not stored in a channel; set {key}{SUFFIX} to the name of the environment "
                "setting that holds it"
            )


def secret(config: Mapping[str, Any], field: str) -> str:
    """The value of the setting named by ``config[field]``; a missing one fails the delivery for good."""
    name = str(config.get(field) or "")
    value = os.environ.get(name, "") if NAME.match(name) and name not in own_settings() else ""
    if not value:
        raise PermanentDeliveryError(f"{field}: the setting {name or '(none)'} is not set in Pulseboard's environment")
    return value


def masked(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config to show people: a setting name with whether it is set, never a value."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key.endswith(SUFFIX):
            state = "set" if os.environ.get(str(value)) and str(value) not in own_settings() else "NOT SET"
            shown[key] = f"{value} (•••• {state})"
        else:
            shown[key] = value
    return shown
