"""The embedded store: SQLite in a folder, so a first run needs no server.

SQLite gives the same atomic claim as Redis's Lua script (one IMMEDIATE transaction) and is safe
for several processes on one machine. Expired rows are purged when the store opens.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from newswatch.errors import StoreError
from newswatch.store import PendingAlert

__all__ = ["EmbeddedStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    url TEXT PRIMARY KEY, expires REAL NOT NULL, version TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS claims (
    watch TEXT NOT NULL, url TEXT NOT NULL, alert_id TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (watch, url));
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, payload TEXT NOT NULL, expires REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    channel TEXT NOT NULL, alert_id TEXT NOT NULL, created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    PRIMARY KEY (channel, alert_id));
CREATE TABLE IF NOT EXISTS fingerprints (
    scope TEXT NOT NULL, fingerprint TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (scope, fingerprint));
CREATE TABLE IF NOT EXISTS outlets (name TEXT PRIMARY KEY, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS validators (
    resource TEXT PRIMARY KEY, etag TEXT, modified TEXT, expires REAL NOT NULL);
"""


class EmbeddedStore:
    def __init__(self, connection: sqlite3.Connection, retention: timedelta) -> None:
        self.db = connection
        self.ttl = retention.total_seconds()
        self.db.executescript(_SCHEMA)
        self._purge()

    @classmethod
    def open(cls, folder: Path, retention: timedelta) -> EmbeddedStore:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                folder / "state.sqlite3", timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            return cls(connection, retention)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the embedded store in {folder}/: {exc}") from None

    def ping(self) -> None:
        self._run("SELECT 1")

    def is_seen(self, url: str) -> bool:
        return self.seen_version(url) is not None

    def seen_version(self, url: str) -> str | None:
        row = self._run(
            "SELECT version FROM seen WHERE url = ? AND expires > ?", url, time.time()
        ).fetchone()
        return None if row is None else str(row[0])

    def mark_seen(self, url: str, version: str = "") -> None:
        self._run(
            "INSERT OR REPLACE INTO seen (url, expires, version) VALUES (?, ?, ?)",
            url,
            time.time() + self.ttl,
            version,
        )

    def is_claimed(self, watch: str, url: str) -> bool:
        row = self._run(
            "SELECT 1 FROM claims WHERE watch = ? AND url = ? AND expires > ?",
            watch,
            url,
            time.time(),
        )
        return row.fetchone() is not None

    def claim(self, watch: str, url: str, alert: dict[str, Any], channels: list[str]) -> bool:
        now = time.time()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "DELETE FROM claims WHERE watch = ? AND url = ? AND expires <= ?",
                    (watch, url, now),
                )
                inserted = self.db.execute(
                    "INSERT OR IGNORE INTO claims VALUES (?, ?, ?, ?)",
                    (watch, url, alert["id"], now + self.ttl),
                ).rowcount
                if inserted:
                    self.db.execute(
                        "INSERT OR REPLACE INTO alerts VALUES (?, ?, ?, ?)",
                        (alert["id"], json.dumps(alert, ensure_ascii=False), now + self.ttl, now),
                    )
                    self.db.executemany(
                        "INSERT OR IGNORE INTO pending (channel, alert_id, created) VALUES (?, ?, ?)",
                        [(channel, alert["id"], now) for channel in channels],
                    )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store failed: {exc}") from None
        return bool(inserted)

    def pending(self, channel: str) -> list[PendingAlert]:
        rows = self._run(
            "SELECT p.alert_id, a.payload, p.attempts FROM pending p JOIN alerts a ON a.id = p.alert_id"
            " WHERE p.channel = ? ORDER BY p.created, p.alert_id",
            channel,
        ).fetchall()
        return [PendingAlert(i, channel, json.loads(payload), n) for i, payload, n in rows]

    def delivered(self, alert_id: str, channel: str) -> None:
        self._run("DELETE FROM pending WHERE channel = ? AND alert_id = ?", channel, alert_id)

    def failed(self, alert_id: str, channel: str, error: str) -> None:
        self._run(
            "UPDATE pending SET attempts = attempts + 1, last_error = ? WHERE channel = ? AND alert_id = ?",
            error,
            channel,
            alert_id,
        )

    def fingerprints(self, scope: str) -> list[int]:
        rows = self._run(
            "SELECT fingerprint FROM fingerprints WHERE scope = ? AND expires > ?",
            scope,
            time.time(),
        ).fetchall()
        return [int(value) for (value,) in rows]

    def remember_fingerprint(self, scope: str, fingerprint: int) -> None:
        self._run(
            "INSERT OR REPLACE INTO fingerprints VALUES (?, ?, ?)",
            scope,
            str(fingerprint),
            time.time() + self.ttl,
        )

    def pending_count(self, channel: str) -> tuple[int, int]:
        row = self._run(
            "SELECT COUNT(*), COALESCE(SUM(attempts > 0), 0) FROM pending WHERE channel = ?",
            channel,
        ).fetchone()
        return int(row[0]), int(row[1])

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

    def _purge(self) -> None:
        now = time.time()
        for table in ("seen", "claims", "validators", "fingerprints"):
            self._run(f"DELETE FROM {table} WHERE expires <= ?", now)
        self._run(
            "DELETE FROM alerts WHERE expires <= ? AND id NOT IN (SELECT alert_id FROM pending)",
            now,
        )

    def _run(self, sql: str, *params: Any) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"embedded store failed: {exc}") from None
