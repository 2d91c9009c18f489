"""Mirror failover: a request an outlet domain fails is re-issued on the outlet's next domain.

Outlets publish mirrors precisely because their primary address gets blocked or goes down. A
refused connection, a timeout, a DNS or TLS failure, or an HTTP 403 / 451 / 5xx from one domain
moves the same path and query to the next domain in the configured order, before Scrapy's own
retry gets a turn. The domain that answers becomes the spider's live domain, so the rest of the
crawl starts there instead of paying for the dead one again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Self

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from twisted.internet import error as twisted_errors
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from newswatch.identity import outlet_host, same_path_on
from newswatch.spiders.mirrors import Candidate, host_of

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from newswatch.spiders.poll import OutletPoll

__all__ = ["FAILING_STATUSES", "MirrorFailoverMiddleware", "OutletBoundaryMiddleware"]

logger = logging.getLogger(__name__)

FAILING_STATUSES = frozenset({403, 451, *range(500, 600)})

_FAILING_EXCEPTIONS: tuple[type[BaseException], ...] = (
    twisted_errors.ConnectError,  # refused, DNS lookup, unreachable, TCP timeout
    twisted_errors.ConnectionLost,
    twisted_errors.ConnectionDone,
    twisted_errors.TimeoutError,
    twisted_errors.SSLError,
    TimeoutError,
    OSError,
)
try:  # names of newer Scrapy releases; older ones raise the Twisted errors above
    from scrapy.exceptions import (
        CannotResolveHostError,
        DownloadConnectionRefusedError,
        DownloadFailedError,
        DownloadTimeoutError,
        ResponseDataLossError,
    )

    _FAILING_EXCEPTIONS += (
        CannotResolveHostError,
        DownloadConnectionRefusedError,
        DownloadFailedError,
        DownloadTimeoutError,
        ResponseDataLossError,
    )
except ImportError:  # pragma: no cover - depends on the Scrapy release
    pass

_FAILING_EXCEPTIONS += (ResponseNeverReceived, ResponseFailed)


class MirrorFailoverMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        poll = self._poll(request)
        host = outlet_host(request.url, poll.domains) if poll else None
        if poll is None or host is None:
            return response
        if response.status in FAILING_STATUSES:
            if _is_robots(request):
                return response
            return self._next_domain(poll, request, f"HTTP {response.status}") or response
        poll.domain_answered(host)
        return response

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        poll = self._poll(request)
        if poll is None or not isinstance(exception, _FAILING_EXCEPTIONS) or _is_robots(request):
            return None
        if outlet_host(request.url, poll.domains) is None:
            return None
        return self._next_domain(poll, request, type(exception).__name__)

    def _next_domain(self, poll: OutletPoll, request: Request, reason: str) -> Request | None:
        host = outlet_host(request.url, poll.domains) or ""
        tried: list[str] = request.meta.get("mirrors_tried", [host])
        poll.domain_failed(host, reason)
        untried = [d for d in poll.domains_in_order() if d not in tried]
        stats = self.crawler.stats
        if not untried:
            if stats:
                stats.inc_value("newswatch/all_domains_failed")
            request.meta["failure_counted"] = True  # the errback must not count it again
            logger.debug(
                "%s: every domain failed for %s (last: %s)", poll.name, request.url, reason
            )
            return None
        following = untried[0]
        if stats:
            stats.inc_value("newswatch/failover")
        # DEBUG: the poll's own line says which domain answered and what failed
        logger.debug(
            "%s: %s on %s, trying %s",
            poll.name,
            reason,
            host,
            following,
            extra={"outlet": poll.name, "domain": host},
        )
        return request.replace(
            url=same_path_on(request.url, following, poll.outlet.scheme),
            meta={**request.meta, "mirrors_tried": [*tried, following]},
            dont_filter=True,
        )

    def _poll(self, request: Request) -> OutletPoll | None:
        spider = self.crawler.spider
        polls = getattr(spider, "polls", None)
        if polls is None:
            return None
        poll: OutletPoll | None = polls.get(request.meta.get("poll", ""))
        return poll


def _is_robots(request: Request) -> bool:
    """robots.txt belongs to the domain it is asked of; it never moves to a mirror."""
    return bool(request.meta.get("dont_obey_robotstxt")) and request.url.endswith("/robots.txt")


class OutletBoundaryMiddleware:
    """Runs first (before robots.txt is asked for): a redirect never leaves its outlet.

    A redirect to another domain may be the outlet moving house: its target becomes a candidate
    mirror (``newswatch.spiders.mirrors``), followed by later polls only once verified.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        """A redirect may move between the outlet's domains, never out of the outlet."""
        poll = self._poll(request)
        if (
            poll is None
            or "redirect_times" not in request.meta
            or request.meta.get("allow_offsite")
        ):
            return
        if outlet_host(request.url, poll.domains) is None:
            host = host_of(request.url)
            if host is not None and not request.meta.get("mirror_check"):
                origin = (request.meta.get("redirect_urls") or [request.url])[-1]
                poll.note_candidate(Candidate(host, "redirect", origin))
            poll.count_error("redirect_outside_outlet")
            raise IgnoreRequest(f"{poll.name}: redirect to {request.url} leaves the outlet")

    def _poll(self, request: Request) -> OutletPoll | None:
        polls = getattr(self.crawler.spider, "polls", None)
        return polls.get(request.meta.get("poll", "")) if polls is not None else None
