"""What the store still holds for channels and watches the config no longer names.

An edit or a reload can remove a channel that has alerts waiting, or a digest watch whose digest
is still open. Delivering them elsewhere would be a guess and dropping them would lose alerts, so
they are kept until the channel or watch returns (then they go out, once), and shown by
``status`` and ``check`` with the one command that drops them: ``newswatch discard``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from newswatch.config import Config
from newswatch.errors import UsageError
from newswatch.store import DEFAULT_STATE_DIR, Store, open_store

__all__ = [
    "RemovedChannel",
    "RemovedDigest",
    "discard_channel",
    "discard_digest",
    "find_leftovers",
    "leftover_lines",
    "open_existing_store",
]


@dataclass(frozen=True)
class RemovedChannel:
    name: str
    pending: int
    dead: int


@dataclass(frozen=True)
class RemovedDigest:
    watch: str
    alerts: int
    due: float  # the earliest due time among the watch's open digests


def find_leftovers(
    config: Config, store: Store
) -> tuple[list[RemovedChannel], list[RemovedDigest]]:
    channels = []
    for name in store.outbox_channels():
        if name not in config.channels:
            pending = len(store.pending_entries(name))
            channels.append(RemovedChannel(name, pending, len(store.dead_letters(name, None))))
    digests: dict[str, RemovedDigest] = {}
    for digest in store.open_digests():
        if digest.watch in config.watches:
            continue
        known = digests.get(digest.watch)
        alerts = digest.alerts + (known.alerts if known else 0)
        due = min(digest.due, known.due) if known else digest.due
        digests[digest.watch] = RemovedDigest(digest.watch, alerts, due)
    return channels, list(digests.values())


def leftover_lines(config: Config, store: Store) -> list[str]:
    """One line per removed channel or watch that still has something in the store."""
    channels, digests = find_leftovers(config, store)
    lines = [
        f"channel {c.name} (not in the config): {c.pending} pending, {c.dead} dead letters"
        f" — kept until the channel returns; `newswatch discard {c.name}` drops them"
        for c in channels
    ]
    for d in digests:
        due = datetime.fromtimestamp(d.due, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        lines.append(
            f"digest of watch {d.watch} (not in the config): {d.alerts} alerts, due {due}"
            f" — kept open until the watch returns; `newswatch discard --digest {d.watch}`"
            " drops it"
        )
    return lines


def discard_channel(config: Config, store: Store, channel: str) -> tuple[int, int]:
    """Drop a removed channel's pending entries and dead letters: (pending, dead) dropped."""
    if channel in config.channels:
        raise UsageError(
            f"channel {channel!r} is in the config: its alerts are still delivered;"
            " remove it from the config first"
        )
    return store.discard_channel(channel)


def discard_digest(config: Config, store: Store, watch: str) -> int:
    """Drop a removed watch's open digests: the number of alerts they held."""
    if watch in config.watches:
        raise UsageError(
            f"watch {watch!r} is in the config: its digest is still sent;"
            " remove it from the config first"
        )
    return store.discard_digests(watch)


def open_existing_store(config: Config) -> Store | None:
    """The store, for a command that only reads it (``check``): None where an embedded store was
    never created here, so that validating a config leaves no state folder behind."""
    if not config.store and not (DEFAULT_STATE_DIR / "state.sqlite3").exists():
        return None
    return open_store(config.store, config.retention)
