"""The production store: Redis, shared by every worker that points at it.

The outbox is one Redis Stream per channel with a consumer group: a consumer first re-reads its
own unacknowledged entries (it may have crashed between sending and acknowledging), then claims
entries other consumers left idle, then reads new ones. Retry schedules live in a hash beside
the stream; dead letters in a sorted set.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import redis

from newswatch.errors import StoreError
from newswatch.store import DeadLetter, OutboxEntry

__all__ = ["RedisStore"]

GROUP = "delivery"

# Claim, alert and outbox entries in one step: a crash between them would lose or duplicate.
# KEYS: claim, alert, recent, digest list, digest index, streams...
# ARGV: alert id, payload, ttl, digest member ("" = no digest), digest due
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  redis.call('LPUSH', KEYS[3], ARGV[1])
  redis.call('LTRIM', KEYS[3], 0, 99)
  if ARGV[4] ~= '' then
    redis.call('RPUSH', KEYS[4], ARGV[1])
    redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4])
  end
  for i = 6, #KEYS do redis.call('XADD', KEYS[i], '*', 'id', ARGV[1]) end
  return 1
end
return 0
"""

# KEYS: digest alert, digest list, digest index, streams...  ARGV: id, payload, ttl, member
_CLOSE_DIGEST = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  for i = 4, #KEYS do redis.call('XADD', KEYS[i], '*', 'id', ARGV[1]) end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[4])
return 1
"""


class RedisStore:
    def __init__(
        self, client: redis.Redis, retention: timedelta, prefix: str = "newswatch:"
    ) -> None:
        self.client = client
        self.ttl = max(1, int(retention.total_seconds()))
        self.prefix = prefix
        self._claim = client.register_script(_CLAIM)
        self._close_digest = client.register_script(_CLOSE_DIGEST)
        self._groups: set[str] = set()

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

    def seen_version(self, url: str) -> str | None:
        value: str | None = self._call(self.client.get, self._key("seen", url))
        return value

    def mark_seen(self, url: str, version: str = "") -> None:
        self._call(self.client.set, self._key("seen", url), version, ex=self.ttl)

    def is_claimed(self, watch: str, url: str) -> bool:
        return bool(self._call(self.client.exists, self._key("claim", watch, url)))

    def claim(
        self,
        watch: str,
        url: str,
        alert: dict[str, Any],
        channels: list[str],
        digest_due: float | None = None,
    ) -> bool:
        member = f"{watch}\x1f{digest_due:.0f}" if digest_due is not None else ""
        keys = [
            self._key("claim", watch, url),
            self._key("alert", alert["id"]),
            self._key("recent"),
            self._key("digest", member),
            self._key("digests"),
        ]
        if digest_due is None:
            keys += [self._stream(channel) for channel in channels]
        args = [
            alert["id"],
            json.dumps(alert, ensure_ascii=False),
            self.ttl,
            member,
            digest_due or 0,
        ]
        return bool(self._call(self._claim, keys=keys, args=args))

    # --- outbox ----------------------------------------------------------------------------------

    def take_due(
        self,
        channel: str,
        consumer: str,
        now: float,
        stale_after: float,
        ignore_schedule: bool = False,
    ) -> list[OutboxEntry]:
        stream = self._stream(channel)
        self._ensure_group(stream)
        raw: list[tuple[str, dict[str, str]]] = []
        mine = self._call(self.client.xreadgroup, GROUP, consumer, {stream: "0"}, count=1000)
        raw += mine[0][1] if mine else []
        claimed = self._call(
            self.client.xautoclaim,
            stream,
            GROUP,
            consumer,
            int(stale_after * 1000),
            "0-0",
            count=1000,
        )
        raw += claimed[1]
        new = self._call(self.client.xreadgroup, GROUP, consumer, {stream: ">"}, count=1000)
        raw += new[0][1] if new else []
        seen: set[str] = set()
        entries: list[tuple[str, str]] = []
        for handle, fields in raw:
            if fields and handle not in seen:  # an entry can be both ours and re-read
                seen.add(handle)
                entries.append((handle, fields["id"]))
        if not entries:
            return []
        ids = [alert_id for _, alert_id in entries]
        payloads = self._call(self.client.mget, [self._key("alert", i) for i in ids])
        schedules = self._call(self.client.hmget, self._key("retry", channel), ids)
        due = []
        for (handle, alert_id), payload, schedule in zip(entries, payloads, schedules, strict=True):
            if payload is None:  # expired past retention: nothing left to send
                self._drop(stream, channel, handle, alert_id)
                continue
            retry = json.loads(schedule) if schedule else {}
            if not ignore_schedule and retry.get("next_attempt", 0) > now:
                continue
            due.append(
                OutboxEntry(
                    id=alert_id,
                    channel=channel,
                    payload=json.loads(payload),
                    attempts=int(retry.get("attempts", 0)),
                    first_failure=retry.get("first_failure"),
                    handle=handle,
                )
            )
        return due

    def ack(self, entry: OutboxEntry) -> None:
        self._drop(self._stream(entry.channel), entry.channel, entry.handle, entry.id)

    def retry_later(self, entry: OutboxEntry, at: float, error: str, now: float) -> None:
        schedule = {
            "attempts": entry.attempts + 1,
            "first_failure": entry.first_failure or now,
            "next_attempt": at,
            "last_error": error,
        }
        self._call(
            self.client.hset, self._key("retry", entry.channel), entry.id, json.dumps(schedule)
        )

    def dead_letter(self, entry: OutboxEntry, error: str, now: float) -> None:
        info = {"error": error, "attempts": entry.attempts + 1, "at": now}
        pipe = self.client.pipeline()
        pipe.zadd(self._key("dead", entry.channel), {entry.id: now})
        pipe.hset(self._key("deadinfo", entry.channel), entry.id, json.dumps(info))
        pipe.expire(self._key("alert", entry.id), self.ttl)
        self._call(pipe.execute)
        self.ack(entry)

    def dead_letters(self, channel: str, limit: int = 20) -> list[DeadLetter]:
        ids: list[str] = self._call(self.client.zrevrange, self._key("dead", channel), 0, limit - 1)
        if not ids:
            return []
        infos = self._call(self.client.hmget, self._key("deadinfo", channel), ids)
        payloads = self._call(self.client.mget, [self._key("alert", i) for i in ids])
        letters = []
        for alert_id, info, payload in zip(ids, infos, payloads, strict=True):
            data = json.loads(info) if info else {}
            letters.append(
                DeadLetter(
                    id=alert_id,
                    channel=channel,
                    error=str(data.get("error", "")),
                    attempts=int(data.get("attempts", 0)),
                    at=float(data.get("at", 0)),
                    payload=json.loads(payload) if payload else None,
                )
            )
        return letters

    def pending_count(self, channel: str) -> tuple[int, int]:
        pipe = self.client.pipeline()
        pipe.xlen(self._stream(channel))
        pipe.hlen(self._key("retry", channel))
        pending, failing = self._call(pipe.execute)
        return int(pending), int(failing)

    # --- digests ---------------------------------------------------------------------------------

    def due_digests(self, now: float) -> list[tuple[str, float]]:
        members: list[str] = self._call(
            self.client.zrangebyscore, self._key("digests"), "-inf", now
        )
        found = []
        for member in members:
            watch, _, due = member.rpartition("\x1f")
            found.append((watch, float(due)))
        return found

    def digest_alerts(self, watch: str, due: float) -> list[dict[str, Any]]:
        ids: list[str] = self._call(
            self.client.lrange, self._key("digest", f"{watch}\x1f{due:.0f}"), 0, -1
        )
        if not ids:
            return []
        payloads = self._call(self.client.mget, [self._key("alert", i) for i in ids])
        return [json.loads(p) for p in payloads if p is not None]

    def close_digest(
        self, watch: str, due: float, digest: dict[str, Any], channels: list[str]
    ) -> None:
        member = f"{watch}\x1f{due:.0f}"
        keys = [
            self._key("alert", digest["id"]),
            self._key("digest", member),
            self._key("digests"),
            *(self._stream(channel) for channel in channels),
        ]
        args = [digest["id"], json.dumps(digest, ensure_ascii=False), self.ttl, member]
        self._call(self._close_digest, keys=keys, args=args)

    def _stream(self, channel: str) -> str:
        return self._key("outbox", channel)

    def _ensure_group(self, stream: str) -> None:
        if stream in self._groups:
            return
        try:
            self.client.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StoreError(f"Redis store failed: {exc}") from None
        except redis.RedisError as exc:
            raise StoreError(f"Redis store failed: {exc}") from None
        self._groups.add(stream)

    def _drop(self, stream: str, channel: str, handle: str, alert_id: str) -> None:
        pipe = self.client.pipeline()
        pipe.xack(stream, GROUP, handle)
        pipe.xdel(stream, handle)
        pipe.hdel(self._key("retry", channel), alert_id)
        self._call(pipe.execute)

    def fingerprints(self, scope: str) -> list[str]:
        key = self._key("fp", scope)
        pipe = self.client.pipeline()
        pipe.zremrangebyscore(key, "-inf", time.time())  # members scored by their expiry
        pipe.zrange(key, 0, -1)
        return [str(member) for member in self._call(pipe.execute)[1]]

    def remember_fingerprint(self, scope: str, fingerprint: str) -> None:
        key = self._key("fp", scope)
        pipe = self.client.pipeline()
        pipe.zadd(key, {fingerprint: time.time() + self.ttl})
        pipe.expire(key, self.ttl)
        self._call(pipe.execute)

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
