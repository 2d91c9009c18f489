"""Scrapy settings for newswatch crawls, derived from the config's ``crawl:`` section."""

from __future__ import annotations

from typing import Any

from newswatch.config import CrawlSettings

__all__ = ["scrapy_settings"]


def scrapy_settings(crawl: CrawlSettings) -> dict[str, Any]:
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "DOWNLOAD_TIMEOUT": crawl.timeout.total_seconds(),
        "DOWNLOAD_MAXSIZE": crawl.max_page_size,
        "DOWNLOAD_WARNSIZE": 0,
        "CONCURRENT_REQUESTS": crawl.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        # Scrapy works through a callback's output with this many asyncio tasks per response
        # (upstream issue #5182): 100, the default, made task bookkeeping a third of a crawl's
        # CPU. A response yields at most one article, and the pipeline is synchronous.
        "CONCURRENT_ITEMS": 1,
        "AUTOTHROTTLE_ENABLED": True,
        "AUTOTHROTTLE_START_DELAY": 0.25,
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 2.0,
        "RETRY_TIMES": 1,  # mirrors are the main retry; one more try on the last domain
        "RETRY_GIVE_UP_LOG_LEVEL": "WARNING",
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,  # no listening port of Scrapy's own on a user's machine
        "LOG_LEVEL": "WARNING",
        "STATS_DUMP": False,  # the spider logs them at DEBUG as one structured record
        "LOGSTATS_INTERVAL": 0,
        "LOG_INSTALL_ROOT_HANDLER": False,  # newswatch.logs owns the output
        "DEFAULT_DROPITEM_LOG_LEVEL": "DEBUG",  # seen / too old are routine; stats count them
        "DOWNLOADER_MIDDLEWARES": {
            # first of all (before offsite 50 and robots.txt 100): every request and redirect
            # hop, robots.txt included, is checked against internal addresses and odd ports
            "newswatch.spiders.egress.EgressMiddleware": 40,
            # before robots.txt (100) is consulted: a redirect out of the outlet goes nowhere
            "newswatch.spiders.failover.OutletBoundaryMiddleware": 60,
            # after the retry middleware (550) on the way back: a mirror is tried before a retry
            "newswatch.spiders.failover.MirrorFailoverMiddleware": 560,
            # Scrapy's own, except that a body over DOWNLOAD_MAXSIZE once decompressed is a
            # counted "too large" error, and sitemaps stay compressed (read as a stream)
            "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
            "newswatch.spiders.sizes.BoundedCompressionMiddleware": 590,
        },
        "ITEM_PIPELINES": {"newswatch.spiders.pipelines.AlertPipeline": 300},
    }
