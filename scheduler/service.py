"""``newswatch run``: the service that polls every outlet on its schedule and delivers alerts.

One Twisted reactor (Scrapy's asyncio reactor) runs everything that crawls: a single long-lived
Scrapy engine whose spider stays open and is fed one poll per outlet tick, so thousands of
outlets share one process. APScheduler's TwistedScheduler keeps the ticks (interval or cron,
with jitter, ``coalesce``, ``max_instances=1`` and a misfire grace) and runs the delivery worker
in the reactor's thread pool with a store connection of its own.

Lifecycle: SIGTERM / SIGINT stop the ticks, let polls and the delivery run in flight finish
within the grace period, then exit 0. SIGHUP reloads the config: a broken one is refused with an
error and the running one stays. Everything that must survive a restart (outbox, digests, live
domains, what was seen, which outlets are dark) lives in the store.

Who ticks: alone on the embedded store (one process only, ``newswatch.store.single``), this
process; on Redis, whichever process holds the schedule's lease, and every process takes the
queued polls (:mod:`newswatch.scheduler.workers`). The ticks themselves are
:mod:`newswatch.scheduler.ticks`.

Health (``/livez``, ``/healthz``, metrics) is kept by :mod:`newswatch.scheduler.health` and the systemd
watchdog by :mod:`newswatch.scheduler.watchdog`; this module only tells them what happened.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from twisted.internet import threads
from twisted.internet.defer import Deferred

from newswatch.alerts.delivery import DeliveryWorker
from newswatch.alerts.intake import AlertIntake
from newswatch.collection import settle
from newswatch.config import Config, LoadedConfig
from newswatch.errors import NewswatchError
from newswatch.health import OutletStatus
from newswatch.redact import protect_logs
from newswatch.scheduler.delivering import DeliveryRuns
from newswatch.scheduler.health import HealthServer, Metrics, ServiceHealth
from newswatch.scheduler.loading import load_checked_config
from newswatch.scheduler.page import PageApp
from newswatch.scheduler.ticks import Ticks
from newswatch.scheduler.watchdog import Watchdog
from newswatch.spiders.context import CrawlContext
from newswatch.spiders.poll import OutletPoll
from newswatch.store import DEFAULT_STATE_DIR, open_store
from newswatch.store.single import hold_single_process

__all__ = ["Service"]

logger = logging.getLogger("newswatch.service")

GRACE = 30.0  # seconds in-flight polls and deliveries get to finish on SIGTERM
DELIVERY_EVERY = 5.0  # seconds between delivery runs
MISFIRE_GRACE = 60  # seconds a late tick may still run (after a pause or a busy moment)
HEALTH_REFRESH = 15.0  # seconds: on Redis, other processes' polls reach /healthz this often
ROBOTS_REFRESH = 24 * 3600.0  # Scrapy keeps each robots.txt for the engine's life: re-read daily


@dataclass(frozen=True)
class _Reload:
    """A new config and what it needs, built off the reactor thread."""

    loaded: LoadedConfig
    intake: AlertIntake
    worker: DeliveryWorker


class Service:
    reactor: Any  # Twisted's reactor, installed (asyncio) when run() starts

    def __init__(self, config_path: Path, loaded: LoadedConfig, consumer: str) -> None:
        self.config_path = config_path
        self.loaded = loaded
        self.consumer = consumer
        self.metrics = Metrics()
        self.outlet_health = ServiceHealth(loaded.config, self.metrics)
        self.watchdog = Watchdog(lambda: self.live()[0])
        self.exit_code = 0
        self.stopping = False
        self.in_flight: dict[str, tuple[OutletPoll, float]] = {}  # outlet -> (poll, started)
        self._health_lock = threading.Lock()
        self.shared: Any = None  # SharedWork on a Redis store

    @property
    def config(self) -> Config:
        return self.loaded.config

    # --- start and run ---------------------------------------------------------------------------

    def run(self) -> int:
        from scrapy.utils.reactor import install_reactor

        install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
        from apscheduler.schedulers.twisted import TwistedScheduler
        from scrapy.crawler import CrawlerRunner
        from twisted.internet import reactor

        from newswatch.spiders.news import NewsSpider
        from newswatch.spiders.settings import scrapy_settings

        self.reactor = reactor
        config = self.config
        single = None if config.store else hold_single_process(DEFAULT_STATE_DIR)
        self.store = open_store(config.store, config.retention)
        self.health_store = open_store(config.store, config.retention)
        self.outlet_health.load(
            {
                name: OutletStatus.from_json(self.store.outlet_status(name))
                for name in config.outlets
            }
        )
        self.delivery = DeliveryRuns(config, self.consumer, self.metrics)
        self.context = CrawlContext.for_config(config, self.store)
        runner = CrawlerRunner(scrapy_settings(config.crawl))
        self.crawler = runner.create_crawler(NewsSpider)
        self.scheduler = TwistedScheduler(
            reactor=reactor,
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": MISFIRE_GRACE,
            },
        )
        self.ticks = Ticks(self.scheduler, self._tick)
        if config.store:
            from newswatch.scheduler.workers import SharedWork

            self.shared = SharedWork.for_service(
                config, self.consumer, reactor, self._start_poll, self._lease_changed, self.metrics
            )
        from scrapy import signals

        self.crawler.signals.connect(self._engine_ready, signal=signals.spider_opened)
        done = runner.crawl(
            self.crawler,
            context=self.context,
            outlets=[],
            keep_alive=True,
            on_poll_finished=self._poll_finished,
        )
        done.addBoth(self._crawler_stopped)
        self.page_store = open_store(config.store, config.retention)
        page = PageApp(lambda: self.config, self.page_store, config.service.listen, self.next_poll)
        self.health = HealthServer(config.service.listen, self.metrics, self.live, self.ready, page)
        try:
            self.health.start()
        except OSError as exc:
            raise NewswatchError(f"cannot listen on {config.service.listen}: {exc}") from None
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)
        signal.signal(signal.SIGHUP, self._on_reload_signal)
        logger.info(
            "newswatch service started: %d outlets, %d watches, %d channels",
            len(config.outlets),
            len(config.watches),
            len(config.channels),
        )
        settle()  # started: what lives on is built
        self.reactor.run(installSignalHandlers=False)
        self.watchdog.stop()
        self.health.stop()
        for store in (
            self.store,
            self.health_store,
            self.page_store,
            self.delivery.current().store,
        ):
            store.close()
        if single is not None:
            single.close()
        logger.info("newswatch service stopped")
        return self.exit_code

    def _engine_ready(self, spider: Any) -> None:
        self.spider = spider
        self._schedule_jobs()
        if self.shared is None:  # alone: this process holds its own schedule
            self.ticks.schedule(self.config)
            self.metrics.schedule_holder.labels(self.consumer).set(1)
        else:
            self.shared.start()  # ticks are added when this process holds the schedule
        self.scheduler.start()
        self.watchdog.start()

    def _lease_changed(self, held: bool) -> None:
        if held and not self.stopping:
            self.ticks.schedule(self.config)
        else:
            self.ticks.clear()

    def _schedule_jobs(self) -> None:
        """The jobs every process runs, whoever ticks: housekeeping and delivery."""
        from apscheduler.triggers.interval import IntervalTrigger

        now = datetime.now(UTC)
        self.scheduler.add_job(
            lambda: self.reactor.callFromThread(self._forget_robots),
            IntervalTrigger(seconds=ROBOTS_REFRESH, timezone=UTC),
            id="robots",
            name="re-read robots.txt",
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.delivery.run,
            IntervalTrigger(seconds=DELIVERY_EVERY, timezone=UTC),
            id="deliver",
            name="deliver",
            replace_existing=True,
            next_run_time=now,
        )
        if self.shared is not None:
            self.scheduler.add_job(
                self._refresh_health,
                IntervalTrigger(seconds=HEALTH_REFRESH, timezone=UTC),
                id="outlet-health",
                name="read the outlets' health",
                replace_existing=True,
            )

    def _refresh_health(self) -> None:
        with self._health_lock:  # the health store's connection is shared with /livez
            try:
                self.outlet_health.refresh(self.health_store.outlet_status)
            except NewswatchError as exc:
                logger.warning("could not read the outlets' health from the store: %s", exc)

    # --- polls (tick in a pool thread, poll in the reactor thread) -------------------------------

    def _tick(self, name: str) -> None:
        if self.shared is not None:  # queued for whichever process has room
            self.shared.tick(name)
        else:
            self.reactor.callFromThread(self._start_poll, name)

    def _start_poll(self, name: str) -> OutletPoll | None:
        if self.stopping or name not in self.config.outlets:
            return None
        if name in self.in_flight:  # a poll ends by crawl.poll_timeout at the latest
            logger.debug("%s: previous poll still running; tick skipped", name)
            return None
        try:
            poll = self.spider.poll(name)
        except Exception:
            logger.exception("%s: could not start a poll", name, extra={"outlet": name})
            return None
        self.in_flight[name] = (poll, time.monotonic())
        return poll

    def _poll_finished(self, poll: OutletPoll) -> None:
        current = self.in_flight.get(poll.name)
        if current is not None and current[0] is poll:
            del self.in_flight[poll.name]
        self.outlet_health.poll_finished(poll.name, poll.domains, poll.status, poll.result)
        self.metrics.worker_polls.labels(self.consumer).inc()
        if self.shared is not None:
            self.shared.finished(poll)

    def _forget_robots(self) -> None:
        """The engine lives for months; outlets change their robots.txt more often than that."""
        from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

        engine = self.crawler.engine
        if engine is None:
            return
        for middleware in engine.downloader.middleware.middlewares:
            if isinstance(middleware, RobotsTxtMiddleware):
                middleware._parsers.clear()
                logger.info("robots.txt of every domain will be read again")

    # --- signals: stop and reload ----------------------------------------------------------------

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self.reactor.callFromThread(self.stop, signal.Signals(signum).name)

    def _on_reload_signal(self, signum: int, frame: FrameType | None) -> None:
        self.reactor.callFromThread(self.reload)

    def stop(self, reason: str = "stop") -> None:
        if self.stopping:
            return
        self.stopping = True
        logger.info(
            "%s: stopping; waiting up to %.0fs for polls and deliveries in flight", reason, GRACE
        )
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.shared is not None:  # takes no more polls; the schedule goes to another process
            self.shared.stop()
        deadline = time.monotonic() + GRACE
        self._wait_for_in_flight(deadline)

    def _wait_for_in_flight(self, deadline: float) -> None:
        busy = bool(self.in_flight) or self.delivery.busy
        if busy and time.monotonic() < deadline:
            self.reactor.callLater(0.2, self._wait_for_in_flight, deadline)
            return
        if busy:
            logger.warning(
                "grace period over with %d polls in flight; their outlets are polled again on start",
                len(self.in_flight),
            )
        for poll, _ in list(self.in_flight.values()):  # logged as cut short, not as polled
            self.spider.end_poll(poll, "the service is stopping")
        stop_async = getattr(self.crawler, "stop_async", None)
        if stop_async is not None:  # Scrapy 2.14+: stop() warns on every shutdown
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(stop_async())
        else:
            self.crawler.stop()

    def _crawler_stopped(self, result: Any) -> None:
        if self.shared is not None:
            self.shared.close()
        if self.reactor.running:
            self.reactor.stop()

    def reload(self) -> Deferred[None]:
        """Re-read the config and switch to it; the running config stays if it is broken.

        Reading, checking and building the watch set of a config with thousands of watches takes
        a second or more: that happens in a thread, so the crawl keeps going meanwhile, and only
        the switch itself runs on the reactor thread.
        """
        prepared: Deferred[_Reload | None]
        prepared = threads.deferToThread(self._prepare_reload)
        applied = prepared.addCallback(self._apply_reload)
        return applied.addErrback(
            lambda failure: logger.error(
                "config reload failed: %s", failure.getErrorMessage(), exc_info=failure.value
            )
        )

    def _prepare_reload(self) -> _Reload | None:
        try:
            loaded = load_checked_config(self.config_path)
        except NewswatchError as exc:
            logger.error("config reload refused, the running config stays: %s", exc)
            return None
        worker = self.delivery.make_worker(
            loaded.config.model_copy(update={"store": self.config.store})
        )
        return _Reload(loaded, AlertIntake(loaded.config, self.store), worker)

    def _apply_reload(self, prepared: _Reload | None) -> None:
        """On the reactor thread: never waits for a delivery run (it may be waiting out a slow
        mail server); the new worker takes over when the running one finishes."""
        if prepared is None:
            return
        loaded, intake = prepared.loaded, prepared.intake
        if loaded.config.store != self.config.store:
            logger.warning("store changed in the config: takes effect at the next restart")
        config = loaded.config
        protect_logs(config)  # the new config's secrets are hidden in logs from now on
        self.delivery.hand_over(prepared.worker)
        self.loaded = loaded
        self.outlet_health.config = config
        self.context = CrawlContext.for_config(config, self.store, intake=intake)
        self.spider.reconfigure(self.context)
        self._forget_robots()  # a reload is also the operator's way to say "look again"
        if self.shared is not None:
            self.shared.reconfigure(config)
        if self.shared is None or self.shared.holding:
            self.ticks.schedule(config)
        logger.info(
            "config reloaded: %d outlets, %d watches, %d channels",
            len(config.outlets),
            len(config.watches),
            len(config.channels),
        )

    # --- health (read by the health server's and the watchdog's threads) -------------------------

    def next_poll(self, outlet: str) -> datetime | None:
        """When the outlet's next tick is due here (None in a process not holding the schedule)."""
        return self.ticks.next_poll(outlet) if getattr(self, "ticks", None) else None

    def live(self) -> tuple[bool, dict[str, Any]]:
        def ping() -> None:
            with self._health_lock:  # its own store connection, shared by the server's threads
                self.health_store.ping()

        running = getattr(self, "scheduler", None) is not None and self.scheduler.running
        return self.outlet_health.live(running and not self.stopping, ping)

    def ready(self) -> tuple[bool, dict[str, Any]]:
        next_polls = {name: self.next_poll(name) for name in self.config.outlets}
        ok, report = self.outlet_health.ready(self.live(), next_polls)
        if self.shared is not None:
            report.update(self.shared.report())
        return ok, report
