"""Where newswatch remembers what it has seen and sent: Redis, or an embedded store.

Both backends keep the same promises (SPEC §4): a seen article is remembered for ``retention``; a
(watch, article) pair is claimed at most once, and the claim, the alert and its pending
deliveries are written in one atomic step, so a crash can neither lose an alert nor send it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

__all__ = ["DEFAULT_STATE_DIR", "PendingAlert", "Store", "open_store"]

DEFAULT_STATE_DIR = Path("newswatch-state")


@dataclass(frozen=True)
class PendingAlert:
    """An alert waiting for one channel; ``attempts`` counts failed sends so far."""

    id: str
    channel: str
    payload: dict[str, Any]
    attempts: int


class Store(Protocol):
    def ping(self) -> None:
        """Raise StoreError when the store cannot be used."""

    def is_seen(self, url: str) -> bool: ...

    def seen_version(self, url: str) -> str | None:
        """None when never seen; else the version remembered (the feed's updated time, or "")."""

    def mark_seen(self, url: str, version: str = "") -> None: ...

    def is_claimed(self, watch: str, url: str) -> bool: ...

    def claim(self, watch: str, url: str, alert: dict[str, Any], channels: list[str]) -> bool:
        """Claim (watch, url) and queue ``alert`` for ``channels``; False if already claimed."""

    def pending(self, channel: str) -> list[PendingAlert]: ...

    def delivered(self, alert_id: str, channel: str) -> None: ...

    def failed(self, alert_id: str, channel: str, error: str) -> None: ...

    def fingerprints(self, scope: str) -> list[int]:
        """Content fingerprints remembered in ``scope`` (a watch in an outlet) within retention."""

    def remember_fingerprint(self, scope: str, fingerprint: int) -> None: ...

    def pending_count(self, channel: str) -> tuple[int, int]:
        """(alerts pending, of which have failed at least once)."""

    def recent_alerts(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest alerts first, while they are retained."""

    def outlet_status(self, outlet: str) -> dict[str, Any] | None: ...

    def save_outlet_status(self, outlet: str, status: dict[str, Any]) -> None: ...

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
