"""The news spider: polls outlets, from their feeds, sitemaps and pages to extracted articles.

One spider serves every outlet: each request carries the name of the outlet poll it belongs to,
so a single crawler engine can be fed polls for thousands of outlets. Every link is first turned
into the article's canonical URL: links outside the outlet are never followed, and
articles already seen are not fetched again unless their feed says they changed. Links written
with any of the outlet's domains are fetched on the live domain, the one that last answered.
Feeds and sitemaps are fetched conditionally (ETag / Last-Modified), so an unchanged one costs a
single 304.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.linkextractors import LinkExtractor
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads
from twisted.python.failure import Failure

from newswatch.article import Article, is_unseen
from newswatch.config import Config
from newswatch.errors import StoreError
from newswatch.health import OutletStatus
from newswatch.identity import canonical_url, outlet_host, same_path_on
from newswatch.spiders.analysis import PageReader, default_workers
from newswatch.spiders.context import CrawlContext
from newswatch.spiders.discovery import DiscoveredLink, Discovery, read_feed, read_sitemap
from newswatch.spiders.mirror_checks import MirrorChecks
from newswatch.spiders.poll import OutletPoll
from newswatch.spiders.sizes import is_too_large

__all__ = ["ArticleItem", "NewsSpider", "poll_ending"]

logger = logging.getLogger("newswatch.crawl")

# Sent (with ``poll=``) just before a poll's results are written: whatever a component still
# holds for the poll must reach the store now, so that the next poll sees it.
poll_ending = object()

# A configured sitemap is level 1; real sites nest an index and its sitemaps (2 levels), so a
# deeper chain is broken or hostile, and reading it could keep a poll going for ever.
MAX_SITEMAP_LEVELS = 5

Callback = Callable[[Response], Iterator[Any]] | Callable[[Response], AsyncIterator[Any]]
_LISTING_KINDS = {
    "parse_feed": "feed",
    "parse_sitemap": "sitemap",
    "parse_page": "page",
    "parse_mirror_list": "mirror_list",
}
PollFinished = Callable[[OutletPoll], None]


@dataclass(frozen=True)
class ArticleItem:
    """An extracted article and the poll that found it (the pipeline reports back to it)."""

    article: Article
    poll: str
    # The spider found its URL unseen just before fetching it; when the page names another
    # canonical URL, the pipeline must look that one up (another copy may have been read).
    checked_unseen: bool = False

    def __repr__(self) -> str:  # Scrapy logs the items it drops: never the article's text
        return f"ArticleItem({self.article.outlet} {self.article.url})"


def _within_poll(
    callback: Callable[[NewsSpider, OutletPoll, Response], Iterator[Any]],
) -> Callable[[NewsSpider, Response], Iterator[Any]]:
    """Run a callback for the poll its request belongs to, and count the request as answered.

    An answer whose poll has already ended (it was abandoned as hung) is ignored.
    """

    @functools.wraps(callback)
    def wrapper(spider: NewsSpider, response: Response) -> Iterator[Any]:
        poll = spider.poll_for(response.request) if response.request else None
        if poll is None:
            return
        try:
            yield from callback(spider, poll, response)
        except StoreError as exc:
            spider.context.store_failed(poll.name, exc, f"{response.url} was not read through")
        finally:
            spider._done(poll)

    return wrapper


class NewsSpider(MirrorChecks, scrapy.Spider):
    name = "newswatch"

    def __init__(
        self,
        context: CrawlContext,
        outlets: list[str],
        keep_alive: bool = False,
        on_poll_finished: PollFinished | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.context = context
        self.initial_outlets = outlets
        self.keep_alive = keep_alive  # the service: stay open, idle, waiting for polls
        self.on_poll_finished = on_poll_finished
        self.polls: dict[str, OutletPoll] = {}  # in flight, by poll key
        self._poll_numbers = itertools.count(1)
        self._deadlines: dict[str, Any] = {}  # poll key -> its crawl.poll_timeout call
        # No allowed_domains: every link is checked against its own outlet's domains in
        # _follow, and redirects by MirrorFailoverMiddleware, which also holds after a reload.
        self._article_patterns: dict[str, re.Pattern[str]] = {}
        self._reader: PageReader | None = None  # started at the first article
        self._reader_config: Config | None = None  # the config it was started for
        self._resolving = 0  # candidate mirrors' names being resolved (off the reactor thread)
        self._lookup_threads = 0  # threads looking up those names, alive
        self.reconfigure(context)

    def reconfigure(self, context: CrawlContext) -> None:
        """A reloaded config: later polls use it; polls in flight finish with what they had."""
        self.context = context
        self._article_patterns = {
            name: re.compile(outlet.articles)
            for name, outlet in context.config.outlets.items()
            if outlet.articles
        }

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        spider: NewsSpider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._idle, signal=signals.spider_idle)
        return spider

    def _idle(self) -> None:
        if self.keep_alive or self._resolving:  # a poll waits for names to go on verifying
            raise DontCloseSpider

    # --- polls -----------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        self._page_reader()  # its workers start while the feeds are fetched
        for name in self.initial_outlets:
            for request in self.begin_poll(name):
                yield request

    def poll(self, name: str) -> OutletPoll:
        """Start a poll of an outlet in the running engine (the service's scheduler calls this)."""
        requests = self.begin_poll(name)
        poll = self.polls[requests[0].meta["poll"]]
        for request in requests:
            self.crawler.engine.crawl(request)
        return poll

    def begin_poll(self, name: str) -> list[scrapy.Request]:
        """Start one poll of an outlet: its feeds, sitemaps and pages on the best domain."""
        outlet = self.context.config.outlets[name]
        status = OutletStatus.from_json(self.context.store.outlet_status(name))
        crawl = self.context.config.crawl
        poll = OutletPoll(
            name,
            outlet,
            status,
            crawl.mirror_cooldown,
            crawl.max_articles_per_poll,
            crawl.dark_after,
        )
        poll.key = f"{name}#{next(self._poll_numbers)}"
        poll.discovers = poll.discovers and not self.context.dry_run
        self.polls[poll.key] = poll
        self._deadlines[poll.key] = self._reactor().callLater(
            crawl.poll_timeout.total_seconds(), self._expire, poll.key
        )
        self.context.results[name] = poll.result
        requests = [self._listing(poll, loc, self.parse_feed) for loc in outlet.feeds]
        sitemaps = (self._sitemap(poll, loc, level=1) for loc in outlet.sitemaps)
        requests += [request for request in sitemaps if request is not None]
        requests += [
            self._listing(poll, loc, self.parse_page, conditional=False) for loc in outlet.pages
        ]
        if poll.discovers:
            requests += [
                self._listing(poll, loc, self.parse_mirror_list) for loc in outlet.mirror_lists
            ]
        return requests

    def closed(self, reason: str) -> None:
        for poll in list(self.polls.values()):  # still waiting for answers: cut short
            self.end_poll(poll, f"the crawl stopped: {reason}")
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        if stats:  # for -v: the poll lines carry what an operator needs
            plain = {
                key: value if isinstance(value, int | float) else str(value)
                for key, value in sorted(stats.items())
            }
            logger.debug("crawl statistics: %s", json.dumps(plain), extra={"stats": plain})
        if self._reader is not None:
            self._reader.close()

    def end_poll(self, poll: OutletPoll, cut_short: str | None = None) -> None:
        """Write what the poll learned; late answers to its requests are then ignored.

        ``cut_short`` says why a poll ends before its last answer (see ``OutletPoll.finish``).
        """
        self.polls.pop(poll.key, None)
        deadline = self._deadlines.pop(poll.key, None)
        if deadline is not None and deadline.active():
            deadline.cancel()
        try:
            self.crawler.signals.send_catch_log(poll_ending, poll=poll)
            poll.finish(self.context.store, cut_short, self.context.notices)
        except StoreError as exc:
            self.context.store_failed(poll.name, exc, "the poll's outlet status was not saved")
        finally:
            if self.on_poll_finished is not None:
                self.on_poll_finished(poll)

    def _expire(self, key: str) -> None:
        """A poll's deadline: whatever keeps it going (a slow or endless site), it ends now."""
        self._deadlines.pop(key, None)
        poll = self.polls.get(key)
        if poll is not None:
            timeout = self.context.config.crawl.poll_timeout
            self.end_poll(poll, f"still running after crawl.poll_timeout {timeout}")

    @staticmethod
    def _reactor() -> Any:
        from twisted.internet import reactor

        return reactor

    def poll_for(self, request: scrapy.Request) -> OutletPoll | None:
        return self.polls.get(request.meta.get("poll", ""))

    def _track(self, poll: OutletPoll, request: scrapy.Request) -> scrapy.Request:
        poll.outstanding += 1
        return request

    def item_done(self, poll_key: str) -> None:
        """Called by the pipeline: the poll ends only after its last article was handled."""
        poll = self.polls.get(poll_key)
        if poll is not None:
            self._done(poll)

    def _done(self, poll: OutletPoll) -> None:
        poll.outstanding -= 1
        if poll.outstanding <= 0 and poll.key in self.polls and not self._verify_mirrors(poll):
            self.end_poll(poll)

    # --- listings: feeds, sitemaps, pages --------------------------------------------------------

    def _listing(
        self, poll: OutletPoll, location: str, callback: Callback, conditional: bool = True
    ) -> scrapy.Request:
        outlet = poll.outlet
        meta: dict[str, Any] = {
            "poll": poll.key,
            "resource": f"{poll.name} {location}",
            "listing": _LISTING_KINDS.get(getattr(callback, "__name__", ""), "page"),
        }
        if location.startswith("/"):
            url = f"{outlet.scheme}://{poll.live_domain}{location}"
        elif outlet_host(location, poll.domains):
            url = same_path_on(location, poll.live_domain, outlet.scheme)
        else:
            url = location  # hosted elsewhere (a feed service): allowed explicitly, no failover
            meta["allow_offsite"] = True
        headers: dict[str, str] = {}
        if conditional:
            meta["handle_httpstatus_list"] = [304]
            etag, modified = self.context.store.validators(meta["resource"])
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
        request = scrapy.Request(
            url,
            callback=callback,
            errback=self.on_error,
            meta=meta,
            headers=headers,
            dont_filter=True,
        )
        return self._track(poll, request)

    def _unchanged(self, poll: OutletPoll, response: Response) -> bool:
        """Count the fetch; on 304 there is nothing to read, else remember the validators."""
        poll.result.pages += 1
        if response.status == 304:
            poll.not_modified += 1
            self._stat("newswatch/not_modified")
            return True
        resource = response.meta.get("resource")
        if resource and "handle_httpstatus_list" in response.meta:
            self.context.store.save_validators(
                resource, _header(response, b"ETag"), _header(response, b"Last-Modified")
            )
        return False

    @_within_poll
    def parse_feed(self, poll: OutletPoll, response: Response) -> Iterator[scrapy.Request]:
        if self._unchanged(poll, response):
            return
        found = read_feed(response.body, response.url, _header(response, b"Content-Type"))
        self._report(poll, response, found, "feed", "RSS/Atom feed")
        yield from self._follow(poll, found.links)

    async def parse_sitemap(self, response: Response) -> AsyncIterator[scrapy.Request]:
        poll = self.poll_for(response.request) if response.request else None
        if poll is None:
            return  # the poll was abandoned as hung
        try:
            if self._unchanged(poll, response):
                return
            # A sitemap of 50 MB takes seconds to read: off the reactor thread, so downloads and
            # timeouts go on meanwhile (the poll's other requests must not time out waiting).
            found = await maybe_deferred_to_future(
                threads.deferToThread(self._read_sitemap, poll, response)
            )
            if poll.key not in self.polls:
                return  # it ended (its deadline passed) while the sitemap was read
            for request in self._sitemap_links(poll, response, found):
                yield request
        finally:
            self._done(poll)

    def _read_sitemap(self, poll: OutletPoll, response: Response) -> Discovery:
        oldest = datetime.now(UTC) - self.context.config.max_age

        def recent(link: DiscoveredLink) -> bool:  # older than max_age: it could never alert
            moment = link.published or link.updated
            return moment is None or moment >= oldest

        # read as a stream; old entries are dropped as they are read, so are never held
        return read_sitemap(response.body, response.url, keep=recent)

    def _sitemap_links(
        self, poll: OutletPoll, response: Response, found: Discovery
    ) -> Iterator[scrapy.Request]:
        if found.skipped:
            self._stat("newswatch/sitemap_entries_too_old", found.skipped)
        if found.too_large:
            poll.count_error("sitemap_too_large")
            self._stat("newswatch/sitemaps_too_large")
            logger.warning(
                "%s: sitemap %s read only in part: %s (the limit of one sitemap); "
                "using the %d links read so far",
                poll.name,
                response.url,
                found.too_large,
                len(found.links),
            )
        else:
            self._report(poll, response, found, "sitemap", "sitemap")
        level = response.meta.get("sitemap_level", 1)
        articles: list[DiscoveredLink] = []
        for link in found.links:
            if not link.is_sitemap:
                articles.append(link)
            elif outlet_host(link.url, poll.domains):
                request = self._sitemap(poll, _path_of(link.url), level + 1)
                if request is not None:
                    yield request
        yield from self._follow(poll, articles)

    def _sitemap(self, poll: OutletPoll, location: str, level: int) -> scrapy.Request | None:
        """A request for a sitemap, or None when it was already read in this poll or is too deep.

        Sitemap indexes can list themselves, list each other or nest without end; without this a
        poll fetches them for ever and never ends, so nothing is delivered. A sitemap listed
        again is common and harmless (INFO); one nested too deep may hide articles (WARNING,
        counted as the poll's error).
        """
        key = _path_of(location) if _on_outlet(location, poll) else location.split("#", 1)[0]
        if level > MAX_SITEMAP_LEVELS:
            self._stat("newswatch/sitemaps_too_deep")
            if poll.first_skip(f"deep {key}"):
                poll.count_error("sitemap_too_deep")
                logger.warning(
                    "%s: sitemap %s skipped: nested deeper than %d sitemaps",
                    poll.name,
                    self._sitemap_url(poll, key),
                    MAX_SITEMAP_LEVELS,
                )
            return None
        if not poll.claim_sitemap(key):
            self._stat("newswatch/sitemaps_already_read")
            if poll.first_skip(f"read {key}"):
                logger.info(
                    "%s: sitemap %s skipped: already read in this poll",
                    poll.name,
                    self._sitemap_url(poll, key),
                )
            return None
        request = self._listing(poll, location, self.parse_sitemap)
        request.meta["sitemap_level"] = level
        request.meta["stream_gzip"] = True  # kept compressed: read_sitemap gunzips it as a stream
        return request

    @staticmethod
    def _sitemap_url(poll: OutletPoll, key: str) -> str:
        """The URL a sitemap's key stands for, as it is fetched now (on the live domain)."""
        if key.startswith("/"):
            return f"{poll.outlet.scheme}://{poll.live_domain}{key}"
        return key

    @_within_poll
    def parse_page(self, poll: OutletPoll, response: Response) -> Iterator[scrapy.Request]:
        poll.result.pages += 1
        if not isinstance(response, HtmlResponse):
            poll.count_error("page_not_html")
            logger.warning("%s: page %s is not HTML, skipped", poll.name, response.url)
            return
        self._announced(poll, response)
        extractor = LinkExtractor(allow_domains=poll.domains, unique=True)
        links = extractor.extract_links(response)
        yield from self._follow(poll, (DiscoveredLink(url=link.url) for link in links))

    def _report(
        self, poll: OutletPoll, response: Response, found: Discovery, kind: str, label: str
    ) -> None:
        if found.problem is None:
            return
        if found.links:
            poll.count_error(f"{kind}_ill_formed")
            logger.info(
                "%s: %s %s is ill-formed (%s); read %d links anyway",
                poll.name,
                kind,
                response.url,
                found.problem,
                len(found.links),
            )
        else:
            poll.count_error(f"{kind}_unreadable")
            logger.warning(
                "%s: %s is not a readable %s (%s)", poll.name, response.url, label, found.problem
            )

    def _follow(
        self, poll: OutletPoll, links: Iterable[DiscoveredLink]
    ) -> Iterator[scrapy.Request]:
        """Requests for a listing's articles that are new, or changed since they were read."""
        outlet = poll.outlet
        pattern = self._article_patterns.get(poll.name)
        wanted: dict[str, DiscoveredLink] = {}
        for link in links:
            canonical = canonical_url(link.url, poll.domains, outlet.scheme)
            if canonical is None or canonical in poll.requested or canonical in wanted:
                continue
            if pattern is not None and not pattern.search(_path_of(canonical)):
                continue
            wanted[canonical] = link
        poll.requested.update(wanted)
        seen = self.context.store.seen_versions(poll.name, list(wanted))  # one round trip
        unseen: list[tuple[str, DiscoveredLink]] = []
        for (canonical, link), version in zip(wanted.items(), seen, strict=True):
            if is_unseen(version, link.updated):
                unseen.append((canonical, link))
            else:
                self._stat("newswatch/articles_already_seen")
        unseen.sort(key=_newest_first)
        granted = poll.take_articles(len(unseen))
        if granted < len(unseen):
            self._stat("newswatch/articles_left_for_next_poll", len(unseen) - granted)
        for rank, (canonical, link) in enumerate(unseen[:granted]):
            yield self._track(
                poll,
                scrapy.Request(
                    # the canonical form: tracking parameters are dropped before fetching, too
                    same_path_on(canonical, poll.live_domain, outlet.scheme),
                    callback=self.parse_article,
                    errback=self.on_error,
                    meta={"poll": poll.key, "canonical": canonical, "link": link},
                    dont_filter=True,
                    # Scrapy's queues are last in, first out: without a priority the oldest
                    # article would be fetched first. Below zero, so listings still go first.
                    priority=-1 - rank,
                ),
            )

    # --- articles --------------------------------------------------------------------------------

    async def parse_article(self, response: Response) -> AsyncIterator[ArticleItem]:
        poll = self.poll_for(response.request) if response.request else None
        if poll is None:
            return  # the poll was abandoned as hung
        try:
            item = await self._article(poll, response)
            if item is not None:
                poll.outstanding += 1  # until the pipeline has handled the article (item_done)
                yield item
        finally:
            self._done(poll)

    async def _article(self, poll: OutletPoll, response: Response) -> ArticleItem | None:
        if not isinstance(response, HtmlResponse):
            poll.count_error("article_not_html")
            self._stat("newswatch/articles_not_html")
            return None
        look = self._look_for(poll, response)
        listed: DiscoveredLink | None = response.meta.get("link")
        clues = None
        try:
            reading, clues = await self._page_reader().read(
                response.body,
                response.url,
                response.headers.get(b"Content-Type"),
                look,
                dated=listed is not None and listed.published is not None,
            )
        finally:  # the poll's count of fingerprints in the works comes down whatever happened
            if look is not None:
                self._take_clues(poll, response, look, clues)
        if reading is None or (reading.judged and not reading.text):
            self._stat("newswatch/articles_without_text")
            return None
        if not reading.judged:  # no watch term anywhere on the page: where words sit is moot
            self._stat("newswatch/articles_without_watch_terms")
        outlet = poll.outlet
        requested: str = response.meta["canonical"]
        canonical = requested
        if reading.canonical:
            canonical = canonical_url(reading.canonical, poll.domains, outlet.scheme) or canonical
        link = listed or DiscoveredLink(url=canonical)
        poll.result.articles += 1
        article = Article(
            outlet=poll.name,
            url=canonical,
            fetched_from=response.url,
            title=reading.title or " ".join((link.title or "").split()),
            text=reading.text,
            published=link.published or reading.published,
            language=reading.language or outlet.language,
            updated=link.updated,
        )
        return ArticleItem(article, poll.key, checked_unseen=canonical == requested)

    def _page_reader(self) -> PageReader:
        """The reader for the watches of the config in force (a reload may have changed them)."""
        config = self.context.config
        if self._reader is not None and self._reader_config is config:
            return self._reader
        queries = {name: watch.query for name, watch in config.watches.items()}
        if self._reader is None or self._reader.queries != queries:
            if self._reader is not None:
                self._reader.close(wait=False)  # it finishes the pages it was given
            workers = self.settings.getint("NEWSWATCH_PAGE_READERS", default_workers())
            self._reader = PageReader(queries, workers)
            self._reader.start()
        self._reader_config = config
        return self._reader

    def failed_in_poll(self, failure: Failure) -> tuple[OutletPoll, scrapy.Request] | None:
        """The poll and request a download failure belongs to; None when the poll is over."""
        request: scrapy.Request | None = getattr(failure, "request", None)
        poll = self.poll_for(request) if request is not None else None
        return (poll, request) if poll is not None and request is not None else None

    def on_error(self, failure: Failure) -> None:
        failed = self.failed_in_poll(failure)
        if failed is None:
            return
        poll, request = failed
        try:
            if failure.value is not None and is_too_large(failure.value):
                self._too_large(poll, request)
                return
            if failure.check(IgnoreRequest):
                return  # robots.txt or offsite: decided, not failed
            if not request.meta.get("failure_counted"):
                poll.count_error(_error_kind(failure))
            logger.warning(
                "%s: %s failed: %s",
                poll.name,
                request.url if request else "?",
                _error_text(failure),
            )
        finally:
            self._done(poll)

    def _too_large(self, poll: OutletPoll, request: scrapy.Request) -> None:
        """A body over crawl.max_page_size: an error of that URL, not of the outlet's domain.

        The domain answered (it sent the headers, or the start of the body), so it counts as
        up and no mirror is tried: the same file is as large there.
        """
        kind = request.meta.get("listing") or ("article" if "canonical" in request.meta else "page")
        host = outlet_host(request.url, poll.domains)
        if host is not None:
            poll.domain_answered(host)
        poll.count_error(f"{kind}_too_large")
        self._stat(f"newswatch/{kind}s_too_large")
        logger.warning(
            "%s: %s failed: %s too large: over crawl.max_page_size (%d bytes)",
            poll.name,
            request.url,
            kind,
            self.context.config.crawl.max_page_size,
        )

    def _stat(self, key: str, count: int = 1) -> None:
        if self.crawler.stats:
            self.crawler.stats.inc_value(key, count)


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _newest_first(entry: tuple[str, DiscoveredLink]) -> tuple[bool, float]:
    """Sort key: dated links newest first, then undated ones in listing order (sort is stable).

    Under the per-poll article cap the newest articles are the ones worth fetching now.
    """
    link = entry[1]
    moment = link.published or link.updated
    return (moment is None, -moment.timestamp() if moment is not None else 0.0)


def _on_outlet(location: str, poll: OutletPoll) -> bool:
    """A path, or an absolute URL on one of the outlet's domains (the same file on each)."""
    return location.startswith("/") or outlet_host(location, poll.domains) is not None


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _error_kind(failure: Failure) -> str:
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    return failure.type.__name__ if failure.type else "error"


def _error_text(failure: Failure) -> str:
    response = getattr(failure.value, "response", None)
    if response is not None:
        return f"HTTP {response.status}"
    return " ".join((failure.getErrorMessage() or _error_kind(failure)).split())[:300]
