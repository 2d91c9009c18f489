"""The embedded store: SQLite in a folder, so a first run needs no server.

SQLite gives the same atomic steps as Redis's Lua scripts (one IMMEDIATE transaction each) and
is safe for several processes on one machine. The outbox is a table whose rows are leased to a
consumer by name, with the same recovery rules as the Redis stream's consumer group. Expired
rows are purged when the store opens. Remembered articles are rows as compact as Redis's entries
(outlet, URL digest and version code as integers, no rowid): one encoding for both backends keeps
their answers alike, and the file small.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

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

__all__ = ["EmbeddedStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_articles (
    outlet TEXT NOT NULL, digest INTEGER NOT NULL, expires REAL NOT NULL, version INTEGER NOT NULL,
    PRIMARY KEY (outlet, digest)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS claims (
    watch TEXT NOT NULL, url TEXT NOT NULL, alert_id TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (watch, url));
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, payload TEXT NOT NULL, expires REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    channel TEXT NOT NULL, alert_id TEXT NOT NULL, created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, first_failure REAL, next_attempt REAL NOT NULL DEFAULT 0,
    last_error TEXT, owner TEXT, leased_at REAL, recipients TEXT,
    PRIMARY KEY (channel, alert_id));
CREATE TABLE IF NOT EXISTS dead (
    channel TEXT NOT NULL, alert_id TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,
    at REAL NOT NULL, recipients TEXT, PRIMARY KEY (channel, alert_id));
CREATE TABLE IF NOT EXISTS digests (
    watch TEXT NOT NULL, due REAL NOT NULL, alert_id TEXT NOT NULL, added REAL NOT NULL,
    PRIMARY KEY (watch, due, alert_id));
CREATE TABLE IF NOT EXISTS fingerprints (
    scope TEXT NOT NULL, fingerprint TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (scope, fingerprint));
CREATE TABLE IF NOT EXISTS outlets (name TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS poll_history (outlet TEXT NOT NULL, at REAL NOT NULL, outcome TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS poll_history_outlet_at ON poll_history (outlet, at);
CREATE TABLE IF NOT EXISTS validators (
    resource TEXT PRIMARY KEY, etag TEXT, modified TEXT, expires REAL NOT NULL);
"""


