"""The production store: Redis, shared by every worker that points at it.

The outbox is one Redis Stream per channel with a consumer group: a consumer first re-reads its
own unacknowledged entries, then claims those a dead process of this host held and those other
consumers left idle, then reads new ones. Retry schedules live in a hash beside
the stream; dead letters in a sorted set.

Remembered articles are the largest state (10,000 outlets x 100 articles a day x 30 days), so they
are kept compact: one small hash per node of a binary trie per outlet, each field an article's
8-byte URL digest (``newswatch.store.seen``), each value 11 bytes (when it was seen, in ms of the
Redis clock, and its version code). Redis packs a hash of at most ``hash-max-listpack-entries``
(128 in the redis.conf Redis ships, 512 built in) small fields into one listpack: 26-29 bytes an
article, against 190-210 for a string key per canonical URL with a TTL (``bench/store_memory.py``,
bench/README.md). A hash that outgrows the limit becomes a hash table for good (~64 bytes a
field). A trie keeps every hash under the limit whatever an outlet publishes: a full node becomes
a marker (an empty string) and its articles move to two child hashes by the next bit of their
digest, so a lookup walks a few markers down to the one hash that can hold the article. Splitting
is local (one node's articles move, inside the write's script), where buckets fixed in advance
would spread a small outlet's few articles over many keys of ~100 bytes of overhead each, and push
a big outlet's buckets over the limit.

Fields cannot expire on their own before Redis 7.4 (HEXPIRE), so age is in the value: a lookup
ignores an entry older than retention, and writes sweep such entries out of their node (when it is
full, so a node never splits over forgotten articles, and on a sample of writes). Every write sets
the node it lands in, and the markers on its way, to expire ``retention`` after it: a node with no
write for that long holds only forgotten articles and goes whole, and markers, touched by every
write below them, outlive their children. Both scripts are atomic, so concurrent writers cannot
lose a split. Keys below an outlet's root are derived inside the scripts: fine on one Redis, as
deployed; Redis Cluster would need a hash tag on the outlet. The claim script touches no seen key:
claims stay one ``SET NX`` per (watch, URL), atomic with the alert and its outbox entries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from newswatch.errors import StoreError
from newswatch.store import (
    POLL_HISTORY,
    POLL_HISTORY_LIMIT,
    DeadLetter,
    OpenDigest,
    OutboxEntry,
    PendingEntry,
)
from newswatch.store.consumers import is_abandoned
from newswatch.store.seen import decode_version, encode_version, url_digest

__all__ = ["RedisStore"]

GROUP = "delivery"
LISTPACK_ENTRIES = 128  # Redis's default hash-max-listpack-entries
# A write sweeps its node of articles past retention when the node is full, and else one write in
# SWEEP_ONE_IN (picked by the digest's last byte). Sweeping reads the whole node: sweeping on every
# write cost ~60 us of Redis per write, one in eight ~25 us (commandstats, 100-odd articles a node).
# The price is memory: a node of a typical outlet (3,000 articles over ~40 nodes, a write to each
# every ~10 hours) keeps a forgotten article some 8 writes longer, ~3 days against 30 remembered.
SWEEP_ONE_IN = 8

# Claim, alert and outbox entries in one step: a crash between them would lose or duplicate.
# The alert index (a sorted set of alert ids by when they were stored, trimmed to retention) is
# what ``alerts_since`` reads: ``recent`` keeps only the newest 100.
# KEYS: claim, alert, recent, digest list, digest index, alert index, streams...
# ARGV: alert id, payload, ttl, digest member ("" = no digest), digest due, now
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
  redis.call('LPUSH', KEYS[3], ARGV[1])
  redis.call('LTRIM', KEYS[3], 0, 99)
  if ARGV[4] ~= '' then
    redis.call('RPUSH', KEYS[4], ARGV[1])
    redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4])
  end
  redis.call('ZADD', KEYS[6], ARGV[6], ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', tonumber(ARGV[6]) - tonumber(ARGV[3]))
  for i = 7, #KEYS do redis.call('XADD', KEYS[i], '*', 'id', ARGV[1]) end
  return 1
end
return 0
"""

