"""The delivery worker: sends what the outbox holds, acknowledging only what a server accepted.

Each (alert, channel) is an outbox entry of its own, so a failing channel never holds back
another. A transient failure is retried with exponential backoff and jitter (a 429's Retry-After
is honoured) for 24 hours, then dead-lettered; a permanent one (a 5xx SMTP reply to every
recipient, a webhook 4xx other than 408 / 429) is dead-lettered at once. Dead letters are logged
as errors (Sentry sees them) and shown by ``newswatch status``. A crash between a send and its
acknowledgement re-sends the same alert with the same id and Message-ID: at least once.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx

from alerts.digest import build_digest
from alerts.email import build_message, send_email
from alerts.render import Renderer
from alerts.webhook import post_webhook
from newswatch.article import format_time
from newswatch.config import Config, ConsoleChannel, EmailChannel, WebhookChannel
from newswatch.errors import DeliveryError, PermanentDeliveryError, TemplateError
from newswatch.store import OutboxEntry, Store

__all__ = [
    "RETRY_WINDOW",
    "ChannelSender",
    "DeliveryReport",
    "DeliveryWorker",
    "backoff",
    "sample_alert",
]

logger = logging.getLogger("newswatch.delivery")

RETRY_WINDOW = 24 * 3600.0
BACKOFF_BASE = 30.0
BACKOFF_CAP = 3600.0
CRASH_POINT_VARIABLE = "NEWSWATCH_CRASH_POINT"  # tests kill the process at a named step


def backoff(attempts: int, rng: Callable[[], float] = random.random) -> float:
    """Seconds before attempt ``attempts + 1``: doubling from 30 s to 1 h, with jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2**attempts)
    return ceiling * (0.5 + 0.5 * rng())


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, result)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.dead == 0


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
            post_webhook(self.http, channel, alert, self.renderer)
        elif isinstance(channel, ConsoleChannel):
            print(self.renderer.text(alert), file=self.console, flush=True)


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        sender: ChannelSender,
        consumer: str,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        stale_after: float = 300.0,
    ) -> None:
        self.store = store
        self.sender = sender
        self.config = sender.config
        self.consumer = consumer
        self.clock = clock
        self.rng = rng
        self.stale_after = stale_after

    def run_once(self, ignore_schedule: bool = False) -> DeliveryReport:
        """Close due digests, then try every due entry of every channel once.

        ``ignore_schedule`` tries entries that are waiting out a backoff too: what
        ``run --once`` (SPEC: "try every pending delivery") does.
        """
        self.close_due_digests()
        report = DeliveryReport()
        for channel in self.config.channels:
            entries = self.store.take_due(
                channel, self.consumer, self.clock(), self.stale_after, ignore_schedule
            )
            for entry in entries:
                self.deliver(entry, report)
        return report

    def deliver(self, entry: OutboxEntry, report: DeliveryReport) -> None:
        try:
            self.sender.send(entry.channel, entry.payload)
        except PermanentDeliveryError as exc:
            self._dead(entry, str(exc), report)
            return
        except TemplateError as exc:  # this alert cannot be rendered: others still go out
            self._dead(entry, f"cannot render it: {exc}", report)
            return
        except DeliveryError as exc:
            now = self.clock()
            if now - (entry.first_failure or now) >= RETRY_WINDOW:
                self._dead(entry, f"still failing after 24 h: {exc}", report)
                return
            delay = max(backoff(entry.attempts, self.rng), exc.retry_after or 0.0)
            self.store.retry_later(entry, now + delay, str(exc), now)
            report.failed += 1
            report.outcomes[entry.channel, "failed"] += 1
            logger.warning(
                "channel %s: alert %s not delivered (attempt %d), retrying in %.0fs: %s",
                entry.channel,
                entry.id,
                entry.attempts + 1,
                delay,
                exc,
                extra={"channel": entry.channel},
            )
            return
        _crash_point("after-send")
        self.store.ack(entry)
        report.sent += 1
        report.outcomes[entry.channel, "sent"] += 1
        logger.info("channel %s: delivered alert %s", entry.channel, entry.id)

    def close_due_digests(self) -> None:
        """Queue each due digest for its watch's channels.

        The digest of a watch that is not in the config (removed by an edit or a reload) stays
        open: closing it would send it nowhere and drop its alerts. ``status`` and ``check``
        report it; it goes out when the watch returns, or ``newswatch discard --digest`` drops it.
        """
        for watch, due in self.store.due_digests(self.clock()):
            if watch not in self.config.watches:
                continue
            alerts = self.store.digest_alerts(watch, due)
            channels = list(self.config.watches[watch].notify)
            digest = build_digest(watch, datetime.fromtimestamp(due, UTC), alerts)
            self.store.close_digest(watch, due, digest, channels if alerts else [])
            if alerts:
                logger.info("watch %s: digest of %d alerts queued", watch, len(alerts))

    def _dead(self, entry: OutboxEntry, error: str, report: DeliveryReport) -> None:
        self.store.dead_letter(entry, error, self.clock())
        report.dead += 1
        report.outcomes[entry.channel, "dead"] += 1
        logger.error(
            "channel %s: alert %s dead-lettered after %d attempts: %s",
            entry.channel,
            entry.id,
            entry.attempts + 1,
            error,
            extra={"channel": entry.channel},
        )


def _crash_point(name: str) -> None:
    """Die here, as kill -9 would, when the tests ask for it: proves a crash loses nothing."""
    if os.environ.get(CRASH_POINT_VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def sample_alert(now: datetime | None = None, *, sparse: bool = False) -> dict[str, Any]:
    """A realistic alert for ``newswatch test-alert``; its id is unique per call.

    ``sparse``: every field that a real alert may lack is empty (no title, no publication
    time, no language), so that ``check`` finds templates that only work on full alerts.
    """
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
            "title": "" if sparse else "newswatch test alert: Palmyra",
            "published": None if sparse else format_time(now),
            "language": None if sparse else "en",
        },
        "matches": [
            {"term": "Palmyra", "field": "body", "snippet": snippet, "mark": [start, start + 7]}
        ],
        "detected_at": format_time(now),
    }
