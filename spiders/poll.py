"""One poll of one outlet: the order its domains are tried in, what it fetched, how it went.

A poll starts from what the store remembers of the outlet (its live domain, each domain's health)
and writes back what it learned when it ends, so the next poll starts on a domain that works.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from newswatch.alerts.notices import Notices, mirror_found, outlet_dark, outlet_recovered
from newswatch.config import Outlet
from newswatch.health import OutletStatus
from newswatch.mirrors import ArticleSample, DiscoveredMirror
from newswatch.spiders.context import OutletResult
from newswatch.spiders.mirrors import Candidate, brand_of
from newswatch.spiders.verification import Check, verdict
from newswatch.store import Store

__all__ = [
    "MAX_CANDIDATES",
    "MAX_REMEMBERED",
    "MAX_VERIFIED_PER_POLL",
    "REVERIFY_AFTER",
    "OutletPoll",
]

logger = logging.getLogger("newswatch.crawl")

# A page full of links to other sites must not turn one poll into a crawl of the web: so many
# candidates of each kind wait per outlet, and so many are verified at a poll's end.
MAX_CANDIDATES = 20
MAX_VERIFIED_PER_POLL = 3
# Verdicts kept per outlet: beyond that the oldest rejected are forgotten (asked again if
# announced again), so months of pages mentioning other sites do not grow the status for ever.
MAX_REMEMBERED = 200
REVERIFY_AFTER = timedelta(days=1)


class OutletPoll:
    def __init__(
        self,
        name: str,
        outlet: Outlet,
        status: OutletStatus,
        cooldown: timedelta,
        max_articles: int = 500,
        dark_after: int = 3,
    ) -> None:
        self.name = name
        self.key = name  # unique per poll; the spider numbers them
        self.outlet = outlet
        self.status = status
        self.cooldown = cooldown
        self.started = datetime.now(UTC)
        self._clock_start = time.monotonic()
        # The configured domains, then (with discover_mirrors: auto) the verified mirrors the
        # outlet announced: every one of them is the outlet, for links, redirects and identity.
        adopted = status.adopted_mirrors() if outlet.discover_mirrors == "auto" else []
        self.domains = [*outlet.domains, *(d for d in adopted if d not in outlet.domains)]
        self.order = status.domain_order(self.domains, self.started)
        self.live_domain = self.order[0]
        self.answered: set[str] = set()
        self.failed: dict[str, str] = {}
        self.requested: set[str] = set()  # canonical article URLs asked for in this poll
        # Sitemaps asked for in this poll, by where they are on the outlet (their path, so a
        # mirror's copy is the same one): an index listing itself or another index that lists
        # it back would otherwise be fetched again and again, and the poll would never end.
        self.sitemaps: set[str] = set()
        self.sitemaps_skipped: set[str] = set()  # logged once each, however often listed
        self.outstanding = 0
        # Article fetches this poll may still make: a listing of 100,000 items must not keep
        # one poll (and the deliveries waiting for it) going for hours.
        self.max_articles = max_articles
        self.dark_after = dark_after
        self.went: str | None = None  # "dark" or "recovered" when this poll changed that
        self.article_budget = max_articles
        self.articles_left = 0  # unseen articles not fetched for lack of budget: the next poll's
        self.not_modified = 0
        self.finished = False
        self.result = OutletResult(name)
        self.candidates: dict[str, Candidate] = {}  # announced in this poll, not known before
        self.samples: list[ArticleSample] = []  # recent articles read in this poll
        self.checks: dict[str, list[Check]] = {}  # candidates verified in this poll
        # Looks for mirrors the outlet announces (a dry run, which records nothing, does not).
        self.discovers = outlet.discover_mirrors != "off"
        self.verification_started = False
        self.expected_checks: dict[str, int] = {}  # candidate -> requests it was sent
        # candidate -> its name's addresses, looked up as soon as it was announced (None when
        # no answer came in time); a Deferred, typed loosely to keep Twisted out of this module
        self.lookups: dict[str, Any] = {}
        self.examined = 0  # articles looked at for announcements
        self.sampling = 0  # articles whose fingerprint a reader is working out
        self.brand = brand_of(outlet.domains[0])  # "presstv" of www.presstv.ir
        # Candidates waiting for a verdict, strong and weak (``is_strong``): each kind is capped
        # so that pages naming many other sites neither grow the status nor crowd a real mirror.
        self._waiting = {True: 0, False: 0}
        for mirror in status.mirrors.values():
            if mirror.state == "candidate":
                self._waiting[self.is_strong(mirror.host, mirror.announced_as)] += 1

    def is_strong(self, host: str, announced_as: str) -> bool:
        """Announced as an address (a redirect, a list, a link or link relation), or a host
        name in the text that bears the outlet's own name: verified before mere mentions."""
        return announced_as != "text" or bool(self.brand and self.brand in host)

    def note_candidate(self, candidate: Candidate) -> None:
        """Remember a host the outlet announced, unless it is the outlet's or already known."""
        host = candidate.host
        if (
            not self.discovers
            or host in self.domains
            or host in self.status.mirrors
            or host in self.candidates
        ):
            return
        strong = self.is_strong(host, candidate.announced_as)
        if self._waiting[strong] >= MAX_CANDIDATES:
            return
        self._waiting[strong] += 1
        self.candidates[host] = candidate

    def to_verify(self) -> list[str]:
        """Hosts to verify at the end of this poll: those just announced first, then those
        still waiting for an answer, then verified mirrors not checked for ``REVERIFY_AFTER``
        (a lapsed domain gets bought by someone else: it must not stay trusted for ever)."""
        mirrors = self.status.mirrors
        waiting = [h for h, m in mirrors.items() if m.state == "candidate"]
        stale = self.started - REVERIFY_AFTER
        due = [
            h
            for h, m in mirrors.items()
            if m.state == "verified" and (m.checked is None or m.checked < stale)
        ]
        new = list(self.candidates)
        weak = {h for h, c in self.candidates.items() if not self.is_strong(h, c.announced_as)}
        weak |= {h for h in waiting if not self.is_strong(h, mirrors[h].announced_as)}
        queue = [*new, *(h for h in waiting if h not in self.candidates), *due]
        queue.sort(key=lambda host: host in weak)  # stable: strong first, in the same order
        return queue[:MAX_VERIFIED_PER_POLL]

    def known_samples(self) -> list[ArticleSample]:
        paths = {sample.path for sample in self.samples}
        return [*self.samples, *(s for s in self.status.samples if s.path not in paths)]

    def record_check(self, host: str, check: Check) -> None:
        self.checks.setdefault(host, []).append(check)

    def domains_in_order(self) -> list[str]:
        """The live domain first, then the rest in order, those failed in this poll last."""
        ordered = [self.live_domain, *(d for d in self.order if d != self.live_domain)]
        return [d for d in ordered if d not in self.failed] + [
            d for d in ordered if d in self.failed
        ]

    def domain_answered(self, domain: str) -> None:
        self.answered.add(domain)
        self.failed.pop(domain, None)
        self.live_domain = domain
        self.result.reachable = True
        self.result.live_domain = domain

    def domain_failed(self, domain: str, reason: str) -> None:
        if domain not in self.answered:
            self.failed[domain] = reason
        if domain == self.live_domain:
            healthy = [d for d in self.domains_in_order() if d not in self.failed]
            if healthy:
                self.live_domain = healthy[0]
        self.count_error(reason)

    def claim_sitemap(self, key: str) -> bool:
        """True the first time a sitemap is claimed in this poll: only then is it fetched."""
        if key in self.sitemaps:
            return False
        self.sitemaps.add(key)
        return True

    def first_skip(self, key: str) -> bool:
        """True the first time a sitemap is skipped, so a skip is logged once, not per listing."""
        if key in self.sitemaps_skipped:
            return False
        self.sitemaps_skipped.add(key)
        return True

    def take_articles(self, wanted: int) -> int:
        """How many of ``wanted`` article fetches the budget allows; the rest are counted left."""
        granted = min(wanted, self.article_budget)
        self.article_budget -= granted
        self.articles_left += wanted - granted
        return granted

    def count_error(self, kind: str) -> None:
        self.result.errors[kind] = self.result.errors.get(kind, 0) + 1

    def finish(
        self, store: Store, cut_short: str | None = None, notices: Notices | None = None
    ) -> None:
        """Remember what this poll learned; log one line an operator can read at a glance.

        ``cut_short``: why the poll ends before its last answer (its deadline passed, the crawl
        is stopping). Such a poll must not read as complete: what it found counts, and the log,
        ``status`` and the metrics say it was cut short.

        When this poll makes the outlet dark, or ends a dark spell, ``notices`` are queued
        before the status is saved: a crash in between sends the same notice (same id) again
        rather than none.
        """
        if self.finished:
            return
        self.finished = True
        self.result.cut_short = cut_short
        status = self.status
        status.cut_short = cut_short
        status.record_crawl(self.answered, self.failed, self.cooldown, datetime.now(UTC))
        if self.result.reachable:
            status.live_domain = self.result.live_domain
            status.last_success = self.started
        status.last_crawl = self.started
        status.last_duration = round(time.monotonic() - self._clock_start, 3)
        status.pages = self.result.pages
        status.articles = self.result.articles
        status.alerts = self.result.alerts
        status.errors = dict(self.result.errors)
        status.reachable = self.result.reachable
        if not cut_short:  # a poll cut short proves neither that the outlet is up nor down
            dark_since = status.dark_since
            self.went = status.record_reachability(
                self.result.reachable, self.dark_after, self.started
            )
            if notices is not None and self.went == "dark":
                notices.send(outlet_dark(self.name, self.outlet.domains, status))
            elif notices is not None and self.went == "recovered" and dark_since is not None:
                notices.send(outlet_recovered(self.name, dark_since, self.result.live_domain))
        self._fold_mirrors(notices)
        errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.result.errors.items()))
        failed = {d: why for d, why in self.failed.items() if d not in self.answered}
        fields = {  # for JSON lines and Sentry: the numbers of the line, as fields
            "outlet": self.name,
            "domain": self.result.live_domain if self.result.reachable else None,
            "duration_s": status.last_duration,
            "pages": self.result.pages,
            "not_modified": self.not_modified,
            "articles": self.result.articles,
            "alerts": self.result.alerts,
            "articles_left": self.articles_left,
            "errors": dict(self.result.errors),
            "failed_domains": failed,
        }
        if cut_short:
            logger.warning(
                "%s: poll cut short after %.1fs (%s): %d pages, %d new articles, %d alerts so "
                "far; %d requests unanswered%s",
                self.name,
                status.last_duration,
                cut_short,
                self.result.pages,
                self.result.articles,
                self.result.alerts,
                max(0, self.outstanding),
                f"; errors: {errors}" if errors else "",
                extra={**fields, "cut_short": cut_short},
            )
        elif self.result.reachable:
            logger.info(
                "%s: polled in %.1fs on %s%s: %d pages (%d not modified), %d new articles, "
                "%d alerts%s%s",
                self.name,
                status.last_duration,
                self.result.live_domain,
                f" ({', '.join(f'{d} failed: {why}' for d, why in failed.items())})"
                if failed
                else "",
                self.result.pages,
                self.not_modified,
                self.result.articles,
                self.result.alerts,
                self._left_note(),
                f"; errors: {errors}" if errors else "",
                extra=fields,
            )
        else:
            logger.error(
                "%s: unreachable on every domain (%s)%s",
                self.name,
                ", ".join(self.outlet.domains),
                f"; errors: {errors}" if errors else "",
                extra=fields,
            )
        store.save_outlet_status(self.name, status.to_json())  # after the line: it may fail
        store.record_poll(self.name, self.started.timestamp(), self.outcome)

    def _fold_mirrors(self, notices: Notices | None) -> None:
        """Remember the candidates and samples of this poll and the verdicts it reached; a
        mirror verified now is told (once: the notice's id is the outlet and the host)."""
        status = self.status
        status.add_samples(self.samples)
        now = datetime.now(UTC)
        for host, candidate in self.candidates.items():
            status.mirrors.setdefault(
                host,
                DiscoveredMirror(host, candidate.announced_as, candidate.announced_at, now),
            )
        for host, checks in self.checks.items():
            mirror = status.mirrors[host]
            before = mirror.state
            complete = len(checks) >= self.expected_checks.get(host, 0)  # or the poll ended
            state, mirror.verdict = verdict(checks, mirror.attempts, complete)
            mirror.checked = now
            if before == "verified" and state == "candidate":
                state = "verified"  # no answer now: blocked for a while, not proven wrong
                mirror.verdict = f"still trusted: {mirror.verdict}"
            mirror.attempts = mirror.attempts + 1 if state == "candidate" else 0
            mirror.state = state
            if state != before:
                self._tell(mirror, before, notices)
        rejected = sorted(
            (m for m in status.mirrors.values() if m.state == "rejected"), key=lambda m: m.found
        )
        for mirror in rejected[: max(0, len(status.mirrors) - MAX_REMEMBERED)]:
            del status.mirrors[mirror.host]

    def _tell(self, mirror: DiscoveredMirror, before: str, notices: Notices | None) -> None:
        """A change of verdict, logged; a mirror found is also a notice."""
        fields = {"outlet": self.name, "mirror": mirror.host, "state": mirror.state}
        if mirror.state == "rejected" and before == "verified":
            logger.warning(
                "%s: %s no longer serves the outlet's articles and is no longer trusted: %s",
                self.name,
                mirror.host,
                mirror.verdict,
                extra=fields,
            )
        elif mirror.state == "rejected":
            logger.info(
                "%s: %s is not a mirror: %s (%s)",
                self.name,
                mirror.host,
                mirror.verdict,
                mirror.where,
                extra=fields,
            )
        elif mirror.state == "verified":
            notice = mirror_found(self.name, mirror, self.outlet.discover_mirrors)
            logger.warning("%s", notice["notice"]["text"], extra=fields)
            if notices is not None:
                notices.send(notice)

    @property
    def outcome(self) -> str:
        """What the page's 24-hour strip draws for this poll (``POLL_OUTCOMES``)."""
        if not self.result.reachable:
            return "unreachable"
        return "ok" if self.result.live_domain == self.outlet.domains[0] else "mirror"

    def _left_note(self) -> str:
        """Part of the poll's log line: what the article cap left for the next poll, if any."""
        if not self.articles_left:
            return ""
        return (
            f", {self.articles_left} articles left for the next poll "
            f"(crawl.max_articles_per_poll: {self.max_articles})"
        )
