"""Reading feeds and sitemaps into article links, whatever state they arrive in.

Real feeds are ill-formed, mislabelled, truncated or empty; sitemaps nest, come gzipped (or are
named .gz and are not). Everything readable is taken, the rest is reported as a one-line problem
for the caller to log and count, and no input can raise out of here. XML entities are never
expanded (no entity-expansion attacks) and no network access is made while parsing.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import struct_time
from urllib.parse import urljoin

import feedparser
import lxml.etree

from spiders.metadata import parse_timestamp

__all__ = ["DiscoveredLink", "Discovery", "read_feed", "read_sitemap"]

MAX_UNCOMPRESSED = 50 * 1024 * 1024  # the sitemaps.org limit for one sitemap file


@dataclass(frozen=True)
class DiscoveredLink:
    url: str
    title: str | None = None
    published: datetime | None = None
    updated: datetime | None = None  # the feed's own "this entry changed" time
    is_sitemap: bool = False  # an entry of a sitemap index: another sitemap to read


@dataclass
class Discovery:
    links: list[DiscoveredLink] = field(default_factory=list)
    problem: str | None = None  # set when something was wrong, even if links were recovered


def read_feed(body: bytes, url: str, content_type: str | None = None) -> Discovery:
    """RSS 0.9x/1.0/2.0, Atom and JSON Feed."""
    if _looks_like_json(body):
        return _read_json_feed(body, url)
    headers = {"content-type": content_type} if content_type else {}
    try:
        feed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    except Exception as exc:  # feedparser promises not to raise; a bug there must not stop a crawl
        return Discovery(problem=f"feed parser failed: {type(exc).__name__}: {exc}")
    result = Discovery()
    if feed.bozo:
        result.problem = _one_line(str(feed.get("bozo_exception") or "ill-formed feed"))
    if not feed.entries and not feed.get("version"):
        result.problem = result.problem or "not an RSS or Atom feed"
    for entry in feed.entries:
        link = entry.get("link") or _link_from_id(entry.get("id"))
        if not link:
            continue
        result.links.append(
            DiscoveredLink(
                url=urljoin(url, link.strip()),
                title=entry.get("title"),
                published=_from_struct(entry.get("published_parsed")),
                # dict.get: feedparser's own get() falls back from updated to published
                updated=_from_struct(dict.get(entry, "updated_parsed")),
            )
        )
    return result


def read_sitemap(body: bytes, url: str) -> Discovery:
    """A sitemap index, a urlset (Google News extensions read), gzip or plain text."""
    try:
        body = _gunzip_if_needed(body)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        return Discovery(problem=f"cannot decompress sitemap: {exc}")
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        return _read_text_sitemap(stripped, url)
    parser = lxml.etree.XMLParser(
        recover=True, resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False
    )
    try:
        root = lxml.etree.fromstring(stripped, parser=parser)
    except lxml.etree.XMLSyntaxError as exc:
        return Discovery(problem=f"sitemap is not XML: {_one_line(str(exc))}")
    if root is None:
        return Discovery(problem="sitemap is empty")
    result = Discovery()
    if parser.error_log:
        result.problem = _one_line(str(parser.error_log[0].message))
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        result.problem = result.problem or f"not a sitemap (root element <{kind}>)"
        return result
    for element in root:
        name = _local(element.tag)
        if name not in ("url", "sitemap"):
            continue
        fields = _fields(element)
        location = fields.get("loc")
        if not location:
            continue
        result.links.append(
            DiscoveredLink(
                url=urljoin(url, location),
                title=fields.get("title"),
                published=parse_timestamp(fields.get("publication_date")),
                updated=parse_timestamp(fields.get("lastmod")),
                is_sitemap=name == "sitemap",
            )
        )
    return result


def _fields(element: lxml.etree._Element) -> dict[str, str]:
    """Text of the entry's fields by local name, nested extensions (news:news/…) included."""
    found: dict[str, str] = {}
    direct = [child for child in element if isinstance(child.tag, str)]
    nested = [c for c in element.iter() if c is not element and c not in direct]
    for child in direct + nested:  # a direct <loc> wins over an <image:loc> inside
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)
        text = (child.text or "").strip()
        if text and name not in found:
            found[name] = text
    return found


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _read_text_sitemap(body: bytes, url: str) -> Discovery:
    text = body.decode("utf-8", "replace")
    links = [
        DiscoveredLink(url=urljoin(url, line.strip()))
        for line in text.splitlines()
        if line.strip().startswith(("http://", "https://"))
    ]
    return Discovery(links=links, problem=None if links else "empty or unreadable sitemap")


def _gunzip_if_needed(body: bytes) -> bytes:
    if not body.startswith(b"\x1f\x8b"):
        return body
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as stream:
        data = stream.read(MAX_UNCOMPRESSED + 1)
    if len(data) > MAX_UNCOMPRESSED:
        raise ValueError("sitemap larger than 50 MB uncompressed")
    return data


def _looks_like_json(body: bytes) -> bool:
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _read_json_feed(body: bytes, url: str) -> Discovery:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        return Discovery(problem=f"JSON feed unreadable: {_one_line(str(exc))}")
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return Discovery(problem="JSON document is not a JSON Feed (no items)")
    result = Discovery()
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or _link_from_id(item.get("id"))
        if not isinstance(link, str) or not link:
            continue
        result.links.append(
            DiscoveredLink(
                url=urljoin(url, link.strip()),
                title=item.get("title") if isinstance(item.get("title"), str) else None,
                published=_timestamp(item.get("date_published")),
                updated=_timestamp(item.get("date_modified")),
            )
        )
    return result


def _timestamp(value: object) -> datetime | None:
    return parse_timestamp(value) if isinstance(value, str) else None


def _link_from_id(value: object) -> str | None:
    """Some feeds carry the article URL only as the entry id (guid)."""
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    return None


def _from_struct(value: struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime(*value[:6]).replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