# KEYS: digest alert, digest list, digest index, alert index, streams...
# ARGV: id, payload, ttl, member, now
_CLOSE_DIGEST = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
  for i = 5, #KEYS do redis.call('XADD', KEYS[i], '*', 'id', ARGV[1]) end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[4])
return 1
"""

# Put an alert back into a channel's outbox as new; an entry already in the stream is only reset.
# A dead letter of an email that some recipients got keeps to the others (its ``recipients``).
# KEYS: alert, stream, retry hash, dead set, dead info  ARGV: id, ttl.  0 = the payload has expired.
_REQUEUE = """
if redis.call('EXPIRE', KEYS[1], ARGV[2]) == 0 then return 0 end
local info = redis.call('HGET', KEYS[5], ARGV[1])
local recipients = info and cjson.decode(info)['recipients']
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
if type(recipients) == 'table' and #recipients > 0 then
  redis.call('HSET', KEYS[3], ARGV[1], cjson.encode({attempts = 0, recipients = recipients}))
else
  redis.call('HDEL', KEYS[3], ARGV[1])
end
for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'id' and fields[i + 1] == ARGV[1] then return 1 end
  end
end
redis.call('XADD', KEYS[2], '*', 'id', ARGV[1])
return 1
"""

# Forget a consumer of the group only when it holds nothing (XGROUP DELCONSUMER would drop what
# it holds): atomic, so a consumer cannot take an entry between the check and the deletion.
# KEYS: stream  ARGV: group, consumer
_FORGET_CONSUMER = """
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""

# Shared by both scripts below. A value is (seen at: ms of the Redis clock, 6 bytes; version code,
# 5 bytes), big-endian; a node's key is the outlet's root followed by the digest bits above it.
_SEEN_COMMON = """
local function bit_at(digest, depth)
  local byte = string.byte(digest, math.floor(depth / 8) + 1)
  return math.floor(byte / 2 ^ (7 - depth % 8)) % 2
end
local function now_ms()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
"""

# KEYS: the outlet's root, the URL's key in the layout before this one (a string with a TTL: read
# so that an upgrade does not fetch every article in the feeds again; useless one retention later)
# ARGV: digest, retention in ms.  Returns the version code, or the old key's text, or nil.
_SEEN_VERSION = (
    _SEEN_COMMON
    + """
local digest, retention = ARGV[1], tonumber(ARGV[2])
local path = ''
for depth = 0, 8 * #digest do
  local node = KEYS[1] .. path
  local kind = redis.call('TYPE', node)['ok']
  if kind == 'hash' then
    local value = redis.call('HGET', node, digest)
    if value then
      local seen, version = struct.unpack('>I6I5', value)
      if now_ms() - seen < retention then return version end
    end
    break
  end
  if kind ~= 'string' or depth == 8 * #digest then break end
  path = path .. bit_at(digest, depth)
end
return redis.call('GET', KEYS[2])
"""
)

