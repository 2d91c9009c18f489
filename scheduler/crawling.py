"""Running crawls: every requested outlet in one Scrapy process, then the results."""

from __future__ import annotations

from typing import TextIO

from scrapy.crawler import CrawlerProcess

from alerts.intake import AlertIntake
from newswatch.config import Config
from newswatch.store import Store
from spiders.context import CrawlContext, OutletResult
from spiders.news import NewsSpider
from spiders.settings import scrapy_settings

__all__ = ["crawl_once"]


def crawl_once(
    config: Config,
    store: Store,
    outlets: list[str],
    *,
    dry_run: bool = False,
    output: TextIO | None = None,
) -> dict[str, OutletResult]:
    """Crawl each outlet once, queueing alerts (or printing them on a dry run)."""
    context = CrawlContext(
        config=config,
        store=store,
        intake=AlertIntake(config, store),
        dry_run=dry_run,
        dry_run_output=output,
    )
    process = CrawlerProcess(scrapy_settings(config.crawl))
    process.crawl(NewsSpider, context=context, outlets=outlets)
    process.start()
    return context.results
