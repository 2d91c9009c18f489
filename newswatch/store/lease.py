"""Who issues the outlets' ticks when several processes share one Redis: a lease with a token.

Exactly one process may tick, or every outlet is polled once per process. The lease is one key
set with ``SET NX PX``: its holder renews it well within its time-to-live, and when the holder
dies the key lapses and another process takes it within ``ttl``. Each taking of the lease draws a
new fencing token from a counter, kept in the key's value; the holder's writes that matter (the
queueing of a poll) go through a script that compares the value first, so a holder that was
paused past its lease (a stopped VM, a long GC) and has not noticed yet can no longer tick.

A lease held by a process of this host that no longer exists (kill -9, then a restart) is taken
over at once rather than after ``ttl``: ``newswatch.store.consumers.is_abandoned`` tells.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import redis

from newswatch.errors import StoreError
from newswatch.store.consumers import is_abandoned

__all__ = ["Lease", "LeaseHolder"]

# KEYS: lease, fence counter  ARGV: holder name, ttl ms, expected value ("" = only if free).
# The value is "<name> <token>"; returns the new token, or 0 when the lease is someone else's.
_TAKE = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[3] then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token
"""

# KEYS: lease  ARGV: value, ttl ms.  1 = renewed; 0 = the lease is no longer ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lease  ARGV: value.  Give the lease up on a clean stop: the next holder need not wait.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class LeaseHolder:
    name: str
    token: int


class Lease:
    def __init__(self, client: redis.Redis, key: str, name: str, ttl_ms: int) -> None:
        self.client = client
        self.key = key
        self.fence_key = f"{key}:fence"
        self.name = name
        self.ttl_ms = ttl_ms
        self.token = 0  # ours while held, else 0
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    @property
    def value(self) -> str:
        return f"{self.name} {self.token}"

    @property
    def held(self) -> bool:
        return self.token > 0

    def keep(self) -> bool:
        """Renew the lease if held, else try to take it: True while this process holds it.

        Called every third of the lease's time; a renewal that finds the lease gone (it lapsed
        while this process was paused) gives it up here, and the caller stops ticking."""
        try:
            if self.held:
                if self._renew(keys=[self.key], args=[self.value, self.ttl_ms]):
                    return True
                self.token = 0
                return False
            expected = ""
            holder = self.holder()
            if holder is not None and is_abandoned(holder.name):
                expected = f"{holder.name} {holder.token}"
            self.token = int(
                self._take(keys=[self.key, self.fence_key], args=[self.name, self.ttl_ms, expected])
            )
            return self.held
        except redis.RedisError as exc:
            raise StoreError(f"schedule lease: {exc}") from None

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(redis.RedisError):  # it lapses within ttl anyway
                self._release(keys=[self.key], args=[self.value])
            self.token = 0

    def holder(self) -> LeaseHolder | None:
        value = self.client.get(self.key)
        if not value:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        name, _, token = text.rpartition(" ")
        return LeaseHolder(name, int(token)) if token.isdigit() else None
