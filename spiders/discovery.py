"""Reading feeds and sitemaps into article links, whatever state they arrive in.

Real feeds are ill-formed, mislabelled, truncated or empty; sitemaps nest, come gzipped (or are
named .gz and are not). Everything readable is taken, the rest is reported as a one-line problem
for the caller to log and count, and no input can raise out of here. XML entities are never
expanded (no entity-expansion attacks) and no network access is made while parsing.
"""

from __future__ import annotations

import itertools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from time import struct_time
from urllib.parse import urljoin

import feedparser
import lxml.etree

from newswatch.spiders.metadata import parse_timestamp

__all__ = ["DiscoveredLink", "Discovery", "read_feed", "read_sitemap"]

# Bounds of one sitemap file: the sitemaps.org limits (50 MB uncompressed, 50,000 URLs). The
# links kept are counted after the caller's filter (entries older than max_age are not kept), so
# a large archive sitemap whose entries are mostly old is still read to its end.
MAX_UNCOMPRESSED = 50 * 1024 * 1024
MAX_SITEMAP_LINKS = 50_000


@dataclass(frozen=True, slots=True)
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
    too_large: str | None = None  # a sitemap read only in part: why reading stopped
    skipped: int = 0  # sitemap entries the caller's filter did not keep


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


def read_sitemap(
    body: bytes,
    url: str,
    keep: Callable[[DiscoveredLink], bool] | None = None,
    max_bytes: int = MAX_UNCOMPRESSED,
    max_links: int = MAX_SITEMAP_LINKS,
) -> Discovery:
    """A sitemap index, a urlset (Google News extensions read), gzip or plain text.

    Read as a stream, element by element, so memory stays small whatever the sitemap's size:
    a gzip body is decompressed a chunk at a time, at most ``max_bytes`` of it (the sitemaps.org
    limit, 50 MB), and each entry is dropped from the tree once read. ``keep`` decides which
    article links are kept (entries of an index always are); at most ``max_links`` are. Past
    either bound reading stops, the links read so far are returned and ``too_large`` says why.
    """
    result = Discovery()
    chunks = _decompressed(body, max_bytes, result)
    try:
        first = b""
        for chunk in chunks:  # skip leading blanks to tell XML from a plain list of URLs
            first += chunk
            first = first.lstrip(b"\xef\xbb\xbf \t\r\n")
            if first:
                break
        if not first:
            result.problem = result.problem or "sitemap is empty"
            return result
        rest = itertools.chain([first], chunks)
        if first.startswith(b"<"):
            _read_xml_sitemap(rest, url, keep, max_links, result)
        else:
            _read_text_sitemap(rest, url, keep, max_links, result)
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        result.problem = f"cannot decompress sitemap: {exc}"
    if result.too_large:
        result.problem = result.problem or result.too_large
    return result


def _read_xml_sitemap(
    chunks: Iterable[bytes],
    url: str,
    keep: Callable[[DiscoveredLink], bool] | None,
    max_links: int,
    result: Discovery,
) -> None:
    parser = lxml.etree.XMLPullParser(
        events=("start", "end"),
        recover=True,
        resolve_entities=False,
        no_network=True,
        remove_comments=True,
        huge_tree=False,
    )
    depth = 0
    kind: str | None = None
    try:
        for chunk in chunks:
            parser.feed(chunk)
            for event, element in parser.read_events():
                if event == "start":
                    depth += 1
                    if depth == 1:
                        kind = _local(element.tag)
                        if kind not in ("urlset", "sitemapindex"):
                            result.problem = f"not a sitemap (root element <{kind}>)"
                            return
                    continue
                depth -= 1
                if depth != 1:
                    continue
                link = _entry(element, url)
                # done with it: drop the entry and those before it, so the tree stays tiny
                element.clear()
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
                if link is None:
                    continue
                if keep is not None and not link.is_sitemap and not keep(link):
                    result.skipped += 1
                    continue
                if len(result.links) >= max_links:
                    result.too_large = f"more than {max_links} links kept"
                    return
                result.links.append(link)
        parser.close()
    except lxml.etree.XMLSyntaxError as exc:
        if kind is None:
            result.problem = f"sitemap is not XML: {_one_line(str(exc))}"
            return
    finally:
        errors = parser.error_log
        if errors and result.problem is None:
            result.problem = _one_line(str(errors[0].message))
    if kind is None:
        result.problem = result.problem or "sitemap is empty"


def _entry(element: lxml.etree._Element, url: str) -> DiscoveredLink | None:
    name = _local(element.tag)
    if name not in ("url", "sitemap"):
        return None
    fields = _fields(element)
    location = fields.get("loc")
    if not location:
        return None
    return DiscoveredLink(
        url=location if location.startswith(("http://", "https://")) else urljoin(url, location),
        title=fields.get("title"),
        published=parse_timestamp(fields.get("publication_date")),
        updated=parse_timestamp(fields.get("lastmod")),
        is_sitemap=name == "sitemap",
    )


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


def _read_text_sitemap(
    chunks: Iterable[bytes],
    url: str,
    keep: Callable[[DiscoveredLink], bool] | None,
    max_links: int,
    result: Discovery,
) -> None:
    pending = b""
    for chunk in itertools.chain(chunks, [b"\n"]):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith(("http://", "https://")):
                continue
            link = DiscoveredLink(url=urljoin(url, line))
            if keep is not None and not keep(link):
                result.skipped += 1
            elif len(result.links) >= max_links:
                result.too_large = f"more than {max_links} links kept"
                return
            else:
                result.links.append(link)
    if not result.links and not result.skipped:
        result.problem = "empty or unreadable sitemap"


_CHUNK = 256 * 1024


def _decompressed(body: bytes, max_bytes: int, result: Discovery) -> Iterator[bytes]:
    """The sitemap's bytes a chunk at a time, gunzipped when they are gzip (by magic bytes).

    At most ``max_bytes`` are produced: past them ``result.too_large`` is set and the stream
    ends, so a gzip bomb or an oversized sitemap costs a bounded amount of memory and time.
    """
    if not body.startswith(b"\x1f\x8b"):
        if len(body) > max_bytes:
            result.too_large = f"larger than {_mb(max_bytes)} uncompressed"
        for start in range(0, min(len(body), max_bytes), _CHUNK):
            yield body[start : min(start + _CHUNK, max_bytes)]
        return
    produced = 0
    data = body
    while data.startswith(b"\x1f\x8b"):  # gzip members may follow each other
        inflater = zlib.decompressobj(wbits=31)
        while not inflater.eof:
            chunk = inflater.decompress(data, _CHUNK)
            data = inflater.unconsumed_tail
            if not chunk and not data:
                break
            produced += len(chunk)
            if produced > max_bytes:
                result.too_large = f"larger than {_mb(max_bytes)} uncompressed"
                yield chunk[: len(chunk) - (produced - max_bytes)]
                return
            yield chunk
        if not inflater.eof:
            raise EOFError("compressed sitemap ends before the end-of-stream marker")
        data = inflater.unused_data


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


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
