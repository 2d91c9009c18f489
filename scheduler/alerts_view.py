"""``newswatch alerts``: recent alerts and dead letters, with each channel's delivery state.

The store keeps an alert's payload, its outbox entries (pending) and its dead letters, not a
record of each delivery: a channel the alert's watch notifies that holds neither an entry nor a
dead letter for it has been delivered. An alert of a digest watch goes out inside its digest,
which is an alert of its own (listed too). A dead letter whose alert has expired is still listed
(its content is gone: it cannot be resent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from newswatch.config import Config, parse_duration
from newswatch.errors import UsageError
from newswatch.store import DeadLetter, PendingEntry, Store

__all__ = [
    "AlertRow",
    "ChannelState",
    "collect_alerts",
    "parse_since",
    "render_json",
    "render_text",
]

SCAN_LIMIT = 10_000  # alerts read from the store before filtering: a month of a busy service


@dataclass(frozen=True)
class ChannelState:
    """``state``: delivered | pending | dead | in digest."""

    state: str
    attempts: int = 0
    next_attempt: float | None = None
    error: str | None = None
    at: float | None = None

    def as_json(self) -> dict[str, Any]:
        if self.state == "pending":
            return {
                "state": "pending",
                "attempts": self.attempts,
                "next_attempt": _iso(self.next_attempt),
                "last_error": self.error,
            }
        if self.state == "dead":
            return {
                "state": "dead",
                "error": self.error,
                "attempts": self.attempts,
                "at": _iso(self.at),
            }
        return {"state": self.state}


@dataclass
class AlertRow:
    id: str
    watch: str | None
    outlet: str | None
    title: str | None
    url: str | None
    detected_at: str | None
    when: float  # for ordering: detection time, or when it died if the payload has expired
    expired: bool = False  # the payload is gone (past retention): it cannot be resent
    digest_of: int | None = None  # a digest: how many alerts it lists
    channels: dict[str, ChannelState] = field(default_factory=dict)
    matches: list[dict[str, Any]] = field(default_factory=list)  # term, field, snippet, mark

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "watch": self.watch,
            "outlet": self.outlet,
            "title": self.title,
            "url": self.url,
            "detected_at": self.detected_at,
            "expired": self.expired,
            "digest_of": self.digest_of,
            "channels": {name: state.as_json() for name, state in self.channels.items()},
        }


def parse_since(value: str, now: datetime | None = None) -> float:
    """``--since``: a duration back from now (``6h``, ``2d``, the config's syntax) or an ISO time
    (``2026-11-27T10:00:00Z``; without a zone it is UTC)."""
    now = now or datetime.now(UTC)
    try:
        return (now - parse_duration(value)).timestamp()
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither a duration (6h, 2d) nor an ISO time"
            " (2026-11-27T10:00:00Z)"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def collect_alerts(
    config: Config,
    store: Store,
    *,
    watch: str | None = None,
    channel: str | None = None,
    since: float | None = None,
    dead_only: bool = False,
    limit: int = 20,
    outlet: str | None = None,
) -> list[AlertRow]:
    """The newest ``limit`` alerts that pass the filters, each with its channels' states."""
    channels = list(config.channels)
    channels += [name for name in store.outbox_channels() if name not in config.channels]
    pending: dict[str, list[PendingEntry]] = {}
    dead: dict[str, list[DeadLetter]] = {}
    for name in channels:
        for entry in store.pending_entries(name):
            pending.setdefault(entry.id, []).append(entry)
        for letter in store.dead_letters(name, None):
            dead.setdefault(letter.id, []).append(letter)

    rows: dict[str, AlertRow] = {}
    for payload in store.alerts_since(since or 0.0, SCAN_LIMIT):
        rows.setdefault(payload["id"], _row(payload, payload["id"]))
    for alert_id, letters in dead.items():  # also those detected before --since, dead after it
        latest = max(letter.at for letter in letters)
        if alert_id not in rows and (since is None or latest >= since):
            rows[alert_id] = _row(letters[0].payload, alert_id, died=latest)

    found = []
    for row in rows.values():
        _fill_states(row, config, pending.get(row.id, []), dead.get(row.id, []))
        if watch is not None and row.watch != watch:
            continue
        if outlet is not None and row.outlet != outlet:
            continue
        if channel is not None and channel not in row.channels:
            continue
        if dead_only and not any(
            state.state == "dead" and (channel is None or name == channel)
            for name, state in row.channels.items()
        ):
            continue
        found.append(row)
    found.sort(key=lambda row: row.when, reverse=True)
    return found[:limit]


def _row(payload: dict[str, Any] | None, alert_id: str, died: float = 0.0) -> AlertRow:
    if payload is None:
        return AlertRow(alert_id, None, None, None, None, None, when=died, expired=True)
    article = payload.get("article") or {}
    detected = payload.get("detected_at")
    digest = payload.get("digest")
    notice = (
        payload.get("notice") or {}
    )  # a notice to operators (newswatch.alerts.notices), not an alert
    return AlertRow(
        id=alert_id,
        watch=payload.get("watch") or ("(notice)" if notice else None),
        outlet=payload.get("outlet") or notice.get("outlet"),
        title=article.get("title") or notice.get("subject"),
        url=article.get("url"),
        detected_at=detected,
        when=_epoch(detected) or died,
        digest_of=int(digest.get("count", 0)) if isinstance(digest, dict) else None,
        matches=[m for m in payload.get("matches") or [] if isinstance(m, dict)],
    )


def _fill_states(
    row: AlertRow, config: Config, pending: list[PendingEntry], dead: list[DeadLetter]
) -> None:
    watch = config.watches.get(row.watch or "")
    if watch is not None:
        in_digest = watch.digest != "immediate" and row.digest_of is None
        for name in watch.notify:
            row.channels[name] = ChannelState("in digest" if in_digest else "delivered")
    for entry in pending:
        row.channels[entry.channel] = ChannelState(
            "pending", entry.attempts, entry.next_attempt, entry.last_error
        )
    for letter in dead:
        row.channels[letter.channel] = ChannelState(
            "dead", letter.attempts, error=letter.error, at=letter.at
        )


def render_json(rows: list[AlertRow]) -> str:
    return json.dumps([row.as_json() for row in rows], ensure_ascii=False, indent=2)


def render_text(rows: list[AlertRow], config: Config) -> str:
    """One line an alert: when, id, watch, outlet, title, URL, then each channel's state."""
    if not rows:
        return "no alerts match"
    lines = []
    for row in rows:
        if row.expired:
            head = f"{_short(row.when)}  {row.id}  (content expired: cannot be resent)"
        else:
            title = " ".join(str(row.title or "").split())
            if len(title) > 70:
                title = title[:69] + "…"
            what = f"digest of {row.digest_of} alerts" if row.digest_of is not None else title
            head = (
                f"{_short(row.when)}  {row.id}  {row.watch} [{row.outlet or '-'}] "
                f"{what or '(no title)'} <{row.url or '-'}>"
            )
        states = [_state_text(name, state, config) for name, state in row.channels.items()]
        lines.append(
            f"{_summary(row):<7} {head}  | {' | '.join(states) if states else 'no channel'}"
        )
    return "\n".join(lines)


def _summary(row: AlertRow) -> str:
    """The worst state first, so that a dead letter stands out in a long list."""
    states = {state.state for state in row.channels.values()}
    for worst, label in (("dead", "DEAD"), ("pending", "pending"), ("in digest", "digest")):
        if worst in states:
            return label
    return "sent" if states else "-"


def _state_text(name: str, state: ChannelState, config: Config) -> str:
    label = name if name in config.channels else f"{name} (not in the config)"
    if state.state == "pending":
        if not state.attempts:
            return f"{label}: pending"
        return (
            f"{label}: pending, {_attempts(state.attempts)} failed, next"
            f" {_short(state.next_attempt)}:"
            f" {state.error}"
        )
    if state.state == "dead":
        return f"{label}: DEAD {_short(state.at)} after {_attempts(state.attempts)}: {state.error}"
    return f"{label}: {state.state}"


def _attempts(count: int) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
