"""``newswatch try``: a query against pages, judged exactly as a poll would judge them.

A watch is only worth trusting once its author has seen what it catches and what it misses, on
the pages they care about, as urlwatch's ``--test-filter`` shows what a job would report. So
each page goes through the poll's own steps: fetched with the crawl settings (user agent,
timeout, size limit, robots.txt), read by :func:`newswatch.spiders.extraction.read_article` with the
query's WatchSet for the first look, matched by the same WatchSet on the same title and
article text. What the poll does not say, this does: a term that occurs on the page but did
not count is shown where it sat (a sidebar, a "most read" list, a block judged not to be the
article), from the same verdicts that kept it out.

Traffic goes only where asked: the pages named on the command line, the redirects they answer
with, and the robots.txt of their hosts when the config obeys robots.txt. Proxy variables are
honoured as for crawling. A local file is read from disk and fetches nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import httpx
from protego import Protego
from w3lib.encoding import html_to_unicode

from newswatch.alerts.matcher import Match, compile_query
from newswatch.alerts.query import Not, Query, Term, walk
from newswatch.alerts.watchset import WatchSet
from newswatch.config import CrawlSettings, Outlet
from newswatch.errors import NewswatchError
from newswatch.identity import canonical_url, outlet_host
from newswatch.spiders.extraction import Judged, judge_blocks, read_article, read_page
from newswatch.spiders.placement import furniture_phrase

__all__ = ["PageSource", "judge", "load_page", "make_client", "try_query"]

# What Scrapy sends with every request (DEFAULT_REQUEST_HEADERS), so a page answers as it does
# to a poll.
_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
}
_MAX_REDIRECTS = 20  # Scrapy's REDIRECT_MAX_TIMES
_SHOWN_PER_TERM = 3  # uncounted occurrences shown for each term


@dataclass(frozen=True)
class PageSource:
    """A page as fetched or read: its final URL and text, or why there is none."""

    target: str  # as given on the command line
    url: str = ""
    html: str = ""
    problem: str | None = None
    outlet: str | None = None  # the config's outlet whose domain the URL is on
    canonical: str | None = None  # the article's identity in that outlet


class _NotRead(NewswatchError):
    """Why a page could not be had; reported on its line, never raised out of this module."""


def load_page(
    target: str, crawl: CrawlSettings, outlets: dict[str, Outlet], client: httpx.Client
) -> PageSource:
    """Fetch ``target`` (an http(s) URL) or read it (a file)."""
    scheme = urlsplit(target).scheme.lower()
    try:
        if scheme in ("http", "https"):
            url, html = _fetch(target, crawl, client)
            for name, outlet in outlets.items():
                if outlet_host(url, outlet.domains):
                    canonical = canonical_url(url, outlet.domains, outlet.scheme)
                    return PageSource(target, url, html, outlet=name, canonical=canonical)
            return PageSource(target, url, html)
        path = Path(target)
        if not path.is_file():
            raise _NotRead("no such file, and not an http(s) URL")
        body = path.read_bytes()
        if len(body) > crawl.max_page_size:
            raise _NotRead(f"larger than crawl.max_page_size ({crawl.max_page_size:,} bytes)")
        return PageSource(target, path.resolve().as_uri(), html_to_unicode(None, body)[1])
    except _NotRead as exc:
        return PageSource(target, problem=str(exc))
    except (httpx.HTTPError, OSError) as exc:
        return PageSource(target, problem=f"{type(exc).__name__}: {exc}".rstrip(": "))


def _fetch(url: str, crawl: CrawlSettings, client: httpx.Client) -> tuple[str, str]:
    headers = {**_HEADERS, "User-Agent": crawl.user_agent}
    timeout = crawl.timeout.total_seconds()
    if crawl.obey_robots and not _robots_allow(url, crawl.user_agent, client, timeout):
        raise _NotRead("robots.txt disallows it, so a poll would not fetch it")
    with client.stream("GET", url, headers=headers, timeout=timeout) as response:
        if response.status_code >= 400:
            raise _NotRead(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
        content_type = response.headers.get("content-type", "")
        if content_type and "html" not in content_type.lower():
            raise _NotRead(f"not an HTML page ({content_type}); a poll skips it")
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > crawl.max_page_size:
                raise _NotRead(f"larger than crawl.max_page_size ({crawl.max_page_size:,} bytes)")
        return str(response.url), html_to_unicode(content_type or None, bytes(body))[1]


def _robots_allow(url: str, user_agent: str, client: httpx.Client, timeout: float) -> bool:
    """As Scrapy's RobotsTxtMiddleware decides: a robots.txt that cannot be had allows all."""
    parts = urlsplit(url)
    try:
        response = client.get(
            f"{parts.scheme}://{parts.netloc}/robots.txt",
            headers={"User-Agent": user_agent},
            timeout=timeout,
        )
    except httpx.HTTPError:
        return True
    if response.status_code >= 400:
        return True
    return bool(Protego.parse(response.text).can_fetch(url, user_agent))


