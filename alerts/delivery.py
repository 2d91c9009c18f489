"""Sending queued alerts through their channels; what fails stays queued for the next attempt.

An alert is acknowledged in the store only after the channel accepted it, so a failure or a
crash in between means a later attempt, never a lost alert (SPEC §4: at least once, stable id).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx

from alerts.email import build_message, send_email
from alerts.intake import format_time
from alerts.render import Renderer
from alerts.webhook import post_webhook
from newswatch.config import Config, ConsoleChannel, EmailChannel, WebhookChannel
from newswatch.errors import DeliveryError, PermanentDeliveryError
from newswatch.store import Store

__all__ = ["ChannelSender", "DeliveryReport", "deliver_pending", "sample_alert"]

logger = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0

    @property
    def ok(self) -> bool:
        return self.failed == 0


class ChannelSender:
    """Sends one alert through one named channel of the config."""

    def __init__(
        self, config: Config, renderer: Renderer, http: httpx.Client, console: TextIO | None = None
    ) -> None:
        self.config = config
        self.renderer = renderer
        self.http = http
        self.console = console or sys.stdout

    def send(self, channel_name: str, alert: dict[str, Any]) -> None:
        """Raises DeliveryError when the channel did not accept the alert."""
        channel = self.config.channels[channel_name]
        if isinstance(channel, EmailChannel):
            send_email(build_message(alert, channel, self.renderer), channel)
        elif isinstance(channel, WebhookChannel):
            post_webhook(self.http, channel, alert)
        elif isinstance(channel, ConsoleChannel):
            print(self.renderer.text(alert), file=self.console, flush=True)


def deliver_pending(store: Store, sender: ChannelSender) -> DeliveryReport:
    """Try every queued alert of every configured channel once."""
    report = DeliveryReport()
    for name in sender.config.channels:
        for pending in store.pending(name):
            try:
                sender.send(name, pending.payload)
            except DeliveryError as exc:
                report.failed += 1
                store.failed(pending.id, name, str(exc))
                level = (
                    logging.ERROR if isinstance(exc, PermanentDeliveryError) else logging.WARNING
                )
                logger.log(
                    level,
                    "channel %s: alert %s not delivered, kept for the next attempt: %s",
                    name,
                    pending.id,
                    exc,
                )
                continue
            store.delivered(pending.id, name)
            report.sent += 1
            logger.info("channel %s: delivered alert %s", name, pending.id)
    return report


def sample_alert(now: datetime | None = None) -> dict[str, Any]:
    """A realistic alert for ``newswatch test-alert``; its id is unique per call."""
    now = now or datetime.now(UTC)
    snippet = "…forces entered the ancient city of Palmyra on Sunday, the army said…"
    start = snippet.index("Palmyra")
    return {
        "id": "test-" + now.strftime("%Y%m%dT%H%M%S%f"),
        "watch": "test-alert",
        "outlet": "example",
        "article": {
            "url": "https://news.example.org/2016/03/palmyra.html",
            "fetched_from": "https://news.example.org/2016/03/palmyra.html",
            "title": "newswatch test alert: Palmyra",
            "published": format_time(now),
            "language": "en",
        },
        "matches": [
            {"term": "Palmyra", "field": "body", "snippet": snippet, "mark": [start, start + 7]}
        ],
        "detected_at": format_time(now),
    }
