"""Candidate mirrors: the host names an outlet points its readers to as another address of itself.

Blocked outlets announce their next address the way a reader would find it: written in a
footer or a banner ("can also be accessed at the following alternate addresses:
www.presstv.co.uk", with or without a scheme, in any language), as a link whose text is the
address or whose sentence announces it, as ``rel=alternate`` / canonical / ``og:url`` links, or
in a published list. A host name in the text counts when the outlet could be pointing to itself
with it: its sentence announces an address ("mirror", "alternate", "new address", ...) or it
bears the outlet's own name (www.presstv.co.uk for www.presstv.ir). An article that merely
mentions another site (a source, a social network) names no candidate, so a poll asks no third
party for the outlet's paths. Everything found here is still only a *candidate*: nothing is
trusted before ``newswatch.spiders.verification`` has seen it serve the outlet's own articles.

Host names are recognised by their public suffix (tldextract's bundled list, never fetched), so
"index.html" or "e.g." are not taken for addresses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
import tldextract

__all__ = [
    "Candidate",
    "announced_hosts",
    "brand_of",
    "host_of",
    "hosts_in_list",
    "is_host_name",
    "page_tree",
]

# Offline: the suffix list that ships with tldextract, never one downloaded at run time.
_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

# A host name, with or without a scheme; not the domain of an e-mail address (after "@").
_HOST_IN_TEXT = re.compile(
    r"(?<![@\w.-])(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62})"
    r"(?![\w-]|\.[a-z0-9])",
    re.IGNORECASE,
)

# What every host name in text has, and most text has not; far cheaper to look for than one.
_DOTTED = re.compile(r"[a-z0-9]\.[a-z]", re.IGNORECASE)

# Words of a sentence announcing another address, in the languages of the outlets that publish
# mirrors most; a link with none of them counts only when its text is an address itself.
_ANNOUNCING = (
    "mirror", "alternat", "also be accessed", "also available", "new address", "new domain",
    "зеркал", "альтернатив", "новый адрес", "آدرس", "نشانی", "جایگزین", "بديل", "رابط",
    "عنوان الموقع", "镜像", "备用", "网址",
)  # fmt: skip


def _announces(text: str, lowered: bool = False) -> bool:
    """Whether a text has a word that announces another address (substring search: a regex
    alternation with IGNORECASE cost a page's whole look); ``lowered``: it is lower case
    already."""
    text = text if lowered else text.lower()
    return any(word in text for word in _ANNOUNCING)


_SENTENCE = 400  # characters: longer "surrounding text" is a section, not a sentence
_UNSEEN = frozenset(("script", "style", "noscript"))
_RELATIONS = (
    (
        "rel=alternate",
        "//link[contains(concat(' ', normalize-space(@rel), ' '), ' alternate ')]"
        "[not(contains(@type, 'rss')) and not(contains(@type, 'atom'))]/@href",
    ),
    ("rel=canonical", "//link[@rel='canonical']/@href"),
    ("og:url", "//meta[@property='og:url']/@content"),
)


@dataclass(frozen=True)
class Candidate:
    host: str
    announced_as: str  # text, link, rel=alternate, rel=canonical, og:url, redirect, mirror list
    announced_at: str  # the URL of what named it


def is_host_name(text: str) -> bool:
    """A syntactically valid host name under a known public suffix (and not an IP address)."""
    parts = _SUFFIXES(text)
    return bool(parts.suffix and parts.domain) and _HOST_IN_TEXT.fullmatch(text) is not None


def brand_of(host: str) -> str:
    """The registered name of a host without its suffix ("presstv" of www.presstv.co.uk); under
    a suffix the list does not know (a private or test domain), the label before the last."""
    parts = _SUFFIXES(host)
    if parts.suffix:
        return str(parts.domain)
    labels = host.split(".")
    return labels[-2] if len(labels) >= 2 else ""


def host_of(url_or_host: str) -> str | None:
    """The host name a URL or bare host name points to, lower-cased; None when it is none."""
    text = url_or_host.strip()
    if "://" in text:
        try:
            text = urlsplit(text).hostname or ""
        except ValueError:
            return None
    host = text.split("/", 1)[0].rstrip(".").lower()
    return host if is_host_name(host) else None


def page_tree(html: str) -> lxml.html.HtmlElement | None:
    """The page's element tree, as Scrapy's selectors parse it; None when it holds none."""
    body = html.strip().replace("\x00", "").encode("utf-8")  # libxml2 stops at a NUL
    try:
        return lxml.html.document_fromstring(body, parser=_PARSER)
    except (lxml.etree.ParserError, ValueError):
        return None


_PARSER = lxml.html.HTMLParser(encoding="utf-8")


def announced_hosts(
    page: lxml.html.HtmlElement | str, url: str, known: Iterable[str]
) -> list[Candidate]:
    """The candidates a page announces: other hosts in its text, links and link relations.

    ``known``: the outlet's own host names, which are never candidates. Most of a news page's
    links lead to the outlet itself; those are passed over before any text is gathered, so a
    page costs about what parsing it does.
    """
    root = page_tree(page) if isinstance(page, str) else page
    if root is None:
        return []
    own = {host.lower() for host in known}
    found: dict[str, Candidate] = {}

    def add(host: str | None, kind: str) -> None:
        if host and host not in own and host not in found:
            found[host] = Candidate(host, kind, url)

    for kind, query in _RELATIONS:
        for target in root.xpath(query):
            add(host_of(urljoin(url, str(target).strip())), kind)
    # Most pages announce nothing: one look at all of their text says whether any sentence
    # can announce an address or any host name can bear the outlet's name, and spares the
    # text of every link's sentence and every text node (most of the cost, on pages whose
    # links mostly lead elsewhere).
    body = root.find("body")
    everything = body.text_content().lower() if body is not None else ""
    announcing = _announces(everything, lowered=True)
    brands = {brand_of(host) for host in own} - {""}
    branded = any(brand in everything for brand in brands)
    for link in root.xpath("//body//a[@href]"):
        href = (link.get("href") or "").strip()
        if not href.lower().startswith(("http://", "https://", "//")):
            continue  # a path: the page's own host, or no web address at all
        if _own_link(href, own):  # the host an absolute link names is the one it leads to
            continue
        text = " ".join(link.text_content().split())
        if (_looks_like_host(text) and host_of(text)) or (
            announcing and _announces(_sentence_of(link, text))
        ):
            add(host_of(urljoin(url, href)), "link")  # joined only now: most links go nowhere
    if not (announcing or branded):
        return list(found.values())
    for text in _texts_seen(root):
        if _DOTTED.search(text) is None:  # no "name.tld" in it: most text, found at a glance
            continue
        for match in _HOST_IN_TEXT.finditer(text):
            host = match.group(1).rstrip(".").lower()
            if host in own or host in found or not is_host_name(host):
                continue
            around = text[max(0, match.start() - _SENTENCE // 2) : match.end() + _SENTENCE // 2]
            if brand_of(host) in brands or _announces(around):
                add(host, "text")
    return list(found.values())


def _texts_seen(root: lxml.html.HtmlElement) -> Iterator[str]:
    """The text nodes of the page's body outside scripts, styles and noscript, in document order.

    What ``//body//text()[not(ancestor::script) ...]`` selects, at half its cost (libxml2
    walks every text node's ancestors for each test); a stack, not recursion, so that no
    nesting depth can exhaust Python's.
    """
    for body in root.iter("body"):
        if any(above.tag == "body" for above in body.iterancestors()):
            continue  # its text is its outer body's
        stack: list[lxml.html.HtmlElement | str] = [body]
        while stack:
            item = stack.pop()
            if isinstance(item, str):
                yield item
                continue
            if item.text and isinstance(item.tag, str):  # a comment's text is no text node
                yield item.text
            after: list[lxml.html.HtmlElement | str] = []
            for child in item:
                if child.tag not in _UNSEEN:
                    after.append(child)
                if child.tail:
                    after.append(child.tail)
            stack.extend(reversed(after))


def _looks_like_host(text: str) -> bool:
    return "." in text and " " not in text and len(text) < 300


def _sentence_of(link: lxml.html.HtmlElement, text: str) -> str:
    """The text around a link: its parent's, unless that is a whole page section."""
    parent = link.getparent()
    sentence = " ".join(parent.text_content().split()) if parent is not None else text
    return text if len(sentence) > _SENTENCE else sentence


def _own_link(href: str, own: set[str]) -> bool:
    try:
        host = urlsplit(href).hostname
    except ValueError:
        return True  # no host to speak of
    return host is None or host.rstrip(".") in own


def hosts_in_list(body: bytes, content_type: str | None = None) -> list[str]:
    """The host names of a published mirror list: JSON (every string in it that is a host name
    or a URL) or plain text (one per line, or separated by spaces or commas)."""
    text = body.decode("utf-8", "replace")
    strings: Iterable[str]
    try:
        strings = list(_json_strings(json.loads(text)))
    except ValueError:
        strings = re.split(r"[\s,;]+", text)
    hosts: list[str] = []
    for string in strings:
        host = host_of(string)
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def _json_strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)
