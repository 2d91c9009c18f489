"""The polls shared by every process on one Redis: a Dramatiq queue, read without Dramatiq's worker.

Why Dramatiq's Redis broker: a message taken by a consumer stays in that consumer's set of
unacknowledged messages until it is acknowledged, and the broker's maintenance puts the messages
of a consumer whose heartbeat is older than ``heartbeat_timeout`` back into the queue: the
visibility timeout a poll needs so that a process killed in the middle of one does not lose it.
scrapy-redis's queue pops for good (a request taken by a dying process is gone) and spreads
single requests, where a poll is a unit with state in its process; RQ runs each job in a fork or
blocks its worker; Celery brings a second scheduler; arq wants its own event loop. Here each
process keeps its one long-lived Scrapy engine and a thread takes messages (at most
``prefetch`` unacknowledged at a time: the polls this process runs at once) and hands them to it.

The broker's heartbeat is written by every command this process sends; the service's heartbeat
thread sends ``qsize`` (also the queue's depth for /metrics), so a process that is busy with all
the polls it may run is still seen alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from dramatiq import Message
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker

from newswatch.errors import StoreError

__all__ = ["PollFeeder", "PollQueue", "QueuedPoll"]

logger = logging.getLogger("newswatch.service")

QUEUE = "polls"
NAMESPACE = "newswatch:queue"
# Of a million broker commands, how many also run the maintenance that requeues the messages of
# dead consumers: 1 in 20 (Dramatiq's default is 1 in 1,000, for busy queues): with a few
# processes asking every second, a dead one's polls come back within a second of their timeout.
MAINTENANCE_CHANCE = 50_000
IDLE_MS = 1000  # an idle consumer asks for polls at least this often


class QueuedPoll:
    """One message of the queue: the outlet to poll, and when and by which lease it was queued."""

    def __init__(self, proxy: MessageProxy) -> None:
        self.proxy = proxy
        self.outlet = str(proxy.args[0])
        self.queued_at = float(proxy.kwargs.get("at", 0.0))
        self.token = int(proxy.kwargs.get("token", 0))

    @property
    def id(self) -> str:
        return str(self.proxy.message_id)


class PollQueue:
    def __init__(self, client: redis.Redis, requeue_after_ms: int) -> None:
        """``client``: a Redis client that returns bytes (the broker's scripts need them)."""
        self.broker = RedisBroker(
            client=client,
            namespace=NAMESPACE,
            heartbeat_timeout=requeue_after_ms,
            maintenance_chance=MAINTENANCE_CHANCE,
            middleware=[],
        )
        self.broker.declare_queue(QUEUE)

    def put(self, outlet: str, token: int) -> None:
        message: Message[Any] = Message(
            queue_name=QUEUE,
            actor_name="poll",
            args=(outlet,),
            kwargs={"token": token, "at": time.time()},
            options={},
        )
        try:
            self.broker.enqueue(message)
        except redis.RedisError as exc:
            raise StoreError(f"cannot queue a poll of {outlet}: {exc}") from None

    def depth(self) -> int:
        """Polls waiting (and in flight); also this process's heartbeat for the broker."""
        try:
            return int(self.broker.do_qsize(QUEUE))
        except redis.RedisError as exc:
            raise StoreError(f"poll queue: {exc}") from None


class PollFeeder(threading.Thread):
    """Takes polls while this process has room for them and hands each to ``hand_over``."""

    def __init__(
        self, queue: PollQueue, prefetch: int, hand_over: Callable[[QueuedPoll], None]
    ) -> None:
        super().__init__(name="poll-feeder", daemon=True)
        self.consumer = queue.broker.consume(QUEUE, prefetch=prefetch, timeout=IDLE_MS)
        self.hand_over = hand_over
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                proxy = next(self.consumer)
            except Exception as exc:  # Redis away: the polls wait in the queue meanwhile
                logger.error("cannot take polls from the queue: %s", exc)
                self._halt.wait(IDLE_MS / 1000)
                continue
            if proxy is not None:
                self.hand_over(QueuedPoll(proxy))

    def done(self, poll: QueuedPoll) -> None:
        """The poll ended (or was skipped): it leaves the queue for good."""
        try:
            self.consumer.ack(poll.proxy)
        except Exception as exc:  # it comes back after the timeout; the outlet lock holds
            logger.error("%s: could not acknowledge the poll: %s", poll.outlet, exc)

    def give_back(self, polls: list[QueuedPoll]) -> None:
        """Polls taken but not started (the service is stopping): another process does them."""
        try:
            self.consumer.requeue([poll.proxy for poll in polls])
        except Exception as exc:
            logger.error("could not give %d polls back to the queue: %s", len(polls), exc)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=IDLE_MS / 1000 * 3)
        # fetched in one round trip but not handed over yet: the Redis consumer keeps them here
        cache: list[bytes] = getattr(self.consumer, "message_cache", [])
        cached = [MessageProxy(Message.decode(data)) for data in cache if data is not None]
        cache.clear()
        if cached:
            self.give_back([QueuedPoll(proxy) for proxy in cached])
