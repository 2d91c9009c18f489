"""From an extracted article to stored alerts: match every watch, claim, queue.

This is the single place where an alert comes into being. The claim and the queued deliveries are
one atomic store operation (SPEC §4), so an alert exists exactly once per (watch, article) and
is stored before anything tries to send it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.matcher import Match, NormalizedArticle
from alerts.query import parse_query
from alerts.watchset import WatchSet
from newswatch.article import Article
from newswatch.config import Config
from newswatch.identity import alert_id
from newswatch.store import Store

__all__ = ["AlertIntake", "build_alert", "format_time"]


def format_time(moment: datetime | None) -> str | None:
    """SPEC §5 timestamps: UTC, seconds, a trailing Z."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_alert(
    watch: str, article: Article, matches: list[Match], detected_at: datetime
) -> dict[str, Any]:
    """The stored form of an alert: SPEC §5's JSON body, plus where to mark each snippet."""
    return {
        "id": alert_id(watch, article.url),
        "watch": watch,
        "outlet": article.outlet,
        "article": {
            "url": article.url,
            "fetched_from": article.fetched_from,
            "title": article.title,
            "published": format_time(article.published),
            "language": article.language,
        },
        "matches": [
            {
                "term": m.term,
                "field": m.field,
                "snippet": m.snippet,
                "mark": [m.mark_start, m.mark_end],
            }
            for m in matches
        ],
        "detected_at": format_time(detected_at),
    }


@dataclass(frozen=True)
class _Watch:
    name: str
    outlets: frozenset[str] | None
    channels: list[str]


class AlertIntake:
    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.max_age: timedelta = config.max_age
        self.clock = clock
        self.watches = {
            name: _Watch(
                name=name,
                outlets=frozenset(watch.outlets) if watch.outlets is not None else None,
                channels=list(watch.notify),
            )
            for name, watch in config.watches.items()
        }
        # One automaton over every watch: an article costs one scan, not one per watch.
        self.watchset = WatchSet(
            {name: parse_query(watch.query) for name, watch in config.watches.items()}
        )

    def is_too_old(self, article: Article) -> bool:
        """Old articles are remembered, never alerted, so a new watch or outlet does not flood."""
        return article.published is not None and article.published < self.clock() - self.max_age

    def candidates(self, article: Article) -> list[tuple[dict[str, Any], list[str]]]:
        """Every (alert, channels) this article would raise, claimed or not."""
        now = self.clock()
        normalized = NormalizedArticle.from_text(
            article.title, article.text
        )  # once, for all watches
        found = []
        # Outlet filters apply to the results, so one automaton serves every outlet; a watch
        # of another outlet costs a matcher run only when its terms occur in the article.
        for name, matches in self.watchset.matches_normalized(normalized).items():
            watch = self.watches[name]
            if watch.outlets is not None and article.outlet not in watch.outlets:
                continue
            if matches:
                found.append((build_alert(name, article, matches, now), watch.channels))
        return found

    def admit(self, article: Article) -> list[dict[str, Any]]:
        """Claim and queue the article's new alerts; returns those that were new."""
        if self.is_too_old(article):
            return []
        return [
            alert
            for alert, channels in self.candidates(article)
            if self.store.claim(alert["watch"], article.url, alert, channels)
        ]

    def preview(self, article: Article) -> list[dict[str, Any]]:
        """What ``admit`` would queue, without writing anything (``crawl --dry-run``)."""
        if self.is_too_old(article):
            return []
        return [
            alert
            for alert, _ in self.candidates(article)
            if not self.store.is_claimed(alert["watch"], article.url)
        ]
