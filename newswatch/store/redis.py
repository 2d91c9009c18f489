"""The production store: Redis, shared by every worker that points at it."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import redis

from newswatch.errors import StoreError
from newswatch.store import PendingAlert

__all__ = ["RedisStore"]

# Claim, alert and pending entries in one step: a crash between them would lose or duplicate.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  for i = 4, #KEYS do redis.call('ZADD', KEYS[i], 'NX', ARGV[4], ARGV[1]) end
  redis.call('LPUSH', KEYS[3], ARGV[1])
  redis.call('LTRIM', KEYS[3], 0, 99)
  return 1
end
return 0
"""


class RedisStore:
    def __init__(
        self, client: redis.Redis, retention: timedelta, prefix: str = "newswatch:"
    ) -> None:
        self.client = client
        self.ttl = max(1, int(retention.total_seconds()))
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM)

    @classmethod
    def from_url(cls, url: str, retention: timedelta) -> RedisStore:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)
        store = cls(client, retention)
        store.ping()
        return store

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach the Redis store: {exc}") from None

    def is_seen(self, url: str) -> bool:
        return self.seen_version(url) is not None

    def seen_version(self, url: str) -> str | None:
        value: str | None = self._call(self.client.get, self._key("seen", url))
        return value

    def mark_seen(self, url: str, version: str = "") -> None:
        self._call(self.client.set, self._key("seen", url), version, ex=self.ttl)

    def is_claimed(self, watch: str, url: str) -> bool:
        return bool(self._call(self.client.exists, self._key("claim", watch, url)))

    def claim(self, watch: str, url: str, alert: dict[str, Any], channels: list[str]) -> bool:
        keys = [
            self._key("claim", watch, url),
            self._key("alert", alert["id"]),
            self._key("recent"),
            *(self._key("pending", channel) for channel in channels),
        ]
        args = [alert["id"], json.dumps(alert, ensure_ascii=False), self.ttl, time.time()]
        return bool(self._call(self._claim, keys=keys, args=args))

    def pending(self, channel: str) -> list[PendingAlert]:
        ids: list[str] = self._call(self.client.zrange, self._key("pending", channel), 0, -1)
        if not ids:
            return []
        payloads = self._call(self.client.mget, [self._key("alert", i) for i in ids])
        attempts = self._call(self.client.hmget, self._key("attempts", channel), ids)
        found = []
        for alert_id, payload, tries in zip(ids, payloads, attempts, strict=True):
            if payload is None:  # expired past retention: nothing left to send
                self._call(self.client.zrem, self._key("pending", channel), alert_id)
                continue
            found.append(PendingAlert(alert_id, channel, json.loads(payload), int(tries or 0)))
        return found

    def delivered(self, alert_id: str, channel: str) -> None:
        pipe = self.client.pipeline()
        pipe.zrem(self._key("pending", channel), alert_id)
        pipe.hdel(self._key("attempts", channel), alert_id)
        self._call(pipe.execute)

    def failed(self, alert_id: str, channel: str, error: str) -> None:
        self._call(self.client.hincrby, self._key("attempts", channel), alert_id, 1)

    def fingerprints(self, scope: str) -> list[int]:
        key = self._key("fp", scope)
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(key, "-inf", time.time())  # members scored by their expiry
        pipe.zrange(key, 0, -1)
        return [int(member) for member in self._call(pipe.execute)[1]]

    def remember_fingerprint(self, scope: str, fingerprint: int) -> None:
        key = self._key("fp", scope)
        pipe = self.client.pipeline()
        pipe.zadd(key, {str(fingerprint): time.time() + self.ttl})
        pipe.expire(key, self.ttl)
        self._call(pipe.execute)

    def pending_count(self, channel: str) -> tuple[int, int]:
        pipe = self.client.pipeline()
        pipe.zcard(self._key("pending", channel))
        pipe.hlen(self._key("attempts", channel))
        pending, failing = self._call(pipe.execute)
        return int(pending), int(failing)

    def recent_alerts(self, limit: int = 20) -> list[dict[str, Any]]:
        ids: list[str] = self._call(self.client.lrange, self._key("recent"), 0, limit - 1)
        if not ids:
            return []
        payloads = self._call(self.client.mget, [self._key("alert", i) for i in ids])
        return [json.loads(p) for p in payloads if p is not None]

    def outlet_status(self, outlet: str) -> dict[str, Any] | None:
        value = self._call(self.client.get, self._key("outlet", outlet))
        return json.loads(value) if value else None

    def save_outlet_status(self, outlet: str, status: dict[str, Any]) -> None:
        self._call(self.client.set, self._key("outlet", outlet), json.dumps(status))

    def validators(self, resource: str) -> tuple[str | None, str | None]:
        etag, modified = self._call(
            self.client.hmget, self._key("http", resource), ["etag", "modified"]
        )
        return etag or None, modified or None

    def save_validators(self, resource: str, etag: str | None, last_modified: str | None) -> None:
        key = self._key("http", resource)
        pipe = self.client.pipeline()
        pipe.delete(key)
        if etag or last_modified:
            pipe.hset(key, mapping={"etag": etag or "", "modified": last_modified or ""})
            pipe.expire(key, self.ttl)
        self._call(pipe.execute)

    def close(self) -> None:
        self.client.close()

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise StoreError(f"Redis store failed: {exc}") from None
