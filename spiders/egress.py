"""Egress rule: a crawl never reaches inside the network unless the user configured that host.

Every request the downloader sees passes here first: feeds, sitemaps, pages and articles, the
robots.txt requests Scrapy makes of its own accord, and each hop of every redirect. A request is
refused when its target

- is on a port other than its scheme's default (80 for http, 443 for https), or
- is, or resolves to, a loopback, private, link-local, multicast, reserved, unspecified or
  otherwise non-global address,

unless the config names that exact host (an outlet domain, on the default ports) or host:port
(the host of an absolute feed, sitemap or page URL). Host names are resolved with
``getaddrinfo`` off the reactor thread, at most once per host every ten minutes; a name that does
not resolve here is left to the download (it fails, or a proxy resolves it). Only http and https
go over the network. With a proxy configured the rule holds all the same: it is about the target
in the URL, never about the proxy's own address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import threads

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from newswatch.config import Config, Outlet
    from newswatch.spiders.poll import OutletPoll

__all__ = ["EgressMiddleware", "address_problem", "configured_targets", "outlet_targets"]

logger = logging.getLogger("newswatch.crawl")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
HostPort = tuple[str, int]

DEFAULT_PORTS = {"http": 80, "https": 443}
RESOLVED_FOR = 600.0  # seconds a host's addresses are reused (the service's crawl runs for months)


def address_problem(address: Address) -> str | None:
    """Why ``address`` is no place for a crawler to go, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if not address.is_global:
        return "not a public address"
    return None


def configured_targets(config: Config) -> set[HostPort]:
    """The host:port pairs the user named: outlet domains, hosts of absolute locations."""
    return {target for outlet in config.outlets.values() for target in outlet_targets(outlet)}


def outlet_targets(outlet: Outlet) -> set[HostPort]:
    """An outlet's domains on the default ports, and the host:port of its absolute locations."""
    targets = {(domain, port) for domain in outlet.domains for port in DEFAULT_PORTS.values()}
    for location in (*outlet.feeds, *outlet.sitemaps, *outlet.pages):
        if not location.startswith("/"):
            target = _target(location)
            if target is not None:
                targets.add(target)
    return targets


def _target(url: str) -> HostPort | None:
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".").lower()
    return (host, port) if host else None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id is no address
    except ValueError:
        return None


def _resolve(host: str) -> tuple[Address, ...]:
    """Every address ``host`` resolves to here; none when it does not resolve."""
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    found: list[Address] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = _literal(str(sockaddr[0]))
        if address is not None and address not in found:
            found.append(address)
    return tuple(found)


class EgressMiddleware:
    """Runs first among the downloader middlewares, so it sees every request and redirect hop."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._resolved: dict[str, tuple[float, tuple[Address, ...]]] = {}  # expiry, addresses
        self._warned: set[HostPort] = set()
        self._config: Config | None = None
        self._allowed: set[HostPort] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        target = _target(request.url)
        if target is None:
            return  # no host (data:, file:, a broken URL): nothing on the network to guard
        host, port = target
        if target in self._allowed_targets():
            return
        problem = await self._address_problem(host)
        if problem:
            self._refuse(request, target, "internal_address", problem)
        scheme = urlsplit(request.url).scheme.lower()
        if scheme not in DEFAULT_PORTS:
            self._refuse(request, target, "port", f"{scheme}: is neither http nor https")
        if port != DEFAULT_PORTS[scheme]:
            self._refuse(request, target, "port", f"port {port} is not the {scheme} default")

    async def _address_problem(self, host: str) -> str | None:
        """Why ``host`` is, or resolves to, an internal address; None when it does not."""
        literal = _literal(host)
        if literal is not None:
            problem = address_problem(literal)
            return f"{host} is {problem}" if problem else None
        expires, addresses = self._resolved.get(host, (0.0, ()))
        if expires <= time.monotonic():
            addresses = await maybe_deferred_to_future(threads.deferToThread(_resolve, host))
            self._resolved[host] = (time.monotonic() + RESOLVED_FOR, addresses)
        for address in addresses:
            problem = address_problem(address)
            if problem:
                return f"{host} resolves to {address}, {problem}"
        return None

    def _allowed_targets(self) -> set[HostPort]:
        """From the config in force: a reload may have added or removed hosts."""
        context: Any = getattr(self.crawler.spider, "context", None)
        config: Config | None = getattr(context, "config", None)
        if config is None:
            return set()
        if config is not self._config:
            self._config = config
            self._allowed = configured_targets(config)
        return self._allowed

    def _refuse(self, request: Request, target: HostPort, kind: str, reason: str) -> None:
        poll = self._poll(request)
        if poll is not None:
            poll.count_error(f"refused_{kind}")
        stats = self.crawler.stats
        if stats:
            stats.inc_value(f"newswatch/egress_refused/{kind}")
        if target not in self._warned:
            self._warned.add(target)
            origin = request.meta.get("redirect_urls", [])
            logger.warning(
                "%srefused request to %s: %s, and the config does not name %s:%d%s",
                f"{poll.name}: " if poll else "",
                request.url,
                reason,
                *target,
                f" (redirected from {origin[0]})" if origin else "",
            )
        raise IgnoreRequest(f"refused request to {request.url}: {reason}")

    def _poll(self, request: Request) -> OutletPoll | None:
        """The poll a request belongs to; robots.txt requests carry none, so go by their host."""
        polls: dict[str, OutletPoll] | None = getattr(self.crawler.spider, "polls", None)
        if not polls:
            return None
        poll = polls.get(request.meta.get("poll", ""))
        if poll is not None:
            return poll
        first = _target((request.meta.get("redirect_urls") or [request.url])[0])
        if first is None:
            return None
        for candidate in polls.values():
            if first in outlet_targets(candidate.outlet):
                return candidate
        return None