# KEYS: the outlet's root
# ARGV: digest, version code, retention in ms, articles per node, sweep one write in n
_MARK_SEEN = (
    _SEEN_COMMON
    + """
local digest, retention, limit = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local sweep_one_in = tonumber(ARGV[5])
local now = now_ms()
local value = struct.pack('>I6I5', now, tonumber(ARGV[2]))
local path = ''
for depth = 0, 8 * #digest do
  local node = KEYS[1] .. path
  local kind = redis.call('TYPE', node)['ok']
  if kind == 'hash' and (redis.call('HLEN', node) >= limit
      or string.byte(digest, #digest) % sweep_one_in == 0) then
    local entries, live, stale = redis.call('HGETALL', node), {}, {}
    for i = 1, #entries, 2 do
      if now - struct.unpack('>I6', entries[i + 1]) >= retention then
        stale[#stale + 1] = entries[i]
      else
        live[#live + 1] = entries[i]
        live[#live + 1] = entries[i + 1]
      end
    end
    if #stale > 0 then redis.call('HDEL', node, unpack(stale)) end
    if #live / 2 >= limit and depth < 8 * #digest
        and redis.call('HEXISTS', node, digest) == 0 then
      -- full: the node becomes a marker, its articles go one bit deeper
      local halves = {{}, {}}
      for i = 1, #live, 2 do
        local half = halves[bit_at(live[i], depth) + 1]
        half[#half + 1] = live[i]
        half[#half + 1] = live[i + 1]
      end
      redis.call('DEL', node)
      redis.call('SET', node, '')
      for bit = 0, 1 do
        if #halves[bit + 1] > 0 then
          redis.call('HSET', node .. bit, unpack(halves[bit + 1]))
          redis.call('PEXPIRE', node .. bit, retention)
        end
      end
      kind = 'string'
    end
  end
  if kind ~= 'string' then
    redis.call('HSET', node, digest, value)
    redis.call('PEXPIRE', node, retention)
    return 1
  end
  redis.call('PEXPIRE', node, retention)
  path = path .. bit_at(digest, depth)
end
return 0
"""
)


