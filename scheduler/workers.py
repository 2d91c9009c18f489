"""Several ``newswatch run`` processes on one Redis: who ticks, who polls, who is alive.

Every process runs the same code. A heartbeat thread renews (or tries to take) the schedule's
lease, and the process holding it adds the outlets' ticks (``Ticks``); a tick queues a poll only
if this process still holds the lease (the fencing check runs in Redis, with the queueing mark).
Every process, the holder too, takes polls from the shared queue (``PollQueue``) and runs each in
its long-lived engine under the outlet's lock, renewed by the same heartbeat; the poll's message
is acknowledged only when the poll has ended, so a process killed mid-poll leaves it to be queued
again after ``workers.requeue_after``. A poll whose outlet is being polled elsewhere is skipped,
as a single process skips a tick while the outlet's previous poll runs.

Threads: the heartbeat thread and the feeder thread talk to Redis; starting and ending polls
happens on the reactor thread (``take`` is called there, ``finished`` from the spider).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from newswatch.config import Config
from newswatch.errors import StoreError
from newswatch.scheduler.health import Metrics
from newswatch.scheduler.pollqueue import PollFeeder, PollQueue, QueuedPoll
from newswatch.spiders.poll import OutletPoll
from newswatch.store.lease import Lease
from newswatch.store.workers import (
    FORGET_AFTER,
    OutletLocks,
    TickMarks,
    WorkerInfo,
    WorkerRegistry,
)

__all__ = ["SharedWork"]

logger = logging.getLogger("newswatch.service")

LEASE_KEY = "newswatch:schedule"


class SharedWork:
    def __init__(
        self,
        client: redis.Redis,
        config: Config,
        name: str,
        reactor: Any,
        start_poll: Callable[[str], OutletPoll | None],
        on_lease: Callable[[bool], None],
        metrics: Metrics | None = None,
    ) -> None:
        """``client``: a Redis client returning bytes, for this process's coordination only.
        ``start_poll(outlet)`` starts a poll in the engine (None: not started); ``on_lease(held)``
        runs on the reactor thread when this process gains or loses the schedule."""
        settings = config.workers
        self.config = config
        self.name = name
        self.reactor = reactor
        self.start_poll = start_poll
        self.on_lease = on_lease
        self.metrics = metrics
        self.started = time.time()
        ttl_ms = int(settings.lease.total_seconds() * 1000)
        self.beat_every = settings.lease.total_seconds() / 3
        self.lease = Lease(client, LEASE_KEY, name, ttl_ms)
        self.registry = WorkerRegistry(
            client,
            max(FORGET_AFTER, 10 * settings.lease.total_seconds()),
            silent_after=settings.requeue_after.total_seconds(),
        )
        self.locks = OutletLocks(client, name, ttl_ms)
        self.marks = TickMarks(client, LEASE_KEY)
        self.queue = PollQueue(client, int(settings.requeue_after.total_seconds() * 1000))
        self.feeder = PollFeeder(self.queue, settings.polls_in_flight, self._hand_over)
        self.polls_done = 0
        self.depth = 0
        self.holding = False
        self.stopping = False
        self.in_flight: dict[str, QueuedPoll] = {}  # poll key -> its message (reactor thread)
        self._held_outlets: set[str] = set()  # read by the heartbeat thread, under _lock
        self._lock = threading.Lock()
        self._beats = threading.Event()
        self._thread = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)

    @classmethod
    def for_service(
        cls,
        config: Config,
        name: str,
        reactor: Any,
        start_poll: Callable[[str], OutletPoll | None],
        on_lease: Callable[[bool], None],
        metrics: Metrics,
    ) -> SharedWork:
        client = redis.Redis.from_url(str(config.store), socket_timeout=30)
        return cls(client, config, name, reactor, start_poll, on_lease, metrics)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """First heartbeat at once (a lone process ticks without waiting), then the threads."""
        self._beat()
        self._thread.start()
        self.feeder.start()

    def stop(self) -> None:
        """Stop taking polls and ticking; polls in flight still end through ``finished``."""
        self.stopping = True
        self.feeder.stop()
        self._beats.set()
        self._thread.join(timeout=5)
        self.lease.release()

    def close(self) -> None:
        """After the last poll ended: this process is gone, not silent."""
        try:
            self.registry.forget(self.name)
        except StoreError as exc:
            logger.warning("could not remove this process from the list of workers: %s", exc)

    def reconfigure(self, config: Config) -> None:
        """A reloaded config (its ``workers`` settings take effect at the next start)."""
        self.config = config

    # --- ticks (APScheduler pool thread) ---------------------------------------------------------

    def tick(self, outlet: str) -> None:
        """Queue a poll of the outlet, if this process still holds the schedule and none of the
        outlet's polls is waiting already."""
        if not self.lease.held:
            return
        ttl = self.config.crawl.poll_timeout.total_seconds()
        try:
            marked = self.marks.mark(outlet, self.lease.value, ttl)
            if marked == 1:
                self.queue.put(outlet, self.lease.token)
            elif marked == 0:
                logger.debug("%s: a poll is queued already; tick skipped", outlet)
            else:
                logger.warning(
                    "%s: tick not queued: the schedule's lease is no longer ours", outlet
                )
        except StoreError as exc:
            logger.error("%s: could not queue the poll: %s", outlet, exc)

    # --- polls (feeder thread -> reactor thread) -------------------------------------------------

    def _hand_over(self, poll: QueuedPoll) -> None:
        self.reactor.callFromThread(self.take, poll)

    def take(self, queued: QueuedPoll) -> None:
        outlet = queued.outlet
        try:
            self.marks.taken(outlet)
            if self.stopping:
                self.feeder.give_back([queued])
                return
            if outlet not in self.config.outlets:
                self.feeder.done(queued)  # removed by a reload since it was queued
                return
            # redelivered: queued again after its process stopped answering (or a long wait)
            age = time.time() - queued.queued_at
            again = age > self.config.workers.requeue_after.total_seconds()
            if not self.locks.take(outlet, queued.id):
                # a tick while the outlet's poll runs, or a redelivered poll whose outlet another
                # tick's poll already covers: either way the outlet is being polled right now
                holder = self.locks.holder(outlet)
                logger.log(
                    logging.INFO if again else logging.DEBUG,
                    "%s: poll %s (queued %.1fs ago) skipped: being polled by %s",
                    outlet,
                    queued.id,
                    age,
                    holder[0] if holder else "another process",
                )
                self.feeder.done(queued)
                return
        except StoreError as exc:
            logger.error("%s: could not take the poll: %s", outlet, exc)
            self.feeder.give_back([queued])
            return
        logger.log(
            logging.INFO if again else logging.DEBUG,
            "%s: poll %s taken%s, queued %.1fs ago",
            outlet,
            queued.id,
            " again (its process stopped answering)" if again else "",
            age,
        )
        poll = self.start_poll(outlet)
        if poll is None:
            self._release(outlet)
            self.feeder.done(queued)
            return
        self.in_flight[poll.key] = queued
        with self._lock:
            self._held_outlets.add(outlet)

    def finished(self, poll: OutletPoll) -> None:
        queued = self.in_flight.pop(poll.key, None)
        if queued is None:
            return
        self._release(poll.name)
        self.polls_done += 1
        try:
            self.registry.count_poll(self.name)
        except StoreError as exc:
            logger.warning("could not count the poll: %s", exc)
        self.feeder.done(queued)

    def _release(self, outlet: str) -> None:
        with self._lock:
            self._held_outlets.discard(outlet)
        try:
            self.locks.release(outlet)
        except StoreError as exc:  # it lapses within workers.lease
            logger.warning("%s: could not release the outlet's lock: %s", outlet, exc)

    # --- heartbeat (its own thread) --------------------------------------------------------------

    def _beat_loop(self) -> None:
        while not self._beats.wait(self.beat_every):
            self._beat()

    def _beat(self) -> None:
        try:
            held = self.lease.keep() and not self.stopping
        except StoreError as exc:
            logger.error("schedule lease: %s", exc)
            held = False
        if held != self.holding:
            self.holding = held
            if held:
                logger.info(
                    "this process holds the schedule now (fencing token %d)", self.lease.token
                )
            elif self.stopping:
                logger.info("the schedule is handed on to the other processes")
            else:
                logger.warning("this process no longer holds the schedule")
            self.reactor.callFromThread(self.on_lease, held)
        with self._lock:
            outlets = sorted(self._held_outlets)
        try:
            self.locks.renew(outlets)
            self.depth = self.queue.depth()  # also the broker's heartbeat of this process
            self.registry.beat(self.name, self.started, held, len(outlets))
        except StoreError as exc:
            logger.error("heartbeat: %s", exc)
            return
        if self.metrics is not None:
            self.metrics.schedule_holder.labels(self.name).set(1 if held else 0)
            self.metrics.poll_queue.set(self.depth)

    def report(self) -> dict[str, Any]:
        """The processes sharing the work, as /healthz lists them (health server's threads)."""
        now = time.time()
        try:
            workers = self.workers()
        except StoreError as exc:
            return {"workers": None, "workers_error": str(exc)}
        if self.metrics is not None:
            self.metrics.workers.set(len(self.alive(workers, now)))
        return {
            "worker": self.name,
            "workers": [w.as_json(now) for w in workers],
            "schedule_holder": next((w.name for w in workers if w.holds_schedule), None),
        }

    def alive(self, workers: list[WorkerInfo], now: float) -> list[WorkerInfo]:
        """Those whose last heartbeat is within the lease: the others are dead or cut off."""
        limit = self.config.workers.lease.total_seconds()
        return [w for w in workers if now - w.heartbeat <= limit]

    # --- what others read ------------------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        return self.registry.workers()
