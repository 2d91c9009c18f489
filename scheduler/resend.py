"""``newswatch resend``: alerts back into the outbox, with the same alert id.

The id is the receivers' deduplication key (webhook ``X-Newswatch-Id``, email ``Message-ID``), so
a resent alert is the same alert, not a new one. An alert is resent to the channels it was
dead-lettered on; an alert that is not a dead letter anywhere (delivered, or still pending) is
resent to its watch's current channels, which is what someone asking for it again expects. The
next delivery run (``run --once``, or the service within seconds) sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from newswatch.config import Config
from newswatch.errors import NewswatchError, UsageError
from newswatch.store import DeadLetter, Store

__all__ = ["ResendReport", "resend_dead_letters", "resend_ids"]


@dataclass
class ResendReport:
    queued: list[tuple[str, str]] = field(default_factory=list)  # (alert id, channel)
    problems: list[str] = field(default_factory=list)  # what could not be resent, and why
    notes: list[str] = field(default_factory=list)  # left alone on purpose

    def lines(self) -> list[str]:
        by_channel: dict[str, list[str]] = {}
        for alert_id, channel in self.queued:
            by_channel.setdefault(channel, []).append(alert_id)
        out = [
            f"{channel}: {len(ids)} alert{'s' if len(ids) != 1 else ''} queued again"
            f" ({', '.join(ids)})"
            for channel, ids in by_channel.items()
        ]
        return out + self.notes


def resend_ids(config: Config, store: Store, ids: list[str]) -> ResendReport:
    """Requeue each alert; an id the store does not know fails (exit 1) before anything
    moves."""
    dead = _dead_by_id(config, store)
    unknown = [i for i in ids if i not in dead and store.alert(i) is None]
    if unknown:
        raise NewswatchError(
            f"unknown alert id{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
        )
    report = ResendReport()
    for alert_id in dict.fromkeys(ids):
        letters = dead.get(alert_id, [])
        if letters:
            channels = [letter.channel for letter in letters]
        else:
            payload = store.alert(alert_id) or {}
            if "notice" in payload:  # an outlet notice goes to the notices channels of now
                channels = list(config.notices)
                if not channels:
                    report.problems.append(
                        f"notice {alert_id}: the config names no notices channels;"
                        " no channel to resend it to"
                    )
                    continue
            else:
                watch = config.watches.get(str(payload.get("watch")))
                if watch is None:
                    report.problems.append(
                        f"alert {alert_id}: its watch {payload.get('watch')!r} is not in the"
                        " config; no channel to resend it to"
                    )
                    continue
                channels = list(watch.notify)
        _requeue(config, store, alert_id, channels, report)
    return report


def resend_dead_letters(config: Config, store: Store, channel: str | None) -> ResendReport:
    """Requeue every dead letter of ``channel``, or of every channel in the config."""
    if channel is not None and channel not in config.channels:
        raise UsageError(
            f"channel {channel!r} is not in the config"
            f" (channels: {', '.join(config.channels) or 'none'})"
        )
    report = ResendReport()
    for name in [channel] if channel else list(config.channels):
        for letter in reversed(store.dead_letters(name, None)):  # oldest first
            _requeue(config, store, letter.id, [name], report)
    if channel is None:
        for name in store.outbox_channels():
            left = len(store.dead_letters(name, None)) if name not in config.channels else 0
            if left:
                report.notes.append(
                    f"channel {name} (not in the config): {left} dead letters left as they are"
                )
    if not report.queued and not report.problems:
        report.notes.append("no dead letters to resend")
    return report


def _requeue(
    config: Config, store: Store, alert_id: str, channels: list[str], report: ResendReport
) -> None:
    for channel in channels:
        if channel not in config.channels:
            report.notes.append(
                f"alert {alert_id}: channel {channel} is not in the config;"
                " left as a dead letter there"
            )
        elif store.requeue(alert_id, channel):
            report.queued.append((alert_id, channel))
        else:
            report.problems.append(
                f"alert {alert_id} on {channel}: its content has expired (kept {_days(config)});"
                " it cannot be resent"
            )


def _dead_by_id(config: Config, store: Store) -> dict[str, list[DeadLetter]]:
    names = list(config.channels)
    names += [name for name in store.outbox_channels() if name not in config.channels]
    found: dict[str, list[DeadLetter]] = {}
    for name in names:
        for letter in store.dead_letters(name, None):
            found.setdefault(letter.id, []).append(letter)
    return found


def _days(config: Config) -> str:
    seconds = config.retention.total_seconds()
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds:g} s"
