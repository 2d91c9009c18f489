"""The outlet spider: from an outlet's feeds and pages to extracted articles.

One spider instance crawls one outlet once. Every link is first turned into the article's
canonical URL (SPEC §4): links outside the outlet are never followed, and articles already seen
are not fetched again. Links written with any of the outlet's domains are fetched on the live
domain, the one that last answered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import scrapy
from scrapy.http import HtmlResponse, Response
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from newswatch.article import Article
from newswatch.config import Outlet
from newswatch.identity import canonical_url, outlet_host, same_path_on
from spiders.context import CrawlContext, OutletResult
from spiders.extraction import extract_article, parse_timestamp

__all__ = ["OutletSpider"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _FeedHint:
    """What a feed or sitemap already told us about an article before we fetch it."""

    title: str | None = None
    published: datetime | None = None


class OutletSpider(scrapy.Spider):
    name = "outlet"

    def __init__(self, outlet_name: str, outlet: Outlet, context: CrawlContext, **kwargs: Any):
        super().__init__(name=f"outlet:{outlet_name}", **kwargs)
        self.outlet_name = outlet_name
        self.outlet = outlet
        self.context = context
        self.allowed_domains = list(outlet.domains)
        self.live_domain = outlet.primary
        self.failed_domains: set[str] = set()
        self.requested: set[str] = set()
        self.result = context.results.setdefault(outlet_name, OutletResult(outlet_name))
        self._articles = re.compile(outlet.articles) if outlet.articles else None
        self._links = LinkExtractor(allow_domains=outlet.domains, unique=True)

    # --- domain health, kept by MirrorFailoverMiddleware -------------------------------------

    def domains_in_order(self) -> list[str]:
        """Live domain first, then the configured order, failed ones last."""
        ordered = [self.live_domain, *(d for d in self.outlet.domains if d != self.live_domain)]
        return [d for d in ordered if d not in self.failed_domains] + [
            d for d in ordered if d in self.failed_domains
        ]

    def domain_answered(self, domain: str) -> None:
        self.failed_domains.discard(domain)
        self.live_domain = domain
        self.result.reachable = True
        self.result.live_domain = domain

    def domain_failed(self, domain: str, reason: str) -> None:
        self.failed_domains.add(domain)
        self._count_error(reason)

    # --- discovery -----------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        for location in self.outlet.feeds:
            yield self._request(location, self.parse_feed)
        for location in self.outlet.sitemaps:
            yield self._request(location, self.parse_sitemap)
        for location in self.outlet.pages:
            yield self._request(location, self.parse_page)

    def _request(self, location: str, callback: Any) -> scrapy.Request:
        if location.startswith("/"):
            url = f"{self.outlet.scheme}://{self.live_domain}{location}"
        elif outlet_host(location, self.outlet.domains):
            url = same_path_on(location, self.live_domain, self.outlet.scheme)
        else:
            url = location  # a feed hosted elsewhere (e.g. a feed service), allowed explicitly
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_error,
            meta={"allow_offsite": True},
            dont_filter=True,
        )

    def parse_feed(self, response: Response) -> Iterator[scrapy.Request]:
        headers = {"content-type": (response.headers.get("Content-Type") or b"").decode("latin-1")}
        feed = feedparser.parse(response.body, response_headers=headers)
        if feed.bozo and not feed.entries:
            self._count_error("feed_unreadable")
            logger.warning(
                "%s: feed %s is not a readable RSS/Atom feed (%s)",
                self.outlet_name,
                response.url,
                getattr(feed, "bozo_exception", "unknown problem"),
            )
            return
        for entry in feed.entries:
            link = entry.get("link") or entry.get("id")
            if not link:
                continue
            published = entry.get("published_parsed") or entry.get("updated_parsed")
            hint = _FeedHint(
                title=entry.get("title"),
                published=datetime(*published[:6]).replace(tzinfo=UTC) if published else None,
            )
            yield from self._follow_article(response.urljoin(link), hint)

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        try:
            sitemap = Sitemap(response.body)
        except Exception as exc:  # lxml raises several kinds; a bad sitemap must not end the crawl
            self._count_error("sitemap_unreadable")
            logger.warning("%s: sitemap %s unreadable (%s)", self.outlet_name, response.url, exc)
            return
        for entry in sitemap:
            location = entry.get("loc")
            if not location:
                continue
            if sitemap.type == "sitemapindex":
                if outlet_host(location, self.outlet.domains):
                    yield self._request(location, self.parse_sitemap)
                continue
            hint = _FeedHint(published=parse_timestamp(entry.get("lastmod")))
            yield from self._follow_article(location, hint)

    def parse_page(self, response: Response) -> Iterator[scrapy.Request]:
        if not isinstance(response, HtmlResponse):
            self._count_error("page_not_html")
            logger.warning("%s: page %s is not HTML, skipped", self.outlet_name, response.url)
            return
        for link in self._links.extract_links(response):
            yield from self._follow_article(link.url, _FeedHint())

    def _follow_article(self, url: str, hint: _FeedHint) -> Iterator[scrapy.Request]:
        canonical = canonical_url(url, self.outlet.domains, self.outlet.scheme)
        if canonical is None or canonical in self.requested:
            return
        if self._articles is not None and not self._articles.search(_path_of(canonical)):
            return
        self.requested.add(canonical)
        if self.context.store.is_seen(canonical):
            self._stat("newswatch/articles_already_seen")
            return
        yield scrapy.Request(
            # the canonical form: tracking parameters are dropped before fetching, too
            same_path_on(canonical, self.live_domain, self.outlet.scheme),
            callback=self.parse_article,
            errback=self.on_error,
            meta={"canonical": canonical, "hint": hint},
        )

    # --- articles ------------------------------------------------------------------------------

    def parse_article(self, response: Response) -> Iterator[Article]:
        if not isinstance(response, HtmlResponse):
            self._count_error("article_not_html")
            return
        extracted = extract_article(response.text, response.url)
        if extracted is None:
            self._stat("newswatch/articles_without_text")
            return
        canonical: str = response.meta["canonical"]
        if extracted.canonical:
            canonical = (
                canonical_url(extracted.canonical, self.outlet.domains, self.outlet.scheme)
                or canonical
            )
        hint: _FeedHint = response.meta.get("hint") or _FeedHint()
        self.result.articles += 1
        yield Article(
            outlet=self.outlet_name,
            url=canonical,
            fetched_from=response.url,
            title=extracted.title or (hint.title or "").strip(),
            text=extracted.text,
            published=hint.published or extracted.published,
            language=extracted.language or self.outlet.language,
        )

    def on_error(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        kind = failure.type.__name__ if failure.type else "error"
        if failure.check(scrapy.exceptions.IgnoreRequest):
            return
        self._count_error(kind)
        logger.warning(
            "%s: %s failed: %s",
            self.outlet_name,
            request.url if request else "request",
            failure.getErrorMessage() or kind,
        )

    def _count_error(self, kind: str) -> None:
        self.result.errors[kind] = self.result.errors.get(kind, 0) + 1
        self._stat(f"newswatch/errors/{kind}")

    def _stat(self, key: str) -> None:
        if self.crawler.stats:
            self.crawler.stats.inc_value(key)


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