def make_client() -> httpx.Client:
    """The client ``try`` fetches with: proxy variables honoured, redirects followed."""
    return httpx.Client(trust_env=True, follow_redirects=True, max_redirects=_MAX_REDIRECTS)


# --- judging and saying ------------------------------------------------------------------


def _marked(match: Match) -> str:
    snippet = match.snippet
    return (
        f"{snippet[: match.mark_start]}[{snippet[match.mark_start : match.mark_end]}]"
        + (snippet[match.mark_end :])
    )


def _terms(query: Query) -> Iterator[tuple[Term, bool]]:
    """Each distinct term of the query once, with whether it is excluded."""
    excluded = {t for node in walk(query) if isinstance(node, Not) for t in walk(node.child)}
    seen: set[Term] = set()
    for node in walk(query):
        if isinstance(node, Term) and node not in seen:
            seen.add(node)
            yield node, node in excluded


def judge(watchset: WatchSet, source: PageSource) -> list[str]:
    """What ``try`` prints for one page of the one watch in ``watchset``: a headline line,
    then indented details."""
    if source.problem is not None:
        return [f"{source.target}: not read: {source.problem}"]
    query = watchset.compiled[0].query
    reading = read_article(source.html, source.url, watchset.mentioned)
    if reading is None:
        return [f"{source.target}: not read: not a page that can be parsed"]
    head = source.target if source.url == source.target else f"{source.target} ({source.url})"
    lines: list[str] = []
    if source.outlet is not None:
        lines.append(f"  outlet {source.outlet}, article {source.canonical or source.url}")
    lines.append(f"  title: {reading.title or '(none)'}")
    if not reading.judged:
        return [f"{head}: not matched", *lines, "  no term of the query occurs on the page"]
    matches = None  # a poll drops a page without article text before matching (title too)
    if reading.text:
        matches = watchset.matches(reading.title, reading.text).get(watchset.names[0])
    else:
        lines.append("  no article text found on the page: a poll alerts nothing from it")
    if matches is not None:
        lines += [f"  {m.term} ({m.field}): {_marked(m)}" for m in matches]
    counted = {m.term for m in matches or ()}
    blocks: list[Judged] | None = None
    for term, excluded in _terms(query):
        if term.label in counted:
            continue
        kind = "excluded term" if excluded else "term"
        found = compile_query(term).match(reading.title, reading.text) if reading.text else None
        if found:
            if excluded:
                what = "it counts against the page"
            elif matches is None:
                what = "the query as a whole did not hold"
            else:  # a NEAR's term, say, that was not near enough while another branch held
                what = "not part of what matched"
            lines += [f"  {kind} {m.term} ({m.field}, {what}): {_marked(m)}" for m in found]
        if blocks is None:
            page = read_page(source.html, source.url)
            judged = judge_blocks(page, watchset.mentioned) if page is not None else None
            blocks = judged or []
        lines += _uncounted(term, kind, blocks)
    return [f"{head}: {'matched' if matches is not None else 'not matched'}", *lines]


def _uncounted(term: Term, kind: str, judged: list[Judged]) -> list[str]:
    """Where ``term`` occurs in blocks that were not taken as the article."""
    anywhere = compile_query(replace(term, title_only=False))
    lines: list[str] = []
    for verdict in judged:
        if verdict.article:
            continue
        found = anywhere.match("", verdict.block.text)
        if not found:
            continue
        if verdict.furniture is not None:
            where = furniture_phrase(verdict.furniture)
        else:
            where = "in a block judged not to be the article"
        lines.append(f"  {kind} {term.label} occurs {where}, not counted: {_marked(found[0])}")
        if len(lines) == _SHOWN_PER_TERM:
            break
    return lines


def try_query(
    query: Query,
    targets: list[str],
    crawl: CrawlSettings,
    outlets: dict[str, Outlet],
    output: TextIO,
    client: httpx.Client | None = None,
) -> None:
    """Judge every target and print what a poll would make of it."""
    own = client is None
    client = client or make_client()
    watchset = WatchSet({"try": query})
    try:
        for target in targets:
            for line in judge(watchset, load_page(target, crawl, outlets, client)):
                print(line, file=output, flush=True)
    finally:
        if own:
            client.close()
