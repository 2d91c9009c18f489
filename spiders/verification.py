"""Verifying a candidate mirror before it is trusted: where it resolves, and what it serves.

A page can name any host, and a redirect can point anywhere, so a candidate is never trusted
for being announced. It must (1) resolve only to public addresses: an outlet is never on a
loopback, private or link-local address, and asking one would let a page steer newswatch at the
machines around it; and (2) serve the outlet's own recent articles under the same paths, the
same by content fingerprint (``newswatch.alerts.fingerprint``, the same threshold as a
republished copy) on at least :data:`NEEDED` of them. A candidate that answers with anything
else is rejected; one that does not answer gets another chance, :data:`MAX_ATTEMPTS` in all.

Name resolution is a client handed in (``Resolver``), so tests give fake host names the
addresses they need while production asks the system's resolver.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lxml.html

from newswatch.alerts.fingerprint import SIMILAR, fingerprint, similarity
from newswatch.mirrors import MirrorState
from newswatch.spiders.egress import address_problem
from newswatch.spiders.mirrors import page_tree

__all__ = [
    "MAX_ATTEMPTS",
    "NEEDED",
    "Check",
    "Resolver",
    "addresses_problem",
    "compare",
    "page_fingerprint",
    "system_resolver",
    "verdict",
]

NEEDED = 2  # recent articles a candidate must serve the same
MAX_ATTEMPTS = 3  # verifications without an answer before a candidate is given up

Resolver = Callable[[str], list[str]]

_TEXT = (
    "//body//p[not(ancestor::header) and not(ancestor::footer) and not(ancestor::nav)"
    " and not(ancestor::aside)]//text()"
)


def system_resolver(host: str) -> list[str]:
    """The addresses the system resolves ``host`` to; [] when it does not resolve."""
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(answer[4][0]) for answer in answers})


def addresses_problem(addresses: Sequence[str]) -> str | None:
    """Why a candidate resolving to ``addresses`` must be rejected; None when all are public
    (the crawl's egress rule, ``newswatch.spiders.egress``, judges each address)."""
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"resolves to {address!r}, not an address"
        problem = address_problem(ip)
        if problem:
            return f"resolves to {address}, {problem}"
    return None


def page_fingerprint(page: lxml.html.HtmlElement | str) -> str | None:
    """The content fingerprint of an article page: its title and paragraphs outside the page's
    furniture; None when it has no text. Computed the same way on a configured domain and on a
    candidate, so the same page gives the same fingerprint."""
    root = page_tree(page) if isinstance(page, str) else page
    if root is None:
        return None
    titles = root.xpath("//title/text()")
    title = " ".join(str(titles[0]).split()) if titles else ""
    text = " ".join(" ".join(root.xpath(_TEXT)).split())
    if not text:
        return None
    return fingerprint(title, text)


@dataclass(frozen=True)
class Check:
    """One recent article asked of a candidate: how similar its answer was, or why none came."""

    path: str  # "" for the name resolution that comes first
    similarity: float | None = None  # None: no comparable answer
    answer: str | None = None  # an answer that is no article: "HTTP 404", "not HTML"
    error: str | None = None  # no answer at all (connection refused, timeout)


def compare(path: str, expected: str, served: str | None) -> Check:
    return Check(path, similarity(expected, served) if served else 0.0)


def verdict(
    checks: Sequence[Check], attempts: int, complete: bool = True
) -> tuple[MirrorState, str]:
    """The state a candidate reaches with ``checks`` after ``attempts`` earlier inconclusive
    verifications, and the sentence ``status`` shows for it. ``complete``: every article asked
    was answered (a poll cut short leaves some unanswered: they count as no answer)."""
    unsafe = [c.answer for c in checks if not c.path and c.answer]
    if unsafe:  # where it resolves rules it out: it was asked nothing
        return "rejected", f"{unsafe[0]}: no outlet lives there"
    same = [c for c in checks if c.similarity is not None and c.similarity >= SIMILAR]
    if len(same) >= NEEDED:
        scores = ", ".join(f"{c.similarity:.2f}" for c in same)
        return "verified", (
            f"served {len(same)} of {len(checks)} recent articles the same "
            f"(fingerprint similarity {scores}; {SIMILAR} needed)"
        )
    failed = [c for c in checks if c.error is not None]
    if not complete:
        failed.append(Check("", error="the poll ended before every answer came"))
    if not failed:
        answers = sorted({c.answer for c in checks if c.answer})
        detail = f"; answered {', '.join(answers)}" if answers else ""
        return "rejected", (
            f"serves other content: {len(same)} of {len(checks)} recent articles the same{detail}"
        )
    if attempts + 1 >= MAX_ATTEMPTS:
        return "rejected", f"no answer in {MAX_ATTEMPTS} verifications (last: {failed[0].error})"
    return "candidate", f"not verified yet: no answer for {failed[0].path} ({failed[0].error})"
