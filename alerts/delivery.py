"""The delivery worker: sends what the outbox holds, acknowledging only what a server accepted.

Each (alert, channel) is an outbox entry of its own, so a failing channel never holds back
another. A transient failure is retried with exponential backoff and jitter (a 429's Retry-After
is honoured) for 24 hours, then dead-lettered; a permanent one (a 5xx SMTP reply to every
recipient, a webhook 4xx other than 408 / 429) is dead-lettered at once. Dead letters are logged
as errors (Sentry sees them) and shown by ``newswatch status``. A crash between a send and its
acknowledgement re-sends the same alert with the same id and Message-ID: at least once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TextIO

import httpx

from newswatch.alerts.digest import build_digest
from newswatch.alerts.email import MailSession, build_message
from newswatch.alerts.render import Renderer
from newswatch.alerts.webhook import post_webhook
from newswatch.article import format_time
from newswatch.config import Config, ConsoleChannel, EmailChannel, WebhookChannel
from newswatch.errors import (
    ChannelDown,
    DeliveryError,
    PartialRefusal,
    PermanentDeliveryError,
    TemplateError,
)
from newswatch.store import OutboxEntry, Store

__all__ = [
    "RETRY_WINDOW",
    "ChannelSender",
    "Connections",
    "DeliveryReport",
    "DeliveryWorker",
    "backoff",
    "http_client",
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
    left: int = 0  # taken but not tried before the run's time was up: still pending
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, result)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.dead == 0 and self.left == 0


def http_client() -> httpx.AsyncClient:
    """The webhook client of one delivery run (each read and the connect have their own limit
    too, within the channel's deadline for the whole send)."""
    return httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))


class Connections:
    """What one delivery run sends through: a webhook client, made only when some channel is a
    webhook (making one loads a TLS context, about 25 ms of CPU), and one mail session per
    email channel, opened at its first message and ended with the run."""

    def __init__(self, config: Config) -> None:
        self._webhooks = any(isinstance(c, WebhookChannel) for c in config.channels.values())
        self._http: httpx.AsyncClient | None = None
        self._mail: dict[str, MailSession] = {}

    async def __aenter__(self) -> Connections:
        if self._webhooks:
            self._http = await http_client().__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await asyncio.gather(*(session.quit() for session in self._mail.values()))
        finally:
            self._mail.clear()
            if self._http is not None:
                await self._http.aclose()
                self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        assert self._http is not None, "a config with webhooks gets a client"
        return self._http

    def mail(self, name: str, channel: EmailChannel) -> MailSession:
        """The run's session of the email channel ``name``."""
        session = self._mail.get(name)
        if session is None or session.channel is not channel:
            session = self._mail[name] = MailSession(channel)
        return session


class ChannelSender:
    """Sends one alert through one named channel of the config, within the config's deadline."""

    def __init__(self, config: Config, renderer: Renderer, console: TextIO | None = None) -> None:
        self.config = config
        self.renderer = renderer
        self.console = console or sys.stdout
        self.deadline = config.delivery.timeout.total_seconds()

    async def send(
        self,
        connections: Connections,
        channel_name: str,
        alert: dict[str, Any],
        recipients: Sequence[str] = (),
    ) -> None:
        """Raises DeliveryError when the channel did not accept the alert in time.

        ``recipients``: for an email that some recipients already got, the others.
        """
        channel = self.config.channels[channel_name]
        try:
            async with asyncio.timeout(self.deadline):
                if isinstance(channel, EmailChannel):
                    message = build_message(alert, channel, self.renderer)
                    await connections.mail(channel_name, channel).send(message, recipients)
                elif isinstance(channel, WebhookChannel):
                    await post_webhook(connections.http, channel, alert, self.renderer)
                elif isinstance(channel, ConsoleChannel):
                    print(self.renderer.text(alert), file=self.console, flush=True)
        except TimeoutError:
            raise ChannelDown(
                f"channel {channel_name}: no answer within {self.deadline:g}s"
            ) from None

    def send_now(self, channel_name: str, alert: dict[str, Any]) -> None:
        """One send outside a delivery run (``newswatch test-alert``)."""

        async def once() -> None:
            async with Connections(self.config) as connections:
                await self.send(connections, channel_name, alert)

        asyncio.run(once())