class RedisStore:
    def __init__(
        self,
        client: redis.Redis,
        retention: timedelta,
        prefix: str = "newswatch:",
        node_articles: int = LISTPACK_ENTRIES,
    ) -> None:
        """``node_articles``: how many articles a node of an outlet's trie holds before it splits;
        no more than the server's ``hash-max-listpack-entries`` (see ``from_url``)."""
        self.client = client
        self.ttl = max(1, int(retention.total_seconds()))
        self.retention_ms = max(1, int(retention.total_seconds() * 1000))
        self.prefix = prefix
        self.node_articles = node_articles
        self._claim = client.register_script(_CLAIM)
        self._close_digest = client.register_script(_CLOSE_DIGEST)
        self._requeue = client.register_script(_REQUEUE)
        self._forget_consumer = client.register_script(_FORGET_CONSUMER)
        self._seen_version = client.register_script(_SEEN_VERSION)
        self._mark_seen = client.register_script(_MARK_SEEN)
        self._groups: set[str] = set()

    @classmethod
    def from_url(cls, url: str, retention: timedelta) -> RedisStore:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)
        store = cls(client, retention)
        store.ping()
        store.node_articles = _listpack_entries(client)
        return store

    def ping(self) -> None:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreError(f"cannot reach the Redis store: {exc}") from None

    def seen_version(self, outlet: str, url: str) -> str | None:
        return _decoded_seen(
            self._call(
                self._seen_version,
                keys=[self._seen_root(outlet), self._key("seen", url)],
                args=[url_digest(url), self.retention_ms],
            )
        )

    def seen_versions(self, outlet: str, urls: Sequence[str]) -> list[str | None]:
        if not urls:
            return []
        pipe = self.client.pipeline(transaction=False)
        for url in urls:
            self._seen_version(
                keys=[self._seen_root(outlet), self._key("seen", url)],
                args=[url_digest(url), self.retention_ms],
                client=pipe,
            )
        return [_decoded_seen(found) for found in self._call(pipe.execute)]

    def mark_seen(self, outlet: str, url: str, version: str = "") -> None:
        self.mark_all_seen([(outlet, url, version)])

    def mark_all_seen(self, marks: Sequence[tuple[str, str, str]]) -> None:
        if not marks:
            return
        codes = [encode_version(version) for _, _, version in marks]  # ValueError before writing
        pipe = self.client.pipeline(transaction=False)
        for (outlet, url, _), code in zip(marks, codes, strict=True):
            self._mark_seen(
                keys=[self._seen_root(outlet)],
                args=[url_digest(url), code, self.retention_ms, self.node_articles, SWEEP_ONE_IN],
                client=pipe,
            )
        self._call(pipe.execute)

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
            self._key("alerts"),
        ]
        if digest_due is None:
            keys += [self._stream(channel) for channel in channels]
        args = [
            alert["id"],
            json.dumps(alert, ensure_ascii=False),
            self.ttl,
            member,
            digest_due or 0,
            time.time(),
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
        self._take_over_abandoned(stream, consumer, stale_after)
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
                    recipients=tuple(retry.get("recipients", ())),
                )
            )
        return due

    def _take_over_abandoned(self, stream: str, consumer: str, stale_after: float) -> None:
        """Lease to ``consumer`` what dead processes of this host held, and forget consumers that
        hold nothing: every ``run --once`` is a consumer of its own, and the group's list of them
        would otherwise grow by one a run."""
        for info in self._call(self.client.xinfo_consumers, stream, GROUP):
            name = str(info["name"])
            if name == consumer:
                continue
            abandoned = is_abandoned(name) or self._silent_worker(name)
            if abandoned and info["pending"]:
                held = self._call(
                    self.client.xpending_range, stream, GROUP, "-", "+", info["pending"], name
                )
                ids = [item["message_id"] for item in held]
                if ids:
                    self._call(self.client.xclaim, stream, GROUP, consumer, 0, ids, justid=True)
            if abandoned or info["idle"] > stale_after * 1000:
                self._call(self._forget_consumer, keys=[stream], args=[GROUP, name])

    def _silent_worker(self, name: str) -> bool:
        """A ``newswatch run`` (of any host) whose heartbeat in the list of processes
        (``newswatch.store.workers``) stopped longer ago than it said it would: its leases need
        not wait ``stale_after``. A process that is not listed is judged by the other rules."""
        beat, silent_after = self._call(
            self.client.hmget, self._key("worker", name), ["heartbeat", "silent_after"]
        )
        return bool(beat and silent_after) and time.time() - float(beat) > float(silent_after)

    def ack(self, entry: OutboxEntry) -> None:
        self._drop(self._stream(entry.channel), entry.channel, entry.handle, entry.id)

    def retry_later(self, entry: OutboxEntry, at: float, error: str, now: float) -> None:
        schedule = {
            "attempts": entry.attempts + 1,
            "first_failure": entry.first_failure or now,
            "next_attempt": at,
            "last_error": error,
            "recipients": list(entry.recipients),
        }
        self._call(
            self.client.hset, self._key("retry", entry.channel), entry.id, json.dumps(schedule)
        )

    def dead_letter(self, entry: OutboxEntry, error: str, now: float) -> None:
        info = {
            "error": error,
            "attempts": entry.attempts + 1,
            "at": now,
            "recipients": list(entry.recipients),
        }
        pipe = self.client.pipeline()
        pipe.zadd(self._key("dead", entry.channel), {entry.id: now})
        pipe.hset(self._key("deadinfo", entry.channel), entry.id, json.dumps(info))
        pipe.expire(self._key("alert", entry.id), self.ttl)
        self._call(pipe.execute)
        self.ack(entry)

    def dead_letters(self, channel: str, limit: int | None = 20) -> list[DeadLetter]:
        last = -1 if limit is None else limit - 1
        ids: list[str] = self._call(self.client.zrevrange, self._key("dead", channel), 0, last)
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

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        payload = self._call(self.client.get, self._key("alert", alert_id))
        return json.loads(payload) if payload else None

    def alerts_since(self, since: float, limit: int) -> list[dict[str, Any]]:
        scored: list[tuple[str, float]] = self._call(
            self.client.zrevrangebyscore,
            self._key("alerts"),
            "+inf",
            since,
            start=0,
            num=limit,
            withscores=True,
        )
        stored = dict(scored)
        # Alerts stored before the index existed are only in ``recent`` (the newest 100): listed
        # by their detection time until newer alerts push them out.
        older: list[str] = self._call(self.client.lrange, self._key("recent"), 0, -1)
        ids = list(stored) + [i for i in dict.fromkeys(older) if i not in stored]
        if not ids:
            return []
        payloads = self._call(self.client.mget, [self._key("alert", i) for i in ids])
        found = []
        for alert_id, payload in zip(ids, payloads, strict=True):
            if payload is None:
                continue
            alert = json.loads(payload)
            when = stored.get(alert_id, _detected_at(alert))
            if when >= since:
                found.append((when, alert))
        found.sort(key=lambda pair: pair[0], reverse=True)
        return [alert for _, alert in found[:limit]]

    def pending_entries(self, channel: str) -> list[PendingEntry]:
        pipe = self.client.pipeline()
        pipe.xrange(self._stream(channel))
        pipe.hgetall(self._key("retry", channel))
        raw, schedules = self._call(pipe.execute)
        entries, seen = [], set()
        for _, fields in raw:
            alert_id = fields.get("id")
            if alert_id is None or alert_id in seen:
                continue
            seen.add(alert_id)
            retry = json.loads(schedules[alert_id]) if alert_id in schedules else {}
            entries.append(
                PendingEntry(
                    id=alert_id,
                    channel=channel,
                    attempts=int(retry.get("attempts", 0)),
                    next_attempt=retry.get("next_attempt"),
                    last_error=retry.get("last_error"),
                )
            )
        return entries

    def outbox_channels(self) -> list[str]:
        found: set[str] = set()
        for kind, size in (("outbox", self.client.xlen), ("dead", self.client.zcard)):
            prefix = self._key(kind, "")
            keys = self._call(
                lambda p=prefix: list(self.client.scan_iter(match=p + "*", count=1000))
            )
            for key in keys:
                if self._call(size, key):  # an emptied stream stays behind with its group
                    found.add(key.removeprefix(prefix))
        return sorted(found)

    def requeue(self, alert_id: str, channel: str) -> bool:
        keys = [
            self._key("alert", alert_id),
            self._stream(channel),
            self._key("retry", channel),
            self._key("dead", channel),
            self._key("deadinfo", channel),
        ]
        return bool(self._call(self._requeue, keys=keys, args=[alert_id, self.ttl]))

    def discard_channel(self, channel: str) -> tuple[int, int]:
        # Entries are deleted one by one, not the stream: a running service keeps the stream's
        # consumer group in mind and would fail to read the channel if it came back.
        stream, dead = self._stream(channel), self._key("dead", channel)
        self._ensure_group(stream)
        raw = self._call(self.client.xrange, stream)
        handles = [handle for handle, _ in raw]
        pipe = self.client.pipeline()
        if handles:
            pipe.xack(stream, GROUP, *handles)
            pipe.xdel(stream, *handles)
        pipe.zcard(dead)
        pipe.delete(self._key("retry", channel), dead, self._key("deadinfo", channel))
        dead_count = self._call(pipe.execute)[-2]
        return len({fields.get("id") for _, fields in raw}), int(dead_count)

    def open_digests(self) -> list[OpenDigest]:
        members = self._call(self.client.zrange, self._key("digests"), 0, -1, withscores=True)
        if not members:
            return []
        pipe = self.client.pipeline(transaction=False)
        for member, _ in members:
            pipe.llen(self._key("digest", member))
        counts = self._call(pipe.execute)
        found = []
        for (member, due), count in zip(members, counts, strict=True):
            watch = member.rpartition("\x1f")[0]
            found.append(OpenDigest(watch=watch, due=float(due), alerts=int(count)))
        return found

    def discard_digests(self, watch: str) -> int:
        dropped = 0
        for digest in self.open_digests():
            if digest.watch != watch:
                continue
            member = f"{watch}\x1f{digest.due:.0f}"
            pipe = self.client.pipeline()
            pipe.llen(self._key("digest", member))
            pipe.delete(self._key("digest", member))
            pipe.zrem(self._key("digests"), member)
            dropped += int(self._call(pipe.execute)[0])
        return dropped

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
            self._key("alerts"),
            *(self._stream(channel) for channel in channels),
        ]
        args = [digest["id"], json.dumps(digest, ensure_ascii=False), self.ttl, member, time.time()]
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
                raise _store_error(exc) from None
        except redis.RedisError as exc:
            raise _store_error(exc) from None
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

    def record_poll(self, outlet: str, at: float, outcome: str) -> None:
        key = self._key("polls", outlet)
        keep = POLL_HISTORY.total_seconds()
        pipe = self.client.pipeline()
        pipe.zadd(key, {f"{at!r} {outcome}": at})  # the time keeps members apart
        pipe.zremrangebyscore(key, "-inf", f"({time.time() - keep}")
        pipe.zremrangebyrank(key, 0, -POLL_HISTORY_LIMIT - 1)
        pipe.expire(key, int(keep))
        self._call(pipe.execute)

    def poll_history(self, outlet: str, since: float) -> list[tuple[float, str]]:
        members = self._call(self.client.zrangebyscore, self._key("polls", outlet), since, "+inf")
        history = []
        for member in members:
            at, _, outcome = str(member).partition(" ")
            history.append((float(at), outcome))
        return history

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

    def _seen_root(self, outlet: str) -> str:
        """``newswatch:seen:<outlet>:``; its nodes append their path, e.g. ``...:<outlet>:0110``.
        Only [01] follows the last colon, so no two outlets share a node, and no URL key of the
        old layout (``newswatch:seen:https://...``) is a node."""
        return self._key("seen", outlet, "")

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise _store_error(exc) from None


