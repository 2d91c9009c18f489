"""Digests: a watch's alerts collected and sent as one message at the hour or time of day.

An alert of a digest watch is stored in the watch's digest bucket for the moment the digest is
due (not in the outbox); when that moment has passed, the bucket becomes one digest alert in the
outbox, atomically. Both live in the store, so a restart in between loses nothing.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from newswatch.article import format_time

__all__ = ["build_digest", "digest_due"]


def digest_due(digest: str, detected: datetime) -> datetime | None:
    """When the digest that an alert detected at ``detected`` belongs to is sent (UTC)."""
    if digest == "immediate":
        return None
    detected = detected.astimezone(UTC)
    if digest == "hourly":
        return detected.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hour, minute = (int(part) for part in digest.removeprefix("daily@").split(":"))
    due = detected.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return due if due > detected else due + timedelta(days=1)


def build_digest(watch: str, due: datetime, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """One alert listing others; its id is derived from (watch, due), so closing is idempotent."""
    stamp = format_time(due)
    return {
        "id": "digest-" + hashlib.sha256(f"{watch}\n{stamp}".encode()).hexdigest()[:24],
        "watch": watch,
        "digest": {"period_end": stamp, "count": len(alerts)},
        "alerts": alerts,
        "detected_at": stamp,
    }
