"""Where newswatch remembers what it has seen and sent: Redis, or an embedded store.

Both backends keep the same promises: a seen article is remembered for ``retention``,
in a compact form (an 8-byte digest of its URL within its outlet, see ``newswatch.store.seen``); a
(watch, article) pair is claimed at most once, and the claim, the alert and its outbox entries
(one per channel, or one place in the watch's digest) are written in one atomic step, so a crash
can neither lose an alert nor create it twice.

The outbox is at-least-once: ``take_due`` leases entries to a named consumer, and an entry leaves
the outbox only through ``ack`` (the server accepted it) or ``dead_letter``. Entries a consumer
took and never acknowledged (it crashed) are taken again by the same consumer at once, by any
consumer once the process that held them is known to be gone (``newswatch.store.consumers``), and
by any other consumer once they have been idle for ``stale_after`` seconds. Each process has a
consumer name of its own, so two processes never hold one entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "DEFAULT_STATE_DIR",
    "POLL_HISTORY",
    "POLL_HISTORY_LIMIT",
    "POLL_OUTCOMES",
    "DeadLetter",
    "OpenDigest",
    "OutboxEntry",
    "PendingEntry",
    "Store",
    "open_store",
]

DEFAULT_STATE_DIR = Path("newswatch-state")

# The page draws each outlet's last 24 hours of polls: the history keeps a little more than that,
# and at most POLL_HISTORY_LIMIT polls an outlet (one every 30 s), so an outlet polled every few
# seconds does not grow it without bound.
POLL_HISTORY = timedelta(hours=25)
POLL_HISTORY_LIMIT = 2880
POLL_OUTCOMES = ("ok", "mirror", "unreachable")  # on the primary, on a mirror, on no domain


@dataclass(frozen=True)
class OutboxEntry:
    """An alert waiting for one channel; ``attempts`` counts failed sends so far."""

    id: str
    channel: str
    payload: dict[str, Any]
    attempts: int = 0
    first_failure: float | None = None  # epoch seconds of the first failed send
    handle: str = ""  # the backend's own reference (stream entry id, row id)
    recipients: tuple[str, ...] = ()  # an email some recipients already got: the others


@dataclass(frozen=True)
class DeadLetter:
    id: str
    channel: str
    error: str
    attempts: int
    at: float
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class PendingEntry:
    """An outbox entry as ``newswatch alerts`` shows it: read, not leased (no consumer takes it).

    ``next_attempt`` is None while the entry has never failed (it goes out on the next run)."""

    id: str
    channel: str
    attempts: int
    next_attempt: float | None
    last_error: str | None


@dataclass(frozen=True)
class OpenDigest:
    """A digest bucket not closed yet: ``alerts`` collected for ``watch``, due at ``due``."""

    watch: str
    due: float
    alerts: int


class Store(Protocol):
    def ping(self) -> None:
        """Raise StoreError when the store cannot be used."""

    def seen_version(self, outlet: str, url: str) -> str | None:
        """None when never seen within retention; else the version remembered (``version_of``).

        Articles are remembered per outlet (the name in the config; the caller always knows it):
        that keeps each outlet's memory together and small, so an 8-byte digest of the canonical
        URL is identity enough (``newswatch.store.seen``). Renaming an outlet forgets its articles:
        they are fetched once more, and alerts stay one per (watch, article) through the claims.
        """

    def seen_versions(self, outlet: str, urls: Sequence[str]) -> list[str | None]:
        """:meth:`seen_version` of each URL, in one round trip: a feed lists dozens of links."""

    def mark_seen(self, outlet: str, url: str, version: str = "") -> None:
        """Remember the article for ``retention`` from now, with its version (``version_of``'s
        text, or ""; other text is a ValueError)."""

    def mark_all_seen(self, marks: Sequence[tuple[str, str, str]]) -> None:
        """:meth:`mark_seen` of each (outlet, url, version), in one round trip."""

    def is_claimed(self, watch: str, url: str) -> bool: ...

    def claim(
        self,
        watch: str,
        url: str,
        alert: dict[str, Any],
        channels: list[str],
        digest_due: float | None = None,
    ) -> bool:
        """Claim (watch, url) and queue ``alert`` for ``channels`` (or, with ``digest_due``, into
        the watch's digest that is due then); False if the pair was already claimed."""

    def take_due(
        self,
        channel: str,
        consumer: str,
        now: float,
        stale_after: float,
        ignore_schedule: bool = False,
    ) -> list[OutboxEntry]:
        """Lease the channel's entries whose next attempt is due (all of them when
        ``ignore_schedule``) to ``consumer``."""

    def ack(self, entry: OutboxEntry) -> None:
        """The channel accepted the alert: it leaves the outbox."""

    def retry_later(self, entry: OutboxEntry, at: float, error: str, now: float) -> None:
        """Release the entry until ``at``, counting the failure; its ``recipients`` are kept."""

    def dead_letter(self, entry: OutboxEntry, error: str, now: float) -> None: ...

    def dead_letters(self, channel: str, limit: int | None = 20) -> list[DeadLetter]:
        """The channel's dead letters, the newest first; all of them when ``limit`` is None."""

    def alert(self, alert_id: str) -> dict[str, Any] | None:
        """The alert's payload while it is retained, else None."""

    def alerts_since(self, since: float, limit: int) -> list[dict[str, Any]]:
        """Retained alerts (digests too) stored at or after ``since`` (epoch seconds), newest
        first: what ``newswatch alerts`` lists, beyond the 100 that ``recent_alerts`` keeps."""

    def pending_entries(self, channel: str) -> list[PendingEntry]:
        """Every entry of the channel's outbox, leased or not, with its retry state."""

    def outbox_channels(self) -> list[str]:
        """Every channel that has outbox entries or dead letters, in the config or not: a channel
        removed by an edit keeps its entries until it returns or ``discard`` drops them."""

    def requeue(self, alert_id: str, channel: str) -> bool:
        """Put the alert back into the channel's outbox as new (attempts reset, due at once), with
        the same id, and drop its dead letter there; the payload is kept another ``retention``.
        An entry already pending is not doubled, only reset. The dead letter of an email that
        some recipients got goes to the others only. False, and nothing changed, when the
        payload has expired."""

    def discard_channel(self, channel: str) -> tuple[int, int]:
        """Drop every outbox entry and dead letter of the channel: (pending, dead) dropped."""

    def open_digests(self) -> list[OpenDigest]:
        """Every digest bucket not closed yet, due or not, oldest first."""

    def discard_digests(self, watch: str) -> int:
        """Drop the watch's open digest buckets (their alerts are never sent): alerts dropped."""

    def due_digests(self, now: float) -> list[tuple[str, float]]:
        """(watch, due time) of every digest whose time has come."""

    def digest_alerts(self, watch: str, due: float) -> list[dict[str, Any]]: ...

    def close_digest(
        self, watch: str, due: float, digest: dict[str, Any], channels: list[str]
    ) -> None:
        """Queue the digest alert for ``channels`` and drop the collected alerts, atomically."""

    def fingerprints(self, scope: str) -> list[str]:
        """Content fingerprints remembered in ``scope`` (a watch in an outlet) within retention."""

    def remember_fingerprint(self, scope: str, fingerprint: str) -> None: ...

    def pending_count(self, channel: str) -> tuple[int, int]:
        """(alerts pending, of which have failed at least once)."""

    def recent_alerts(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest alerts first, while they are retained."""

    def outlet_status(self, outlet: str) -> dict[str, Any] | None: ...

    def save_outlet_status(self, outlet: str, status: dict[str, Any]) -> None: ...

    def record_poll(self, outlet: str, at: float, outcome: str) -> None:
        """Add one finished poll (``outcome`` one of POLL_OUTCOMES) to the outlet's history, and
        drop what is older than POLL_HISTORY or beyond the newest POLL_HISTORY_LIMIT polls."""

    def poll_history(self, outlet: str, since: float) -> list[tuple[float, str]]:
        """(time, outcome) of the outlet's polls at or after ``since``, oldest first."""

    def validators(self, resource: str) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) last seen for a feed or sitemap, for a conditional GET."""

    def save_validators(
        self, resource: str, etag: str | None, last_modified: str | None
    ) -> None: ...

    def close(self) -> None: ...


def open_store(url: str | None, retention: timedelta, state_dir: Path = DEFAULT_STATE_DIR) -> Store:
    """The one factory: ``redis://`` URLs get Redis, no URL gets the embedded store."""
    if url:
        from newswatch.store.redis import RedisStore

        return RedisStore.from_url(url, retention)
    from newswatch.store.embedded import EmbeddedStore

    return EmbeddedStore.open(state_dir, retention)
