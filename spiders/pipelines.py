"""Item pipeline: hand each extracted article to alert intake, then remember it as seen.

The article is marked seen only after its alerts are safely stored: a crash in between re-reads
the article next time instead of losing its alerts (the claim keeps that from alerting twice).
The same reasoning lets the marks wait a little: they are written in batches (one round trip
for up to :data:`MARKS_PER_WRITE` articles) and, at the latest, when their poll ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from scrapy import signals
from scrapy.exceptions import DropItem

from newswatch.alerts.render import Renderer
from newswatch.article import Article, is_unseen
from newswatch.errors import StoreError
from newswatch.spiders.news import poll_ending

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from newswatch.spiders.news import ArticleItem, NewsSpider

__all__ = ["MARKS_PER_WRITE", "AlertPipeline", "AlreadySeen", "StoreFailed", "TooOld"]

MARKS_PER_WRITE = 100


class AlreadySeen(DropItem):
    """Reached under another URL (rel=canonical) that was already processed."""


class TooOld(DropItem):
    """Published before max_age: remembered, never alerted."""


class StoreFailed(DropItem):
    """The store refused a write while the article was handled: its claims, alerts and outbox
    entries were rolled back together and it is not marked seen, so the next run handles it
    again. Logged once per poll by ``CrawlContext.store_failed``, not once per item."""

    def __init__(self, message: str) -> None:
        super().__init__(message, log_level="DEBUG")


class AlertPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._renderer: Renderer | None = None
        self._unsaved: dict[tuple[str, str], str] = {}  # (outlet, url) -> version, to mark seen

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.save_marks, signal=poll_ending)
        crawler.signals.connect(pipeline.save_marks, signal=signals.spider_closed)
        return pipeline

    def save_marks(self, **_: object) -> None:
        """Write the pending seen marks; on a store error they wait for the next write (and
        are lost with the process: their articles are read again, their claims keep them from
        alerting twice)."""
        if not self._unsaved:
            return
        spider: NewsSpider = self.crawler.spider  # type: ignore[assignment]
        marks = [(outlet, url, version) for (outlet, url), version in self._unsaved.items()]
        try:
            spider.context.store.mark_all_seen(marks)
        except StoreError as exc:
            for outlet in sorted({outlet for outlet, _ in self._unsaved}):
                spider.context.store_failed(outlet, exc, "articles were not marked seen")
            return
        self._unsaved.clear()

    def process_item(self, item: ArticleItem) -> ArticleItem:
        spider: NewsSpider = self.crawler.spider  # type: ignore[assignment]
        try:
            self._handle(spider, item.article, item.checked_unseen)
            return item
        except StoreError as exc:
            article = item.article
            spider.context.store_failed(article.outlet, exc, f"{article.url} was not saved")
            raise StoreFailed(f"store failed: {article.url}") from None
        finally:
            spider.item_done(item.poll)

    def _handle(self, spider: NewsSpider, item: Article, checked_unseen: bool) -> Article:
        context = spider.context
        result = context.results[item.outlet]
        version = self._unsaved.get((item.outlet, item.url))
        if version is None and not checked_unseen:
            version = context.store.seen_version(item.outlet, item.url)
        if not is_unseen(version, item.updated):
            raise AlreadySeen(f"already seen: {item.url}")
        if context.dry_run:
            self._renderer = self._renderer or Renderer.for_config(context.config)
            for alert in context.intake.preview(item):
                print(self._renderer.text(alert), file=context.dry_run_output, flush=True)
                result.alerts += 1
            return item
        too_old = context.intake.is_too_old(item)
        result.alerts += len(context.intake.admit(item))
        self._unsaved[item.outlet, item.url] = item.version
        if len(self._unsaved) >= MARKS_PER_WRITE:
            self.save_marks()  # a store error is reported; the marks wait
        if too_old:
            raise TooOld(f"published {item.published:%Y-%m-%d}, older than max_age: {item.url}")
        return item
