"""From an extracted article to stored alerts: match every watch, claim, queue.

This is the single place where an alert comes into being. The claim and the queued deliveries are
one atomic store operation, so an alert exists exactly once per (watch, article) and
is stored before anything tries to send it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from newswatch.alerts.digest import digest_due
from newswatch.alerts.fingerprint import fingerprint, is_copy
from newswatch.alerts.matcher import Match, NormalizedArticle
from newswatch.alerts.query import parse_query
from newswatch.alerts.watchset import WatchSet
from newswatch.article import Article, format_time
from newswatch.config import Config
from newswatch.identity import alert_id
from newswatch.store import Store

__all__ = ["AlertIntake", "build_alert"]

logger = logging.getLogger("newswatch.alerts")


def build_alert(
    watch: str, article: Article, matches: list[Match], detected_at: datetime
) -> dict[str, Any]:
    """The stored form of an alert: the webhook JSON body, plus where to mark each snippet."""
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
    digest: str


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
                digest=watch.digest,
            )
            for name, watch in config.watches.items()
        }
        # One automaton over every watch: an article costs one scan, not one per watch.
        self.watchset = WatchSet(
            {name: parse_query(watch.query) for name, watch in config.watches.items()}
        )

    def mentioned(self, text: str) -> bool:
        """Whether some watch term occurs in ``text`` at all: pages where none does skip the
        judging of where each mention sits (see :meth:`WatchSet.mentioned`)."""
        return self.watchset.mentioned(text)

    def is_too_old(self, article: Article) -> bool:
        """Old articles are remembered, never alerted, so a new watch or outlet does not flood."""
        return article.published is not None and article.published < self.clock() - self.max_age

    def candidates(self, article: Article) -> list[tuple[dict[str, Any], _Watch]]:
        """Every alert this article would raise, with its watch, claimed or not."""
        now = self.clock()
        normalized = NormalizedArticle.from_text(article.title, article.text)  # once, for all
        found = []
        # Outlet filters apply to the results, so one automaton serves every outlet; a watch
        # of another outlet costs a matcher run only when its terms occur in the article.
        for name, matches in self.watchset.matches_normalized(normalized).items():
            watch = self.watches[name]
            if watch.outlets is not None and article.outlet not in watch.outlets:
                continue
            if matches:
                found.append((build_alert(name, article, matches, now), watch))
        return found

    def admit(self, article: Article) -> list[dict[str, Any]]:
        """Claim and queue the article's new alerts (or add them to their watch's digest);
        returns those that were new."""
        if self.is_too_old(article):
            return []
        candidates = self.candidates(article)
        content = fingerprint(article.title, article.text) if candidates else ""
        admitted = []
        for alert, watch in candidates:
            if self._already_alerted(watch, article, content):
                continue
            due = digest_due(watch.digest, self.clock())
            if self.store.claim(
                watch.name, article.url, alert, watch.channels, due.timestamp() if due else None
            ):
                self.store.remember_fingerprint(_scope(watch, article), content)
                admitted.append(alert)
        return admitted

    def preview(self, article: Article) -> list[dict[str, Any]]:
        """What ``admit`` would queue, without writing anything (``crawl --dry-run``)."""
        if self.is_too_old(article):
            return []
        candidates = self.candidates(article)
        content = fingerprint(article.title, article.text) if candidates else ""
        return [
            alert
            for alert, watch in candidates
            if not self._already_alerted(watch, article, content)
        ]

    def _already_alerted(self, watch: _Watch, article: Article, content: str) -> bool:
        """This article, or a re-published copy of it in the same outlet, alerted the watch."""
        if self.store.is_claimed(watch.name, article.url):
            return True
        if is_copy(content, self.store.fingerprints(_scope(watch, article))):
            logger.info(
                "watch %s: %s is a copy of an article already alerted; not alerted again",
                watch.name,
                article.url,
            )
            return True
        return False


def _scope(watch: _Watch, article: Article) -> str:
    return f"{watch.name}\x1f{article.outlet}"