class DeliveryWorker:
    """One delivery run at a time: every channel at once, each send and the run bounded in time.

    Channels are served concurrently, so a silent mail server does not hold back a webhook; a
    channel whose server does not answer has the rest of its entries put off to their next
    attempt rather than each waiting out the same deadline. What the run's ``run_timeout`` cuts
    short stays leased to this consumer and pending: the next run (of this process, or of any
    once this one is gone) sends it.
    """

    def __init__(
        self,
        store: Store,
        sender: ChannelSender,
        consumer: str,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        stale_after: float | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.config = sender.config
        self.consumer = consumer
        self.clock = clock
        self.rng = rng
        self.run_timeout = self.config.delivery.run_timeout.total_seconds()
        # A lease outlives any run that holds it, so another process never takes an entry that
        # is still being sent.
        self.stale_after = stale_after or max(300.0, 2 * self.run_timeout)

    def run_once(self, ignore_schedule: bool = False) -> DeliveryReport:
        """Close due digests, then try every due entry of every channel once.

        ``ignore_schedule`` tries entries that are waiting out a backoff too: what
        ``run --once`` ("try every pending delivery") does.
        """
        return asyncio.run(self.run(ignore_schedule))

    async def run(self, ignore_schedule: bool = False) -> DeliveryReport:
        self.close_due_digests()
        report = DeliveryReport()
        taken = Counter[str]()
        async with Connections(self.config) as connections:
            try:
                async with asyncio.timeout(self.run_timeout):
                    await asyncio.gather(
                        *(
                            self._serve(channel, connections, report, taken, ignore_schedule)
                            for channel in self.config.channels
                        )
                    )
            except TimeoutError:
                done = report.sent + report.failed + report.dead
                report.left = sum(taken.values()) - done
                logger.warning(
                    "delivery run stopped after %.0fs: %d alerts left pending for the next run",
                    self.run_timeout,
                    report.left,
                )
        return report

    async def _serve(
        self,
        channel: str,
        connections: Connections,
        report: DeliveryReport,
        taken: Counter[str],
        ignore_schedule: bool,
    ) -> None:
        entries = self.store.take_due(
            channel, self.consumer, self.clock(), self.stale_after, ignore_schedule
        )
        taken[channel] = len(entries)
        down: ChannelDown | None = None
        for entry in entries:
            if down is not None:  # the server is not answering: no use waiting on it again
                self._retry(entry, down, report)
                continue
            down = await self.deliver(entry, report, connections)

    async def deliver(
        self, entry: OutboxEntry, report: DeliveryReport, connections: Connections
    ) -> ChannelDown | None:
        """Send one entry and record the outcome; the ChannelDown error when the server is."""
        try:
            await self.sender.send(connections, entry.channel, entry.payload, entry.recipients)
        except PartialRefusal as exc:
            left = replace(entry, recipients=exc.refused)
            if exc.permanent:
                self._dead(left, str(exc), report)
            else:
                self._retry(left, exc, report)
            return None
        except PermanentDeliveryError as exc:
            self._dead(entry, str(exc), report)
            return None
        except TemplateError as exc:  # this alert cannot be rendered: others still go out
            self._dead(entry, f"cannot render it: {exc}", report)
            return None
        except ChannelDown as exc:
            self._retry(entry, exc, report)
            return exc
        except DeliveryError as exc:
            self._retry(entry, exc, report)
            return None
        _crash_point("after-send")
        self.store.ack(entry)
        report.sent += 1
        report.outcomes[entry.channel, "sent"] += 1
        logger.info(
            "channel %s: delivered alert %s",
            entry.channel,
            entry.id,
            extra={"channel": entry.channel, "alert": entry.id},
        )
        return None

    def _retry(self, entry: OutboxEntry, exc: DeliveryError, report: DeliveryReport) -> None:
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
            extra={"channel": entry.channel, "alert": entry.id, "attempt": entry.attempts + 1},
        )

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
                logger.info(
                    "watch %s: digest of %d alerts queued",
                    watch,
                    len(alerts),
                    extra={"watch": watch, "alerts": len(alerts)},
                )

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
            extra={"channel": entry.channel, "alert": entry.id, "attempt": entry.attempts + 1},
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
