"""The news spider's part in finding mirrors: collect what a poll announces, verify it at the end.

While a poll crawls, every HTML page it reads on the outlet is looked at for announced
addresses (``newswatch.spiders.mirrors``), the outlet's published mirror lists are read, and a
few of its articles are kept as samples (path and content fingerprint). When the poll's last
answer is in, before it ends, the candidates are verified (``newswatch.spiders.verification``):
their names resolved off the reactor thread, then the samples' paths asked of them. The poll
ends after the last of those answers, and ``OutletPoll.finish`` stores the verdicts.

Verifying at the end of the poll that found a candidate, rather than in a later one, is what
lets the very next poll fail over to it when every configured domain goes dark meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import HtmlResponse, Response
from twisted.internet import defer
from twisted.python.failure import Failure

from newswatch.identity import outlet_host, same_path_on
from newswatch.mirrors import MAX_SAMPLES, ArticleSample
from newswatch.spiders.analysis import Look, MirrorClues
from newswatch.spiders.mirrors import Candidate, announced_hosts, hosts_in_list
from newswatch.spiders.poll import MAX_VERIFIED_PER_POLL
from newswatch.spiders.verification import (
    NEEDED,
    Check,
    addresses_problem,
    compare,
    page_fingerprint,
)

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from newswatch.spiders.analysis import PageReader
    from newswatch.spiders.context import CrawlContext
    from newswatch.spiders.poll import OutletPoll

__all__ = ["MAX_EXAMINED", "MirrorChecks"]

logger = logging.getLogger("newswatch.crawl")

# Seconds a poll waits for its candidates' names. A resolver that hangs (a name server that
# drops queries, a name that does not exist where queries time out) must not hold the poll, and
# so a `run --once`, open: the candidates wait for the next poll instead.
RESOLVE_WITHIN = 3.0
# Lookup threads alive at once, over all polls. Past the wait above a thread lives on until the
# system resolver gives up; with a resolver that hangs for every name, the candidates beyond
# this many wait for a later poll (counted as newswatch/mirror_lookups_put_off).
MAX_LOOKUP_THREADS = 16

# Articles of one poll looked at for announcements (by the page readers: a parse costs a few
# milliseconds): a footer or a banner is on every page, so two per poll find it.
MAX_EXAMINED = 2


class MirrorChecks:
    """Mixed into ``NewsSpider``: what it does for ``discover_mirrors``."""

    if TYPE_CHECKING:
        context: CrawlContext
        crawler: Crawler
        polls: dict[str, OutletPoll]
        _resolving: int
        _lookup_threads: int

        def _stat(self, key: str, count: int = 1) -> None: ...

        def _track(self, poll: OutletPoll, request: scrapy.Request) -> scrapy.Request: ...
        def _page_reader(self) -> PageReader: ...
        def _done(self, poll: OutletPoll) -> None: ...
        def end_poll(self, poll: OutletPoll, cut_short: str | None = None) -> None: ...
        def poll_for(self, request: scrapy.Request) -> OutletPoll | None: ...
        def failed_in_poll(self, failure: Failure) -> tuple[OutletPoll, scrapy.Request] | None: ...

    def _announced(self, poll: OutletPoll, response: Response) -> None:
        """Note the addresses a listing page of the outlet announces (its links are extracted
        on this thread anyway, so the parsed page is at hand)."""
        if poll.discovers and isinstance(response, HtmlResponse):
            for candidate in announced_hosts(response.selector.root, response.url, poll.domains):
                poll.note_candidate(candidate)
            self._look_up_soon(poll)

    def _look_for(self, poll: OutletPoll, response: HtmlResponse) -> Look | None:
        """An article's part in finding mirrors, done by the page reader with its reading: the
        addresses it announces (the first few articles of each poll: a footer or a banner is
        on every page), and its content fingerprint while the poll has too few samples from a
        configured domain (what candidates must serve too). None: nothing to look for."""
        if not poll.discovers:
            return None
        examine = poll.examined < MAX_EXAMINED
        sample = len(poll.samples) + poll.sampling < _samples_wanted(poll) and (
            outlet_host(response.url, poll.outlet.domains) is not None
        )
        if not (examine or sample):
            return None
        poll.examined += examine
        poll.sampling += sample
        return Look(tuple(poll.domains) if examine else None, sample)

    def _take_clues(
        self, poll: OutletPoll, response: HtmlResponse, look: Look, clues: MirrorClues | None
    ) -> None:
        """What the reader found on a page it was asked to look at (``_look_for``)."""
        poll.sampling -= look.sample
        if clues is None:
            return
        for candidate in clues.candidates:
            poll.note_candidate(candidate)
        self._look_up_soon(poll)
        if clues.fingerprint is not None and len(poll.samples) < _samples_wanted(poll):
            parts = urlsplit(response.url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            poll.samples.append(ArticleSample(path, clues.fingerprint))

    def parse_mirror_list(self, response: Response) -> Iterator[Any]:
        poll = self.poll_for(response.request) if response.request else None
        if poll is None:
            return
        try:
            poll.result.pages += 1
            if response.status == 304:
                return
            resource = response.meta.get("resource")
            if resource:
                etag = response.headers.get(b"ETag")
                modified = response.headers.get(b"Last-Modified")
                self.context.store.save_validators(
                    resource,
                    etag.decode("latin-1") if etag else None,
                    modified.decode("latin-1") if modified else None,
                )
            hosts = hosts_in_list(response.body)
            if not hosts:
                poll.count_error("mirror_list_unreadable")
                logger.warning("%s: %s lists no domain", poll.name, response.url)
            for host in hosts:
                poll.note_candidate(Candidate(host, "mirror list", response.url))
            self._look_up_soon(poll)
            yield from ()
        finally:
            self._done(poll)

    def _verify_mirrors(self, poll: OutletPoll) -> bool:
        """Start verifying the poll's candidates; False when there is nothing to verify (the
        poll ends now), True when it ends after the verification's last answer."""
        if poll.verification_started or not poll.discovers:
            return False
        poll.verification_started = True
        hosts = poll.to_verify()
        samples = poll.known_samples()[:MAX_SAMPLES]
        if not hosts or len(samples) < NEEDED:
            return False
        poll.outstanding += 1  # until the names are resolved
        self._resolving += 1
        resolving = defer.gatherResults([self._lookup(poll, host) for host in hosts])
        resolving.addBoth(self._resolved)
        resolving.addCallbacks(
            lambda found: self._ask_candidates(dict(zip(hosts, found, strict=True)), poll, samples),
            self._not_resolved,
            errbackArgs=(poll,),
        )
        return True

    def _look_up_soon(self, poll: OutletPoll) -> None:
        """Start looking up the names of the candidates just announced, while the poll goes on,
        so that its end rarely waits for them (the first few: a poll verifies no more)."""
        for host in list(poll.candidates)[:MAX_VERIFIED_PER_POLL]:
            self._lookup(poll, host)

    def _lookup(self, poll: OutletPoll, host: str) -> defer.Deferred[list[str] | None]:
        """The addresses of ``host``, looked up once a poll in a thread of its own; None when
        no answer came within ``RESOLVE_WITHIN`` of asking."""
        if host not in poll.lookups:
            if self._lookup_threads >= MAX_LOOKUP_THREADS:  # a name server that hangs for all
                self._stat("newswatch/mirror_lookups_put_off")
                poll.lookups[host] = defer.succeed(None)  # the next poll asks again
            else:
                self._lookup_threads += 1
                resolver = self.context.resolver
                lookup = _off_thread(lambda: resolver(host), self._lookup_ended)
                lookup.addTimeout(RESOLVE_WITHIN, _reactor())
                lookup.addErrback(lambda failure: None)
                poll.lookups[host] = lookup
        ready: defer.Deferred[list[str] | None] = defer.Deferred()
        poll.lookups[host].addBoth(_passed_on, ready)  # each waiter gets the result
        return ready

    def _lookup_ended(self) -> None:
        self._lookup_threads -= 1

    def _resolved(self, outcome: Any) -> Any:
        self._resolving -= 1
        return outcome

    def _not_resolved(self, failure: Failure, poll: OutletPoll) -> None:
        logger.warning("%s: candidate mirrors not verified: %s", poll.name, failure.value)
        self._done(poll)

    def _ask_candidates(
        self,
        addresses: dict[str, list[str] | None],
        poll: OutletPoll,
        samples: list[ArticleSample],
    ) -> None:
        """Reject the candidates resolving where no outlet lives; ask the others for the
        samples' paths, on the outlet's scheme, without following redirects."""
        if poll.key not in self.polls:
            return  # the poll ended meanwhile (its deadline): the next one tries again
        try:
            unanswered = [host for host, found in addresses.items() if found is None]
            if unanswered:
                logger.info(
                    "%s: no address for %s within %gs; the next poll asks again",
                    poll.name,
                    ", ".join(unanswered),
                    RESOLVE_WITHIN,
                )
            for host, found in addresses.items():
                if found is None:
                    continue  # stays a candidate
                problem = addresses_problem(found) if found else None
                if problem or not found:
                    check = Check("", answer=problem) if problem else Check("", error="no address")
                    poll.record_check(host, check)
                    continue
                poll.expected_checks[host] = len(samples)
                for sample in samples:
                    url = same_path_on(f"http://x{sample.path}", host, poll.outlet.scheme)
                    request = scrapy.Request(
                        url,
                        callback=self.parse_verification,
                        errback=self.on_verification_error,
                        dont_filter=True,
                        meta={
                            "poll": poll.key,
                            "mirror_check": (host, sample),
                            "allow_offsite": True,
                            "dont_redirect": True,
                            "handle_httpstatus_all": True,
                        },
                    )
                    self.crawler.engine.crawl(self._track(poll, request))
        finally:
            self._done(poll)

    def parse_verification(self, response: Response) -> Iterator[Any]:
        poll = self.poll_for(response.request) if response.request else None
        if poll is None:
            return
        try:
            host, sample = response.meta["mirror_check"]
            if response.status != 200:
                poll.record_check(host, Check(sample.path, 0.0, answer=f"HTTP {response.status}"))
            elif not isinstance(response, HtmlResponse):
                poll.record_check(host, Check(sample.path, 0.0, answer="not HTML"))
            else:
                served = page_fingerprint(response.selector.root)
                poll.record_check(host, compare(sample.path, sample.fingerprint, served))
            yield from ()
        finally:
            self._done(poll)

    def on_verification_error(self, failure: Failure) -> None:
        failed = self.failed_in_poll(failure)
        if failed is None:
            return
        poll, request = failed
        try:
            host, sample = request.meta["mirror_check"]
            error = " ".join((failure.getErrorMessage() or "").split())[:200]
            poll.record_check(host, Check(sample.path, error=error or "no answer"))
        finally:
            self._done(poll)


