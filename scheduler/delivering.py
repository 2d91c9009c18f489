"""The service's delivery runs: every few seconds in a pool thread, with a store connection of
their own, and a reloaded config handed over between two runs.

A reload must never wait for a delivery run (it may be waiting out a slow mail server), and a
run must never have its store closed under it: the new config's worker waits in ``_next`` and
takes over when the running one has finished.
"""

from __future__ import annotations

import logging
import threading

from newswatch.alerts.delivery import ChannelSender, DeliveryWorker
from newswatch.alerts.render import Renderer
from newswatch.config import Config
from newswatch.errors import NewswatchError
from newswatch.scheduler.health import Metrics
from newswatch.store import open_store

__all__ = ["DeliveryRuns"]

logger = logging.getLogger("newswatch.service")


class DeliveryRuns:
    def __init__(self, config: Config, consumer: str, metrics: Metrics) -> None:
        self.consumer = consumer
        self.metrics = metrics
        self.lock = threading.Lock()  # held by a delivery run, in a pool thread
        self._swap_lock = threading.Lock()  # held a moment: hands a reloaded worker over
        self._next: DeliveryWorker | None = None
        self.worker = self.make_worker(config)

    def make_worker(self, config: Config) -> DeliveryWorker:
        store = open_store(config.store, config.retention)
        sender = ChannelSender(config, Renderer.for_config(config))
        return DeliveryWorker(store, sender, self.consumer)

    @property
    def busy(self) -> bool:
        return self.lock.locked()

    def run(self) -> None:
        with self.lock:
            worker = self.current()
            try:
                report = worker.run_once()
            except NewswatchError as exc:
                logger.error("delivery run failed: %s", exc)
                return
            except Exception:
                logger.exception("delivery run failed")
                return
            for (channel, result), count in report.outcomes.items():
                self.metrics.deliveries.labels(channel, result).inc(count)
            for channel in worker.config.channels:
                self.metrics.pending.labels(channel).set(worker.store.pending_count(channel)[0])

    def hand_over(self, worker: DeliveryWorker) -> None:
        """A reloaded config's worker: it takes over when the running one finishes."""
        with self._swap_lock:
            replaced, self._next = self._next, worker
        if replaced is not None:  # two reloads within one delivery run
            replaced.store.close()

    def current(self) -> DeliveryWorker:
        """The worker of the newest config; called between delivery runs only, so the one it
        replaces is not in the middle of a send when its store is closed."""
        with self._swap_lock:
            new, self._next = self._next, None
        if new is not None:
            old, self.worker = self.worker, new
            old.store.close()
        return self.worker