# Replies with which a running Redis refuses writes: out of memory under ``maxmemory`` with
# ``noeviction``, snapshots failing (``stop-writes-on-bgsave-error``), a read-only replica.
# redis-py turns some into exception classes and drops their code from the text.
_REFUSALS = ("OOM", "MISCONF", "READONLY", "NOREPLICAS")
_REFUSAL_CLASSES = ((redis.OutOfMemoryError, "OOM"), (redis.ReadOnlyError, "READONLY"))


def _store_error(exc: redis.RedisError) -> StoreError:
    """One line that says what failed: ``Redis refused the write: OOM command not allowed …``."""
    text = " ".join(str(exc).split())
    if isinstance(exc, redis.ConnectionError):
        return StoreError(f"Redis refused the connection: {text}")
    if isinstance(exc, redis.TimeoutError):
        return StoreError(f"Redis did not answer in time: {text}")
    if isinstance(exc, redis.ResponseError):
        # a pipeline's error names the command and its keys: only the reply matters here
        _, found, reply = text.partition(" of pipeline caused error: ")
        text = reply if found else text
        for cls, code in _REFUSAL_CLASSES:
            if isinstance(exc, cls) and not text.startswith(code):
                return StoreError(f"Redis refused the write: {code} {text}")
        for code in _REFUSALS:  # in a script the reply comes wrapped: "Error running script …"
            at = text.find(code)
            if at >= 0 and (at == 0 or not text[at - 1].isalnum()):
                return StoreError(f"Redis refused the write: {text[at:]}")
    return StoreError(f"Redis store failed: {text}")


def _decoded_seen(found: Any) -> str | None:
    if isinstance(found, int):
        return decode_version(found)
    # A string: remembered before this layout, one key per URL; gone within retention.
    return None if found is None else str(found)


def _detected_at(alert: dict[str, Any]) -> float:
    """Epoch seconds of the alert's ``detected_at``; 0 when it has none that parses."""
    try:
        moment = datetime.fromisoformat(str(alert.get("detected_at")))
    except ValueError:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _listpack_entries(client: redis.Redis) -> int:
    """Articles per trie node: the server's ``hash-max-listpack-entries``, at most 128.

    More than the limit and a node's hash becomes a hash table (~3x the memory); more than 128
    saves under a byte an article while every lookup scans a longer listpack. A server whose limit
    is under 8 (listpacks all but off), or that refuses CONFIG (managed Redis), gets 128.
    """
    try:
        configured = client.config_get("hash-max-listpack-entries")
        entries = int(configured.get("hash-max-listpack-entries") or LISTPACK_ENTRIES)
    except (redis.RedisError, ValueError):
        return LISTPACK_ENTRIES
    return min(entries, LISTPACK_ENTRIES) if entries >= 8 else LISTPACK_ENTRIES
