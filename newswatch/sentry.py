"""Sentry: errors of crawls, deliveries and scheduling become events, without secrets.

The logging integration turns every ERROR record into an event; records logged with
``extra={"outlet": ...}`` or ``extra={"channel": ...}`` get that as a tag, so an operator can
see at once which outlet or channel is failing. Every configured secret (store and SMTP
passwords, webhook secrets, the paths of webhook URLs) is replaced in an event before it leaves
the process, by the same :class:`~newswatch.redact.Redactor` that guards the logs.
"""

from __future__ import annotations

import logging
from typing import Any

from newswatch import __version__
from newswatch.config import Config
from newswatch.redact import Redactor

__all__ = ["init_sentry"]

TAGS = ("outlet", "channel", "watch")


def _scrub(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _scrub(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, redact) for item in value]
    return value


def init_sentry(config: Config) -> bool:
    """Start Sentry when a DSN is configured; returns whether it is on."""
    if not config.sentry.dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    redact = Redactor.for_config(config)

    def before_send(event: Any, hint: Any) -> Any:
        extra = event.get("extra") or {}
        for tag in TAGS:
            if tag in extra:
                event.setdefault("tags", {})[tag] = str(extra[tag])
        return _scrub(event, redact)

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
