"""What several ``newswatch run`` processes on one Redis tell each other: who is there, which
outlet each is polling, which ticks are already queued.

- The registry: one hash per process (its name, last heartbeat, polls done, whether it holds the
  schedule), expiring some heartbeats after the last one, so ``status`` and ``/healthz`` show a
  process that died for a while (its heartbeat getting old) and then forget it.
- Outlet locks: a poll runs only under its outlet's lock (``SET NX PX``, renewed with the
  heartbeat), so an outlet is never polled by two processes at once, even when the queue hands
  out a poll twice (a redelivery after a process was thought dead).
- Tick markers: a tick is queued only if none of the outlet's is waiting yet, and only by the
  holder of the schedule's lease (checked in the same script: the fencing), so a backed-up queue
  does not grow by one poll per outlet per interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from newswatch.errors import StoreError

__all__ = ["OutletLocks", "TickMarks", "WorkerInfo", "WorkerRegistry"]

PREFIX = "newswatch:"
FORGET_AFTER = 600.0  # seconds a silent process stays listed by `status` and /healthz

# KEYS: lease, marker  ARGV: our lease value, marker ttl s.  -1 = not the holder; 0 = queued already.
_MARK_TICK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""

# A lock's value is "<owner> <poll id>": which process polls the outlet, and which queued poll.
# KEYS: locks...  ARGV: owner, ttl ms.  Renews those still ours; returns how many.
_RENEW_LOCKS = """
local n = 0
local mine = ARGV[1] .. ' '
for i = 1, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value and string.sub(value, 1, #mine) == mine then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
    n = n + 1
  end
end
return n
"""

# KEYS: lock  ARGV: owner
_UNLOCK = """
local value = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. ' '
if value and string.sub(value, 1, #mine) == mine then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    heartbeat: float  # epoch seconds
    started: float
    polls: int
    holds_schedule: bool
    polling: int  # polls in flight at the last heartbeat

    def as_json(self, now: float) -> dict[str, object]:
        return {
            "name": self.name,
            "last_heartbeat_s_ago": round(max(0.0, now - self.heartbeat), 1),
            "polls": self.polls,
            "polling": self.polling,
            "holds_schedule": self.holds_schedule,
        }


class WorkerRegistry:
    def __init__(
        self,
        client: redis.Redis,
        forget_after: float,
        silent_after: float = 60.0,
        prefix: str = PREFIX,
    ) -> None:
        """``silent_after``: seconds without a heartbeat after which this process's outbox leases
        go to the others (the store's ``take_due`` reads it from the process's hash)."""
        self.client = client
        self.forget_after = max(1, int(forget_after))
        self.silent_after = silent_after
        self.index = f"{prefix}workers"
        self.prefix = f"{prefix}worker:"

    @classmethod
    def for_url(cls, url: str) -> WorkerRegistry:
        """For reading (``newswatch status``): how long a silent process stays listed does not
        matter there."""
        return cls(redis.Redis.from_url(url, socket_timeout=30), FORGET_AFTER)

    def beat(self, name: str, started: float, holds_schedule: bool, polling: int) -> None:
        key = self.prefix + name
        pipe = self.client.pipeline()
        pipe.hset(
            key,
            mapping={
                "heartbeat": time.time(),
                "started": started,
                "holds": int(holds_schedule),
                "polling": polling,
                "silent_after": self.silent_after,
            },
        )
        pipe.hsetnx(key, "polls", 0)
        pipe.expire(key, self.forget_after)
        pipe.zadd(self.index, {name: time.time()})
        pipe.zremrangebyscore(self.index, "-inf", time.time() - self.forget_after)
        _run(pipe.execute)

    def count_poll(self, name: str) -> None:
        _run(self.client.hincrby, self.prefix + name, "polls", 1)

    def forget(self, name: str) -> None:
        """A clean stop: the process is gone, not silent."""
        _run(self.client.delete, self.prefix + name)
        _run(self.client.zrem, self.index, name)

    def workers(self) -> list[WorkerInfo]:
        """Every process heard from within ``forget_after``, by name."""
        names = sorted(_text(n) for n in _run(self.client.zrange, self.index, 0, -1))
        pipe = self.client.pipeline()
        for name in names:
            pipe.hgetall(self.prefix + name)
        found = []
        for name, raw in zip(names, _run(pipe.execute), strict=True):
            fields = {_text(k): _text(v) for k, v in raw.items()}
            if "heartbeat" not in fields:
                continue
            found.append(
                WorkerInfo(
                    name=name,
                    heartbeat=float(fields["heartbeat"]),
                    started=float(fields.get("started", 0)),
                    polls=int(fields.get("polls", 0)),
                    holds_schedule=fields.get("holds") == "1",
                    polling=int(fields.get("polling", 0)),
                )
            )
        return found


class OutletLocks:
    def __init__(self, client: redis.Redis, owner: str, ttl_ms: int, prefix: str = PREFIX) -> None:
        self.client = client
        self.owner = owner
        self.ttl_ms = ttl_ms
        self.prefix = f"{prefix}polling:"
        self._renew = client.register_script(_RENEW_LOCKS)
        self._unlock = client.register_script(_UNLOCK)

    def take(self, outlet: str, poll: str) -> bool:
        value = f"{self.owner} {poll}"
        return bool(_run(self.client.set, self.prefix + outlet, value, nx=True, px=self.ttl_ms))

    def renew(self, outlets: Sequence[str]) -> int:
        if not outlets:
            return 0
        keys = [self.prefix + o for o in outlets]
        return int(_run(self._renew, keys=keys, args=[self.owner, self.ttl_ms]))

    def release(self, outlet: str) -> None:
        _run(self._unlock, keys=[self.prefix + outlet], args=[self.owner])

    def holder(self, outlet: str) -> tuple[str, str] | None:
        """(process, poll id) polling the outlet now, if any."""
        value = _run(self.client.get, self.prefix + outlet)
        if not value:
            return None
        owner, _, poll = _text(value).rpartition(" ")
        return owner, poll


class TickMarks:
    def __init__(self, client: redis.Redis, lease_key: str, prefix: str = PREFIX) -> None:
        self.client = client
        self.lease_key = lease_key
        self.prefix = f"{prefix}queued:"
        self._mark = client.register_script(_MARK_TICK)

    def mark(self, outlet: str, lease_value: str, ttl: float) -> int:
        """1: queue the poll; 0: one is queued already; -1: this process no longer holds the
        schedule."""
        keys = [self.lease_key, self.prefix + outlet]
        return int(_run(self._mark, keys=keys, args=[lease_value, max(1, int(ttl))]))

    def taken(self, outlet: str) -> None:
        """A process took the outlet's queued poll: the next tick may queue another."""
        _run(self.client.delete, self.prefix + outlet)


def _run(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return method(*args, **kwargs)
    except redis.RedisError as exc:
        raise StoreError(f"Redis store failed: {exc}") from None