class EmbeddedStore:
    def __init__(
        self, connection: sqlite3.Connection, retention: timedelta, folder: Path | None = None
    ) -> None:
        self.db = connection
        self.folder = folder  # where the state file is: to tell why a write failed
        self.ttl = retention.total_seconds()
        self.db.executescript(_SCHEMA)
        self._add_columns(("outbox", "recipients TEXT"), ("dead", "recipients TEXT"))
        # ``seen`` (url, expires, version) is the layout before seen_articles: still read until
        # its rows expire, then dropped, so an upgrade does not fetch every article once more.
        self._legacy_seen = self._has_table("seen")
        self._purge()

    @classmethod
    def open(cls, folder: Path, retention: timedelta) -> EmbeddedStore:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                folder / "state.sqlite3", timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            return cls(connection, retention, folder)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the embedded store in {folder}/: {exc}") from None

    def ping(self) -> None:
        self._run("SELECT 1")

    # --- seen articles and claims ----------------------------------------------------------------

    def seen_version(self, outlet: str, url: str) -> str | None:
        now = time.time()
        row = self._run(
            "SELECT version FROM seen_articles WHERE outlet = ? AND digest = ? AND expires > ?",
            outlet,
            _digest(url),
            now,
        ).fetchone()
        if row is not None:
            return decode_version(int(row[0]))
        if self._legacy_seen:
            row = self._run(
                "SELECT version FROM seen WHERE url = ? AND expires > ?", url, now
            ).fetchone()
            return None if row is None else str(row[0])
        return None

    def seen_versions(self, outlet: str, urls: Sequence[str]) -> list[str | None]:
        return [self.seen_version(outlet, url) for url in urls]  # no round trips to save

    def mark_seen(self, outlet: str, url: str, version: str = "") -> None:
        self.mark_all_seen([(outlet, url, version)])

    def mark_all_seen(self, marks: Sequence[tuple[str, str, str]]) -> None:
        expires = time.time() + self.ttl
        rows = [
            (outlet, _digest(url), expires, encode_version(version))
            for outlet, url, version in marks
        ]
        with self._transaction():
            self.db.executemany("INSERT OR REPLACE INTO seen_articles VALUES (?, ?, ?, ?)", rows)

    def is_claimed(self, watch: str, url: str) -> bool:
        row = self._run(
            "SELECT 1 FROM claims WHERE watch = ? AND url = ? AND expires > ?",
            watch,
            url,
            time.time(),
        )
        return row.fetchone() is not None

    def claim(
        self,
        watch: str,
        url: str,
        alert: dict[str, Any],
        channels: list[str],
        digest_due: float | None = None,
    ) -> bool:
        now = time.time()
        with self._transaction():
            self.db.execute(
                "DELETE FROM claims WHERE watch = ? AND url = ? AND expires <= ?", (watch, url, now)
            )
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?)",
                (watch, url, alert["id"], now + self.ttl),
            ).rowcount
            if inserted:
                self._put_alert(alert, now)
                if digest_due is not None:
                    self.db.execute(
                        "INSERT OR IGNORE INTO digests VALUES (?, ?, ?, ?)",
                        (watch, digest_due, alert["id"], now),
                    )
                else:
                    self._enqueue(alert["id"], channels, now)
        return bool(inserted)

    # --- outbox ----------------------------------------------------------------------------------

    def take_due(
        self,
        channel: str,
        consumer: str,
        now: float,
        stale_after: float,
        ignore_schedule: bool = False,
    ) -> list[OutboxEntry]:
        due_by = float("inf") if ignore_schedule else now
        with self._transaction():
            owners = self.db.execute(
                "SELECT DISTINCT owner FROM outbox WHERE channel = ? AND owner IS NOT NULL",
                (channel,),
            ).fetchall()
            takeable = [consumer, *(owner for (owner,) in owners if is_abandoned(owner))]
            self.db.execute(
                "UPDATE outbox SET owner = ?, leased_at = ? WHERE channel = ? AND next_attempt <= ?"
                f" AND (owner IS NULL OR leased_at < ? OR owner IN ({_marks(takeable)}))",
                (consumer, now, channel, due_by, now - stale_after, *takeable),
            )
            rows = self.db.execute(
                "SELECT o.alert_id, a.payload, o.attempts, o.first_failure, o.rowid, o.recipients"
                " FROM outbox o"
                " LEFT JOIN alerts a ON a.id = o.alert_id"
                " WHERE o.channel = ? AND o.owner = ? AND o.next_attempt <= ?"
                " ORDER BY o.created, o.alert_id",
                (channel, consumer, due_by),
            ).fetchall()
        entries = []
        for alert_id, payload, attempts, first_failure, rowid, recipients in rows:
            entry = OutboxEntry(
                alert_id,
                channel,
                {},
                attempts,
                first_failure,
                str(rowid),
                tuple(json.loads(recipients)) if recipients else (),
            )
            if payload is None:  # expired past retention: nothing left to send
                self.ack(entry)
                continue
            entries.append(replace(entry, payload=json.loads(payload)))
        return entries

    def ack(self, entry: OutboxEntry) -> None:
        self._run("DELETE FROM outbox WHERE channel = ? AND alert_id = ?", entry.channel, entry.id)

    def retry_later(self, entry: OutboxEntry, at: float, error: str, now: float) -> None:
        self._run(
            "UPDATE outbox SET attempts = attempts + 1, first_failure = COALESCE(first_failure, ?),"
            " next_attempt = ?, last_error = ?, owner = NULL, leased_at = NULL, recipients = ?"
            " WHERE channel = ? AND alert_id = ?",
            now,
            at,
            error,
            json.dumps(entry.recipients) if entry.recipients else None,
            entry.channel,
            entry.id,
        )

    def dead_letter(self, entry: OutboxEntry, error: str, now: float) -> None:
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO dead VALUES (?, ?, ?, ?, ?, ?)",
                (
                    entry.channel,
                    entry.id,
                    error,
                    entry.attempts + 1,
                    now,
                    json.dumps(entry.recipients) if entry.recipients else None,
                ),
            )
            self.db.execute(  # kept for retention from now, so that it can be resent (as Redis)
                "UPDATE alerts SET expires = MAX(expires, ?) WHERE id = ?",
                (now + self.ttl, entry.id),
            )
            self.db.execute(
                "DELETE FROM outbox WHERE channel = ? AND alert_id = ?", (entry.channel, entry.id)
            )

    def dead_letters(self, channel: str, limit: int | None = 20) -> list[DeadLetter]:
        rows = self._run(
            "SELECT d.alert_id, d.error, d.attempts, d.at, a.payload FROM dead d"
            " LEFT JOIN alerts a ON a.id = d.alert_id AND a.expires > ?"
            " WHERE d.channel = ? ORDER BY d.at DESC LIMIT ?",
            time.time(),
            channel,
            -1 if limit is None else limit,
        ).fetchall()
        return [
            DeadLetter(i, channel, error, n, at, json.loads(payload) if payload else None)
            for i, error, n, at, payload in rows
        ]

    def pending_count(self, channel: str) -> tuple[int, int]:
        row = self._run(
            "SELECT COUNT(*), COALESCE(SUM(attempts > 0), 0) FROM outbox WHERE channel = ?",
            channel,
        ).fetchone()
        return int(row[0]), int(row[1])

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        row = self._run(
            "SELECT payload FROM alerts WHERE id = ? AND expires > ?", alert_id, time.time()
        ).fetchone()
        return json.loads(row[0]) if row else None

    def alerts_since(self, since: float, limit: int) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT payload FROM alerts WHERE created >= ? AND expires > ?"
            " ORDER BY created DESC, id LIMIT ?",
            since,
            time.time(),
            limit,
        ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def pending_entries(self, channel: str) -> list[PendingEntry]:
        rows = self._run(
            "SELECT alert_id, attempts, next_attempt, last_error FROM outbox WHERE channel = ?"
            " ORDER BY created, alert_id",
            channel,
        ).fetchall()
        return [
            PendingEntry(alert_id, channel, attempts, next_attempt if attempts else None, error)
            for alert_id, attempts, next_attempt, error in rows
        ]

    def outbox_channels(self) -> list[str]:
        rows = self._run(
            "SELECT channel FROM outbox UNION SELECT channel FROM dead ORDER BY channel"
        ).fetchall()
        return [channel for (channel,) in rows]

    def requeue(self, alert_id: str, channel: str) -> bool:
        now = time.time()
        with self._transaction():
            kept = self.db.execute(
                "UPDATE alerts SET expires = ? WHERE id = ? AND expires > ?",
                (now + self.ttl, alert_id, now),
            ).rowcount
            if not kept:
                return False
            # a dead letter of an email that some recipients got keeps to the others
            dead = self.db.execute(
                "SELECT recipients FROM dead WHERE channel = ? AND alert_id = ?",
                (channel, alert_id),
            ).fetchone()
            self.db.execute(
                "DELETE FROM dead WHERE channel = ? AND alert_id = ?", (channel, alert_id)
            )
            self.db.execute(
                "INSERT INTO outbox (channel, alert_id, created, recipients) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (channel, alert_id) DO UPDATE SET attempts = 0,"
                " first_failure = NULL, next_attempt = 0, last_error = NULL",
                (channel, alert_id, now, dead[0] if dead else None),
            )
        return True

    def discard_channel(self, channel: str) -> tuple[int, int]:
        with self._transaction():
            pending = self.db.execute("DELETE FROM outbox WHERE channel = ?", (channel,)).rowcount
            dead = self.db.execute("DELETE FROM dead WHERE channel = ?", (channel,)).rowcount
        return int(pending), int(dead)

    def open_digests(self) -> list[OpenDigest]:
        rows = self._run(
            "SELECT watch, due, COUNT(*) FROM digests GROUP BY watch, due ORDER BY due, watch"
        ).fetchall()
        return [OpenDigest(watch, float(due), int(count)) for watch, due, count in rows]

    def discard_digests(self, watch: str) -> int:
        return int(self._run("DELETE FROM digests WHERE watch = ?", watch).rowcount)

    # --- digests ---------------------------------------------------------------------------------

    def due_digests(self, now: float) -> list[tuple[str, float]]:
        rows = self._run(
            "SELECT DISTINCT watch, due FROM digests WHERE due <= ? ORDER BY due", now
        ).fetchall()
        return [(watch, float(due)) for watch, due in rows]

    def digest_alerts(self, watch: str, due: float) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT a.payload FROM digests d JOIN alerts a ON a.id = d.alert_id"
            " WHERE d.watch = ? AND d.due = ? ORDER BY d.added, d.alert_id",
            watch,
            due,
        ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def close_digest(
        self, watch: str, due: float, digest: dict[str, Any], channels: list[str]
    ) -> None:
        now = time.time()
        with self._transaction():
            exists = self.db.execute(
                "SELECT 1 FROM alerts WHERE id = ?", (digest["id"],)
            ).fetchone()
            if not exists:
                self._put_alert(digest, now)
                self._enqueue(digest["id"], channels, now)
            self.db.execute("DELETE FROM digests WHERE watch = ? AND due = ?", (watch, due))

    # --- fingerprints, outlet status, validators, recent alerts ----------------------------------

    def fingerprints(self, scope: str) -> list[str]:
        rows = self._run(
            "SELECT fingerprint FROM fingerprints WHERE scope = ? AND expires > ?",
            scope,
            time.time(),
        ).fetchall()
        return [str(value) for (value,) in rows]

    def remember_fingerprint(self, scope: str, fingerprint: str) -> None:
        self._run(
            "INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?)",
            scope,
            fingerprint,
            time.time() + self.ttl,
        )

    def recent_alerts(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = self._run(
            "SELECT payload FROM alerts WHERE expires > ? ORDER BY created DESC, id LIMIT ?",
            time.time(),
            limit,
        ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def outlet_status(self, outlet: str) -> dict[str, Any] | None:
        row = self._run("SELECT status FROM outlets WHERE name = ?", outlet).fetchone()
        return json.loads(row[0]) if row else None

    def save_outlet_status(self, outlet: str, status: dict[str, Any]) -> None:
        self._run("INSERT OR REPLACE INTO outlets VALUES (?, ?)", outlet, json.dumps(status))

    def record_poll(self, outlet: str, at: float, outcome: str) -> None:
        with self._transaction():
            self._run("INSERT INTO poll_history VALUES (?, ?, ?)", outlet, at, outcome)
            self._run(
                "DELETE FROM poll_history WHERE outlet = ? AND (at < ? OR rowid IN (SELECT rowid"
                " FROM poll_history WHERE outlet = ? ORDER BY at DESC LIMIT -1 OFFSET ?))",
                outlet,
                time.time() - POLL_HISTORY.total_seconds(),
                outlet,
                POLL_HISTORY_LIMIT,
            )

    def poll_history(self, outlet: str, since: float) -> list[tuple[float, str]]:
        rows = self._run(
            "SELECT at, outcome FROM poll_history WHERE outlet = ? AND at >= ? ORDER BY at",
            outlet,
            since,
        ).fetchall()
        return [(float(at), str(outcome)) for at, outcome in rows]

    def validators(self, resource: str) -> tuple[str | None, str | None]:
        row = self._run(
            "SELECT etag, modified FROM validators WHERE resource = ? AND expires > ?",
            resource,
            time.time(),
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def save_validators(self, resource: str, etag: str | None, last_modified: str | None) -> None:
        if not (etag or last_modified):
            self._run("DELETE FROM validators WHERE resource = ?", resource)
            return
        self._run(
            "INSERT OR REPLACE INTO validators VALUES (?, ?, ?, ?)",
            resource,
            etag,
            last_modified,
            time.time() + self.ttl,
        )

    def close(self) -> None:
        self.db.close()

    # --- internals -------------------------------------------------------------------------------

    def _put_alert(self, alert: dict[str, Any], now: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)",
            (alert["id"], json.dumps(alert, ensure_ascii=False), now + self.ttl, now),
        )

    def _enqueue(self, alert_id: str, channels: list[str], now: float) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO outbox (channel, alert_id, created) VALUES (?, ?, ?)",
            [(channel, alert_id, now) for channel in channels],
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One IMMEDIATE transaction: the write lock is taken up front, so steps cannot interleave.

        A failure rolls back all of it. SQLite may have rolled back already (SQLITE_FULL, some I/O
        errors): then there is nothing to roll back, and the error reported is the first one.
        """
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the first error is the one to tell
                        self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"the embedded store failed: {_reason(exc, self.folder)}")

    def _add_columns(self, *columns: tuple[str, str]) -> None:
        """Columns added since a store's file was made (SQLite has no ADD COLUMN IF NOT EXISTS)."""
        for table, column in columns:
            present = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            if column.split()[0] not in present:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    def _has_table(self, name: str) -> bool:
        found = self._run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name)
        return found.fetchone() is not None

    def _purge(self) -> None:
        now = time.time()
        for table in ("seen_articles", "claims", "validators", "fingerprints"):
            self._run(f"DELETE FROM {table} WHERE expires <= ?", now)
        if self._legacy_seen:
            self._run("DELETE FROM seen WHERE expires <= ?", now)
            if self._run("SELECT 1 FROM seen LIMIT 1").fetchone() is None:
                self._run("DROP TABLE seen")
                self._legacy_seen = False
        self._run(
            "DELETE FROM alerts WHERE expires <= ? AND id NOT IN (SELECT alert_id FROM outbox)"
            " AND id NOT IN (SELECT alert_id FROM digests)",
            now,
        )

    def _run(self, sql: str, *params: Any) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(exc) from None


# SQLite's primary result codes an operator can act on, in words (the rest keep SQLite's text).
_REASONS = {
    "SQLITE_FULL": "disk full",
    "SQLITE_READONLY": "read-only",
    "SQLITE_CANTOPEN": "cannot open the state file",
    "SQLITE_CORRUPT": "the state file is corrupt",
    "SQLITE_NOTADB": "the state file is not a SQLite database",
    "SQLITE_BUSY": "locked by another process",
    "SQLITE_LOCKED": "locked by another process",
    "SQLITE_IOERR": "disk I/O error",
    "SQLITE_NOMEM": "out of memory",
}


def _reason(exc: sqlite3.Error, folder: Path | None) -> str:
    """What failed, in words: ``disk full (database or disk is full)``."""
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    reason = _REASONS.get("_".join(name.split("_")[:2]))
    if reason is None:
        return str(exc)
    if name in ("SQLITE_FULL", "SQLITE_IOERR_WRITE") and folder is not None:
        # SQLite says SQLITE_FULL only for ENOSPC; a file over the size limit (EFBIG) or a
        # quota is a failed write to it: look at which it is.
        reason = _why_writes_fail(folder) or reason
    detail = str(exc)
    return f"{reason} ({detail})" if detail and detail != reason else reason


def _why_writes_fail(folder: Path) -> str | None:
    try:
        space = os.statvfs(folder)
        sizes = [path.stat().st_size for path in folder.glob("state.sqlite3*")]
    except OSError:
        return None
    if space.f_bavail * space.f_frsize < _FULL_BELOW:
        return "disk full"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and max(sizes, default=0) + _FULL_BELOW > limit:
        return (
            f"disk full for this process: a state file reached its file size limit ({limit} bytes)"
        )
    return None


_FULL_BELOW = 1 << 20  # free bytes under which a failed write is put down to a full disk


def _marks(values: Sequence[object]) -> str:
    """Placeholders for an ``IN (...)`` of ``values``."""
    return ", ".join("?" * len(values))


def _digest(url: str) -> int:
    """The 8-byte URL digest as SQLite's 64-bit integer (stored in 8 bytes, not as a blob)."""
    return int.from_bytes(url_digest(url), "big", signed=True)
