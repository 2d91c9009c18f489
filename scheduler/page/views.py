"""What the page shows, read from the store through the functions ``newswatch status`` and
``newswatch alerts`` use (``OutletStatus``, ``is_stale``, ``collect_alerts``), so the page and
the command line can never tell two stories.

Views are plain dataclasses: the templates only lay them out, and tests can check them without
a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from newswatch.config import Config
from newswatch.health import OutletStatus
from newswatch.scheduler.alerts_view import AlertRow, collect_alerts
from newswatch.scheduler.page.charts import Bar, Cell, daily_bars, poll_strip
from newswatch.scheduler.status import is_stale
from newswatch.store import POLL_OUTCOMES, Store

__all__ = [
    "AlertsPage",
    "ChannelView",
    "DomainView",
    "NextPoll",
    "OutletView",
    "WatchView",
    "alerts_page",
    "outlet_views",
    "recent_alerts",
    "utc",
    "watch_views",
]

DAYS = 30
LATEST_PER_WATCH = 3

NextPoll = Callable[[str], datetime | None]


@dataclass(frozen=True)
class DomainView:
    name: str
    role: str  # primary | mirror
    state: str  # up | down | unknown (DomainHealth.state)
    live: bool
    failures: int
    last_success: datetime | None
    last_error: str | None
    resting_until: datetime | None


@dataclass(frozen=True)
class OutletView:
    name: str
    state: str  # ok | on a mirror | unreachable | stale | never polled
    live_domain: str | None
    last_crawl: datetime | None
    last_success: datetime | None
    next_poll: datetime | None
    cut_short: str | None
    domains: list[DomainView]
    strip: list[Cell]
    polls: dict[str, int]  # outcome -> polls in the last 24 hours


@dataclass(frozen=True)
class ChannelView:
    """A channel by name and type only: its address carries credentials (SMTP user, webhook
    path), which the page never shows."""

    name: str
    type: str


@dataclass(frozen=True)
class WatchView:
    name: str
    query: str
    outlets: list[str] | None
    digest: str
    channels: list[ChannelView]
    bars: list[Bar]
    total: int  # alerts in the last DAYS days
    latest: list[AlertRow]


@dataclass(frozen=True)
class AlertsPage:
    rows: list[AlertRow]
    page: int
    has_next: bool
    watch: str | None
    outlet: str | None
    watches: list[str] = field(default_factory=list)
    outlets: list[str] = field(default_factory=list)


def outlet_views(
    config: Config, store: Store, now: datetime, next_poll: NextPoll
) -> list[OutletView]:
    views = []
    since = (now - timedelta(hours=24)).timestamp()
    for name, outlet in config.outlets.items():
        raw = store.outlet_status(name)
        status = OutletStatus.from_json(raw)
        history = store.poll_history(name, since)
        if raw is None:
            state = "never polled"
        elif not status.reachable:
            state = "unreachable"
        elif is_stale(outlet, status, now):
            state = "stale"
        elif status.live_domain not in (None, outlet.domains[0]):
            state = "on a mirror"
        else:
            state = "ok"
        domains = []
        for index, domain in enumerate(outlet.domains):
            health = status.health(domain)
            domains.append(
                DomainView(
                    name=domain,
                    role="primary" if index == 0 else "mirror",
                    state=health.state,
                    live=domain == status.live_domain,
                    failures=health.consecutive_failures,
                    last_success=health.last_success,
                    last_error=health.last_error,
                    resting_until=health.cooldown_until if health.cooling(now) else None,
                )
            )
        counts = dict.fromkeys(POLL_OUTCOMES, 0)
        for _, outcome in history:
            counts[outcome] = counts.get(outcome, 0) + 1
        views.append(
            OutletView(
                name=name,
                state=state,
                live_domain=status.live_domain,
                last_crawl=status.last_crawl,
                last_success=status.last_success,
                next_poll=next_poll(name),
                cut_short=status.cut_short,
                domains=domains,
                strip=poll_strip(history, now),
                polls=counts,
            )
        )
    return views


def watch_views(config: Config, store: Store, now: datetime) -> list[WatchView]:
    since = (now - timedelta(days=DAYS)).timestamp()
    rows = collect_alerts(config, store, since=since, limit=SCAN)
    by_watch: dict[str, list[AlertRow]] = {}
    for row in rows:  # newest first
        if row.watch is not None and not row.expired and row.digest_of is None:
            by_watch.setdefault(row.watch, []).append(row)
    views = []
    for name, watch in config.watches.items():
        found = by_watch.get(name, [])
        channels = [
            ChannelView(channel, config.channels[channel].type)
            for channel in watch.notify
            if channel in config.channels
        ]
        views.append(
            WatchView(
                name=name,
                query=watch.query,
                outlets=watch.outlets,
                digest=watch.digest,
                channels=channels,
                bars=daily_bars([row.when for row in found], now, DAYS),
                total=len(found),
                latest=found[:LATEST_PER_WATCH],
            )
        )
    return views


def alerts_page(
    config: Config,
    store: Store,
    *,
    watch: str | None = None,
    outlet: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> AlertsPage:
    """One page of alerts, newest first; one more than a page is read to know if there is a
    next one."""
    page = max(1, page)
    wanted = page * per_page + 1
    rows = collect_alerts(config, store, watch=watch, outlet=outlet, limit=wanted)
    shown = rows[(page - 1) * per_page : page * per_page]
    return AlertsPage(
        rows=shown,
        page=page,
        has_next=len(rows) == wanted,
        watch=watch,
        outlet=outlet,
        watches=list(config.watches),
        outlets=list(config.outlets),
    )


def recent_alerts(config: Config, store: Store, limit: int = 10) -> list[AlertRow]:
    """The overview's latest alerts: ``newswatch alerts`` without filters."""
    return collect_alerts(config, store, limit=limit)


SCAN = 10_000  # alerts a watch chart reads: the same bound as ``newswatch alerts``


def utc(moment: datetime | None) -> str:
    """The one way the page writes a time: UTC, to the minute, like ``newswatch status``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"