def _off_thread(work: Callable[[], Any], ended: Callable[[], None]) -> defer.Deferred[Any]:
    """``work()`` in a daemon thread of its own, its outcome fired on the reactor thread, and
    ``ended()`` called there when the thread ends (also when nobody waits any more).

    Not the reactor's thread pool: a name lookup that hangs would hold one of the threads Scrapy
    resolves the crawl's own host names with, and the pool's threads are waited for at exit. A
    result that comes after the poll stopped waiting (``RESOLVE_WITHIN``) is dropped.
    """
    outcome: defer.Deferred[Any] = defer.Deferred()

    def fire(deliver: Callable[[Any], Any], value: Any) -> None:
        if not outcome.called:
            deliver(value)

    reactor = _reactor()

    def run() -> None:
        try:
            value = work()
        except Exception:
            reactor.callFromThread(fire, outcome.errback, Failure())
        else:
            reactor.callFromThread(fire, outcome.callback, value)
        finally:
            reactor.callFromThread(ended)

    threading.Thread(target=run, name="mirror names", daemon=True).start()
    return outcome


def _reactor() -> Any:
    """The running reactor, imported only once Scrapy has installed the one it wants."""
    from twisted.internet import reactor

    return reactor


def _passed_on(result: Any, to: defer.Deferred[Any]) -> Any:
    to.callback(result)
    return result


def _samples_wanted(poll: OutletPoll) -> int:
    """Sample fingerprints a poll takes: enough to verify with, then one a poll to refresh."""
    return 1 if len(poll.status.samples) >= MAX_SAMPLES else MAX_SAMPLES
