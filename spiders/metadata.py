"""What a page says about itself in machine-readable form: time, language, canonical URL.

The publication time is read from the page's own metadata first, because that carries a time
of day and a zone; trafilatura's date (a day) is the caller's fallback.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urljoin

import lxml.etree
import lxml.html

__all__ = ["canonical_of", "json_ld_article_body", "language_of", "parse_timestamp", "published_of"]

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


def _json_ld_items(tree: lxml.html.HtmlElement) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for block in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(str(block))
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                items.append(item)
                stack.extend(v for v in item.values() if isinstance(v, dict | list))
    return items


def json_ld_article_body(tree: lxml.html.HtmlElement) -> str:
    """The longest JSON-LD ``articleBody``, as plain text."""
    bodies = [
        str(i["articleBody"]) for i in _json_ld_items(tree) if isinstance(i.get("articleBody"), str)
    ]
    body = max(bodies, key=len) if bodies else ""
    if "<" in body:  # some publishers put HTML in it
        try:
            fragment = lxml.html.fragment_fromstring(body, create_parent="div")
        except (ValueError, lxml.etree.ParserError):
            return ""
        body = "\n".join(t.strip() for t in fragment.itertext() if t.strip())
    return body.strip()


def published_of(tree: lxml.html.HtmlElement) -> datetime | None:
    for name in _PUBLISHED_META:
        for content in tree.xpath(
            "//meta[@property=$n or @name=$n or @itemprop=$n]/@content", n=name
        ):
            found = parse_timestamp(str(content))
            if found:
                return found
    for item in _json_ld_items(tree):
        value = item.get("datePublished")
        found = parse_timestamp(value if isinstance(value, str) else None)
        if found:
            return found
    for value in tree.xpath("//time[@datetime][1]/@datetime"):
        found = parse_timestamp(str(value))
        if found:
            return found
    return None


def language_of(tree: lxml.html.HtmlElement) -> str | None:
    lang = tree.get("lang") or tree.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        return lang.split("-")[0].split("_")[0].strip().lower() or None
    return None


def canonical_of(tree: lxml.html.HtmlElement, url: str) -> str | None:
    for href in tree.xpath("//link[@rel='canonical']/@href"):
        if str(href).strip():
            return urljoin(url, str(href).strip())
    return None
