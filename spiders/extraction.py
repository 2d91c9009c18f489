"""Main text, title, publication time and language of an article page.

A watch must fire on what the article says and never on what the page around it says: a
navigation menu, a "most read" sidebar, a list of related stories, reader comments, a
newsletter box or the footer all carry words the article never used. No single extractor
is precise enough on its own (on the shared corpus trafilatura's defaults let 4.2% of the
boilerplate-only words match, readability 5.1%; the target is 2%), so the text is chosen by
combining signals:

1. **The page's own markup of its article.** An element marked ``itemprop="articleBody"``,
   else the ``<article>`` that holds the page's headline (an ``<h1>`` that agrees with the
   ``<title>``/``og:title``), is taken as the container, and extraction runs inside it only.
   A page that lists several posts, or one story with teasers of others, then yields only
   its own story.
2. **Pruning by name and shape before extraction.** Elements whose class or id name them as
   comments, related or most-read lists, newsletter and share boxes, sidebars, hover cards,
   navigation or footers are removed, and so are lists made only of short links (related
   stories inside the body). The container and its ancestors are never removed, nor any
   element holding most of the page's words (a wrapper that happens to be called "sidebar-
   layout" is the page, not a sidebar).
3. **trafilatura with ``favor_precision``** on what is left: it keeps what it is sure of.
4. **Recall from structural agreement.** Precision mode drops paragraphs it is unsure of,
   and trafilatura stops at the first body block when a site splits the story into several
   (ads between chunks). A paragraph of the container that trafilatura left out is added back
   when it sits in the same kind of block (same parent tag and class) as paragraphs
   trafilatura did keep, is a real sentence (15+ words) and is not mostly link text.
5. **The publisher's JSON-LD ``articleBody``.** When the page states its body there and that
   text agrees with what was extracted (covers most of its words) but is much longer, the
   extraction lost part of the story (lazy loading, a second chunk), and the publisher's text
   is used instead.
6. **Line filters** for boilerplate that sits inside article bodies: "Related: ...",
   "Read more ...", "Follow us on ...", "Subscribe ...", "Reporting by ...", "... contributed
   to this report", e-mail-only lines and the like.

``bench/extraction_quality.py`` measures the result on the shared corpus (recall of body terms,
false matches on boilerplate-only terms) against trafilatura's and readability's defaults.

The publication time is read from the page's own machine-readable metadata first, because that
carries a time of day and a zone; trafilatura's date (a day) is the fallback.

Extraction never raises: a page that cannot be parsed or yields no text gives ``None``, and an
unexpected failure inside a third-party library is logged and gives ``None`` too, so one odd page
cannot stop a crawl.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

import lxml.etree
import lxml.html
import trafilatura
import trafilatura.metadata
import trafilatura.settings

from alerts.textnorm import normalize

__all__ = ["Extracted", "extract_article", "parse_timestamp"]

logger = logging.getLogger(__name__)

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

# Class or id tokens that name boilerplate. A token *starting* with one of these prefixes
# counts ("related-stories", "commentList", "sidebar-right"); the short, ambiguous words
# count only as a whole token ("ad", "tags", "header"), so "tag-politics" (WordPress puts
# the post's tags on the article itself) or "shadow" are not caught.
_BOILERPLATE_PREFIXES = (
    "comment",
    "disqus",
    "respond",
    "related",
    "mostread",
    "most-read",
    "most_read",
    "mostpopular",
    "most-popular",
    "popular",
    "trending",
    "recommend",
    "recirc",
    "more-stories",
    "morestories",
    "read-more",
    "readmore",
    "also-read",
    "newsletter",
    "subscribe",
    "signup",
    "sign-up",
    "sharing",
    "share-",
    "share_",
    "social",
    "sponsor",
    "outbrain",
    "taboola",
    "breadcrumb",
    "rollover",
    "tooltip",
    "popover",
    "hovercard",
    "popup",
    "cookie",
    "consent",
    "sidebar",
    "author-bio",
    "authorbio",
    "promo",
    "advert",
    "nav",
    "footer",
)
_BOILERPLATE_TOKENS = frozenset(
    {"ad", "ads", "share", "tags", "bio", "menu", "modal", "aside", "banner", "masthead", "header"}
)
# "commentary" is an opinion article, not its comments.
_NOT_BOILERPLATE_PREFIXES = ("commentar",)
# Names so specific that they count after a site's own prefix too ("box-mostread",
# "c-related-links", "js-comments"): only the token's first segment is checked for the rest,
# because "content-with-sidebar" or "has-header" describe the page, not a boilerplate box.
_BOILERPLATE_SEGMENT_PREFIXES = (
    "comment",
    "disqus",
    "related",
    "mostread",
    "most-read",
    "mostpopular",
    "most-popular",
    "recirc",
    "newsletter",
    "outbrain",
    "taboola",
)
_SEGMENT = re.compile(r"[-_]")
_BOILERPLATE_TAGS = frozenset({"nav", "aside", "footer"})
_BOILERPLATE_ROLES = frozenset({"navigation", "complementary", "contentinfo", "banner", "search"})

# A pruned element may hold at most this share of the page's words: more is the page itself.
_MAX_PRUNED_SHARE = 0.5
# Link lists: every item at most this many words and at least this share of them linked.
_LINK_ITEM_MAX_WORDS = 20
_LINK_ITEM_MIN_SHARE = 0.8
# Paragraphs added back by structural agreement.
_HARVEST_MIN_WORDS = 15
_HARVEST_MAX_LINK_SHARE = 0.3
_KIND_MIN_WORDS = 5
# An <article> holding the headline must have this many words to be the story's container.
_CONTAINER_MIN_WORDS = 50
# The share of the <h1>'s words that must appear in the page title for it to be the headline.
_HEADLINE_AGREEMENT = 0.6
# JSON-LD articleBody replaces the extraction when it covers this share of the extracted
# words and is at least this many times longer.
_JSON_LD_AGREEMENT = 0.8
_JSON_LD_LONGER = 2.0

# Each pattern is anchored so that prose is not caught: "Related: ..." goes, "Related talks
# resume on Monday" stays; "Also on rt.com ..." goes, "Also on Tuesday, ..." stays.
_LINE_START = re.compile(
    r"^\W*(?:"
    + "|".join(
        (
            r"related(?: \w+){0,2}\s*(?:[:|]|$)",
            r"read more\b",
            r"read also\b",
            r"also read\b",
            r"see also\b",
            r"more:",
            r"recommended(?: \w+){0,2}\s*(?::|$)",
            r"don['’]?t miss\b",
            r"also on \S+\.\w{2,}\b",  # "Also on rt.com"
            r"follow @",
            r"subscribe\b",
            r"sign up\b",
            r"get the latest\b",
            r"click here\b",
            r"like this story",
            r"copyright\s*(?:©|\(c\)|\d{4})",
            r"all rights reserved",
            r"(?:additional )?reporting by\b",
            r"editing by\b",
            r"write to .{0,80}@",  # "Write to Al Root at allen.root@..."
            r"reach the reporters?\b",
            r"contact the (?:writer|reporter|author)",
            r"have a tip\b",
            r"advertisement$",
            r"comments?$",
            r"source:",
            r"filed under\b",
            r"tags?\s*(?::|$)",
            r"if you enjoyed this",
            r"tell us what you think",
            r"\S+@\S+\.\w+$",  # a contact address alone on its line
        )
    )
    + ")",
    re.IGNORECASE,
)
_LINE_START_MAX_WORDS = 60  # a long paragraph that merely starts "Related ..." is prose
# Credits and social plugs that end an author's note: "Keith Bradsher contributed reporting.",
# "Mike Wall's book ... is out now. Follow him on Twitter @michaeldwall."
_LINE_ANYWHERE = re.compile(
    r"contributed (?:reporting|to this report)|\bfollow (?:us|him|her|them|me) on\b",
    re.IGNORECASE,
)
_LINE_ANYWHERE_MAX_WORDS = 50
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published: datetime | None
    language: str | None
    canonical: str | None  # the page's rel=canonical, absolute, as written


def extract_article(html: str, url: str) -> Extracted | None:
    """None when the page holds no article text worth matching (never raises)."""
    try:
        return _extract(html, url)
    except Exception:  # one odd page must not stop the crawl; the log keeps the evidence
        logger.warning("extraction failed for %s", url, exc_info=True)
        return None


def _extract(html: str, url: str) -> Extracted | None:
    if not html or not html.strip():
        return None
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    work = copy.deepcopy(tree)  # pruned below; tree keeps scripts and meta for metadata
    json_ld_body = _json_ld_article_body(tree)
    published = _published_from_page(tree)
    language = _language(tree)
    canonical = _canonical(tree, url)
    metadata = trafilatura.metadata.extract_metadata(tree, default_url=url)
    title = (metadata.title or "").strip()

    text = _main_text(work, url, json_ld_body)
    if not text:
        return None
    if title and text.startswith(title):  # trafilatura repeats the headline as the first line
        text = text[len(title) :].lstrip()
    if not text:
        return None
    return Extracted(
        title=title,
        text=text,
        published=published or parse_timestamp(metadata.date),
        language=language,
        canonical=canonical,
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


# --- main text ------------------------------------------------------------------------


def _main_text(tree: lxml.html.HtmlElement, url: str, json_ld_body: str) -> str:
    lxml.etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
    container = _container(tree)
    _prune_boilerplate(tree, container)
    _prune_link_lists(tree)
    scope = container if container is not None else tree.find("body")
    source = _standalone(container) if container is not None else tree
    document = trafilatura.bare_extraction(
        source, url=url, favor_precision=True, include_comments=False, include_tables=True
    )
    text = ""
    if isinstance(document, trafilatura.settings.Document):
        text = document.text or ""
    if scope is not None:
        text = _add_agreeing_paragraphs(scope, text)
    if json_ld_body and _json_ld_is_fuller(json_ld_body, text):
        text = json_ld_body
    return _drop_boilerplate_lines(text).strip()


def _words(element: lxml.etree._Element) -> int:
    return len("".join(element.itertext()).split())


def _link_words(element: lxml.etree._Element) -> int:
    return sum(len("".join(a.itertext()).split()) for a in element.iter("a"))


def _container(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    """The element the page itself marks as its article, if it marks one credibly."""
    marked = tree.xpath("//*[@itemprop='articleBody' or @itemprop='articlebody']")
    if marked:
        return max(marked, key=_words)
    titles = tree.xpath("//head/title//text() | //meta[@property='og:title']/@content")
    title_words = {w for t in titles for w in _WORD.findall(normalize(str(t)))}
    if not title_words:
        return None
    for heading in tree.iter("h1"):
        heading_words = set(_WORD.findall(normalize(heading.text_content())))
        if not heading_words:
            continue
        if len(heading_words & title_words) < _HEADLINE_AGREEMENT * len(heading_words):
            continue  # an <h1> of a teaser, a logo, a section name: not this page's story
        article = next(heading.iterancestors("article"), None)
        if article is not None and _words(article) >= _CONTAINER_MIN_WORDS:
            return article
    return None


def _is_boilerplate_name(element: lxml.etree._Element) -> bool:
    names = f"{element.get('class') or ''} {element.get('id') or ''}".lower().split()
    for token in names:
        if token in _BOILERPLATE_TOKENS:
            return True
        if token.startswith(_BOILERPLATE_PREFIXES) and not token.startswith(
            _NOT_BOILERPLATE_PREFIXES
        ):
            return True
        for found in _SEGMENT.finditer(token):
            rest = token[found.end() :]
            if rest.startswith(_BOILERPLATE_SEGMENT_PREFIXES) and not rest.startswith(
                _NOT_BOILERPLATE_PREFIXES
            ):
                return True
    return False


def _is_boilerplate(element: lxml.etree._Element) -> bool:
    if element.tag in _BOILERPLATE_TAGS:
        return True
    if (element.get("role") or "").lower() in _BOILERPLATE_ROLES:
        return True
    return _is_boilerplate_name(element)


def _prune_boilerplate(
    tree: lxml.html.HtmlElement, container: lxml.html.HtmlElement | None
) -> None:
    body = tree.find("body")
    if body is None:
        return
    limit = _MAX_PRUNED_SHARE * max(1, _words(body))
    keep: set[lxml.etree._Element] = {body}
    if container is not None:
        keep.add(container)
        keep.update(container.iterancestors())
    doomed: list[lxml.etree._Element] = []
    stack = list(reversed(body))
    while stack:  # document order, not descending into what goes
        element = stack.pop()
        if not isinstance(element.tag, str):
            continue
        if element not in keep and _is_boilerplate(element) and _words(element) <= limit:
            doomed.append(element)
            continue
        stack.extend(reversed(element))
    for element in doomed:
        element.drop_tree()


def _prune_link_lists(tree: lxml.html.HtmlElement) -> None:
    """Lists whose every item is a short link: related stories, even inside the body."""
    doomed = []
    for listing in tree.iter("ul", "ol"):
        items = [li for li in listing if li.tag == "li"]
        if not items:
            continue
        for item in items:
            words = _words(item)
            if words and (
                words > _LINK_ITEM_MAX_WORDS or _link_words(item) < _LINK_ITEM_MIN_SHARE * words
            ):
                break
        else:
            doomed.append(listing)
    for listing in doomed:
        if listing.getparent() is not None:
            listing.drop_tree()


def _standalone(element: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """A document holding a copy of ``element`` alone, for trafilatura to extract from."""
    page = lxml.html.Element("html")
    body = lxml.html.Element("body")
    page.append(body)
    clone = copy.deepcopy(element)
    clone.tail = None
    body.append(clone)
    return page


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def _block_kind(element: lxml.etree._Element) -> tuple[str, str, str] | None:
    parent = element.getparent()
    if parent is None:
        return None
    return (str(parent.tag), parent.get("class") or "", element.get("class") or "")


def _add_agreeing_paragraphs(scope: lxml.etree._Element, text: str) -> str:
    """Add back paragraphs shaped like the ones trafilatura kept, each after its predecessor."""
    flat = _collapsed(text)
    kept_kinds: set[tuple[str, str, str] | None] = set()
    paragraphs: list[tuple[lxml.etree._Element, str, bool]] = []
    for paragraph in scope.iter("p"):
        content = _collapsed("".join(paragraph.itertext()))
        if not content:
            continue
        kept = content in flat
        if kept and len(content.split()) >= _KIND_MIN_WORDS:  # not a chance substring
            kept_kinds.add(_block_kind(paragraph))
        paragraphs.append((paragraph, content, kept))
    additions: list[tuple[str | None, str]] = []  # (the kept paragraph before it, paragraph)
    anchor: str | None = None
    for paragraph, content, kept in paragraphs:
        if kept:
            anchor = content
            continue
        words = len(content.split())
        if (
            _block_kind(paragraph) in kept_kinds
            and words >= _HARVEST_MIN_WORDS
            and _link_words(paragraph) <= _HARVEST_MAX_LINK_SHARE * words
        ):
            additions.append((anchor, content))
    if not additions:
        return text
    pending: dict[str | None, list[str]] = {}
    for anchor, content in additions:
        pending.setdefault(anchor, []).append(content)
    out: list[str] = pending.pop(None, [])  # before the first paragraph trafilatura kept
    for line in text.split("\n"):
        out.append(line)
        flat_line = _collapsed(line)
        for anchor in [a for a in pending if a is not None and a in flat_line]:
            out.extend(pending.pop(anchor))
    for rest in pending.values():  # anchors not found on one line: keep the text anyway
        out.extend(rest)
    return "\n".join(out)


def _json_ld_is_fuller(json_ld_body: str, text: str) -> bool:
    if len(json_ld_body) < _JSON_LD_LONGER * len(text):
        return False
    extracted = set(_WORD.findall(normalize(text)))
    stated = set(_WORD.findall(normalize(json_ld_body)))
    return len(extracted & stated) >= _JSON_LD_AGREEMENT * len(extracted)


def _drop_boilerplate_lines(text: str) -> str:
    kept = []
    for line in text.split("\n"):
        stripped = line.strip()
        words = len(stripped.split())
        if stripped and (
            (words < _LINE_START_MAX_WORDS and _LINE_START.search(stripped))
            or (words < _LINE_ANYWHERE_MAX_WORDS and _LINE_ANYWHERE.search(stripped))
        ):
            continue
        kept.append(line)
    return "\n".join(kept)


# --- metadata ---------------------------------------------------------------------------


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


def _json_ld_article_body(tree: lxml.html.HtmlElement) -> str:
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


def _published_from_page(tree: lxml.html.HtmlElement) -> datetime | None:
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
