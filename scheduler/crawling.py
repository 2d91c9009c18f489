"""Running crawls: every requested outlet in one Scrapy process, then the results."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from scrapy.crawler import CrawlerProcess
from twisted.python.failure import Failure

from newswatch.alerts.intake import AlertIntake
from newswatch.collection import settle
from newswatch.config import Config
from newswatch.errors import CrawlError
from newswatch.spiders.context import CrawlContext, OutletResult
from newswatch.spiders.news import NewsSpider
from newswatch.spiders.poll import OutletPoll
from newswatch.spiders.settings import scrapy_settings
from newswatch.store import Store

__all__ = ["crawl_once"]

logger = logging.getLogger("newswatch.crawl")


class _Progress:
    """On a terminal, ``run --once`` over many outlets says how far it has come."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0

    def __call__(self, poll: OutletPoll) -> None:
        self.done += 1
        logger.info("progress: %d/%d outlets polled", self.done, self.total)


def crawl_once(
    config: Config,
    store: Store,
    outlets: list[str],
    *,
    dry_run: bool = False,
    output: TextIO | None = None,
) -> dict[str, OutletResult]:
    """Crawl each outlet once, queueing alerts (or printing them on a dry run)."""
    if dry_run:  # records nothing: no notices either
        context = CrawlContext(
            config, store, AlertIntake(config, store), dry_run=True, dry_run_output=output
        )
    else:
        context = CrawlContext.for_config(config, store)
    progress = _Progress(len(outlets)) if sys.stderr.isatty() and len(outlets) > 1 else None
    process = CrawlerProcess(scrapy_settings(config.crawl))
    failures: list[Failure] = []
    crawl = process.crawl(NewsSpider, context=context, outlets=outlets, on_poll_finished=progress)
    crawl.addErrback(failures.append)  # else Twisted logs it as unhandled, and the run "succeeds"
    settle()  # what the crawl keeps is built; collecting it again and again is waste
    process.start()
    if failures:
        logger.debug("the crawl did not run", exc_info=failures[0].value)
        raise CrawlError(f"the crawl could not run: {failures[0].getErrorMessage()}")
    return context.results
