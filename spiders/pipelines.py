"""Item pipeline: hand each extracted article to alert intake, then remember it as seen.

The article is marked seen only after its alerts are safely stored: a crash in between re-reads
the article next time instead of losing its alerts (the claim keeps that from alerting twice).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from scrapy.exceptions import DropItem

from alerts.render import Renderer
from newswatch.article import Article, is_unseen

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from spiders.news import ArticleItem, NewsSpider

__all__ = ["AlertPipeline", "AlreadySeen", "TooOld"]


class AlreadySeen(DropItem):
    """Reached under another URL (rel=canonical) that was already processed."""


class TooOld(DropItem):
    """Published before max_age: remembered, never alerted."""


class AlertPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._renderer: Renderer | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: ArticleItem) -> ArticleItem:
        spider: NewsSpider = self.crawler.spider  # type: ignore[assignment]
        try:
            self._handle(spider, item.article, item.checked_unseen)
            return item
        finally:
            spider.item_done(item.poll)

    def _handle(self, spider: NewsSpider, item: Article, checked_unseen: bool) -> Article:
        context = spider.context
        result = context.results[item.outlet]
        if not checked_unseen and not is_unseen(
            context.store.seen_version(item.outlet, item.url), item.updated
        ):
            raise AlreadySeen(f"already seen: {item.url}")
        if context.dry_run:
            self._renderer = self._renderer or Renderer.for_config(context.config)
            for alert in context.intake.preview(item):
                print(self._renderer.text(alert), file=context.dry_run_output, flush=True)
                result.alerts += 1
            return item
        too_old = context.intake.is_too_old(item)
        result.alerts += len(context.intake.admit(item))
        context.store.mark_seen(item.outlet, item.url, item.version)
        if too_old:
            raise TooOld(f"published {item.published:%Y-%m-%d}, older than max_age: {item.url}")
        return item
