"""Main text, title, publication time and language of an article page.

trafilatura does the heavy lifting (main text without navigation, comments excluded). The
publication time is read from the page's own machine-readable metadata first, because that
carries a time of day and a zone; trafilatura's date (a day) is the fallback.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import lxml.html
import trafilatura
import trafilatura.settings

__all__ = ["Extracted", "extract_article", "parse_timestamp"]

_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datePublished",
    "date",
    "dc.date.issued",
    "DC.date.issued",
    "pubdate",
    "publishdate",
    "sailthru.date",
)


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published: datetime | None
    language: str | None
    canonical: str | None  # the page's rel=canonical, absolute, as written


def extract_article(html: str, url: str) -> Extracted | None:
    """None when the page holds no article text worth matching."""
    try:
        tree = lxml.html.document_fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None
    document = trafilatura.bare_extraction(
        tree, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    if not isinstance(document, trafilatura.settings.Document) or not document.text:
        return None
    title = (document.title or "").strip()
    text = document.text or ""
    if title and text.startswith(title):  # trafilatura repeats the headline as the first line
        text = text[len(title) :].lstrip()
    published = _published_from_page(tree) or parse_timestamp(document.date)
    return Extracted(
        title=title,
        text=text,
        published=published,
        language=_language(tree),
        canonical=_canonical(tree, url),
    )


def parse_timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 date or timestamp as aware UTC; naive times are taken as UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _published_from_page(tree: lxml.html.HtmlElement) -> datetime | None:
    for name in _PUBLISHED_META:
        for content in tree.xpath(
            "//meta[@property=$n or @name=$n or @itemprop=$n]/@content", n=name
        ):
            found = parse_timestamp(str(content))
            if found:
                return found
    for block in tree.xpath("//script[@type='application/ld+json']/text()"):
        found = _published_from_json_ld(str(block))
        if found:
            return found
    for value in tree.xpath("//time[@datetime][1]/@datetime"):
        found = parse_timestamp(str(value))
        if found:
            return found
    return None


def _published_from_json_ld(block: str) -> datetime | None:
    try:
        data = json.loads(block)
    except ValueError:
        return None
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            found = parse_timestamp(
                item.get("datePublished") if isinstance(item.get("datePublished"), str) else None
            )
            if found:
                return found
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
    return None


def _language(tree: lxml.html.HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        return lang.split("-")[0].split("_")[0].strip().lower() or None
    return None


def _canonical(tree: lxml.html.HtmlElement, url: str) -> str | None:
    for href in tree.xpath("//link[@rel='canonical']/@href"):
        if str(href).strip():
            return urljoin(url, str(href).strip())
    return None
