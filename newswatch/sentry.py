"""Sentry: errors of crawls, deliveries and scheduling become events, without secrets.

The logging integration turns every ERROR record into an event; records logged with
``extra={"outlet": ...}`` or ``extra={"channel": ...}`` get that as a tag, so an operator can
see at once which outlet or channel is failing. Every configured secret (SMTP passwords,
webhook secrets and URLs) is replaced in an event before it leaves the process.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from newswatch import __version__
from newswatch.config import Config, EmailChannel, WebhookChannel

__all__ = ["init_sentry", "secrets_of"]

FILTERED = "[Filtered]"
TAGS = ("outlet", "channel", "watch")


def secrets_of(config: Config) -> list[str]:
    """Every string in the config that must never appear in a log line or an event."""
    found: list[str] = []
    for channel in config.channels.values():
        if isinstance(channel, EmailChannel):
            password = urlsplit(channel.smtp).password
            if password:
                found.append(password)
        elif isinstance(channel, WebhookChannel):
            found.append(channel.url)
            if channel.secret:
                found.append(channel.secret)
    return [secret for secret in found if len(secret) >= 4]


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, FILTERED)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    return value


def init_sentry(config: Config) -> bool:
    """Start Sentry when a DSN is configured; returns whether it is on."""
    if not config.sentry.dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    secrets = secrets_of(config)

    def before_send(event: Any, hint: Any) -> Any:
        extra = event.get("extra") or {}
        for tag in TAGS:
            if tag in extra:
                event.setdefault("tags", {})[tag] = str(extra[tag])
        return _scrub(event, secrets)

    sentry_sdk.init(
        dsn=config.sentry.dsn,
        environment=config.sentry.environment,
        release=f"newswatch@{__version__}",
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        before_send=before_send,
        send_default_pii=False,
        traces_sample_rate=0.0,
    )
    return True
