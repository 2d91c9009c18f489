"""newswatch's own precision-minded extraction: one of the voices the judging listens to.

It keeps what it is sure of: the element the page marks as its article, pruned of elements
named or shaped like furniture, then trafilatura with ``favor_precision``, paragraphs shaped
like the kept ones added back, the publisher's JSON-LD ``articleBody`` when it is clearly
fuller, and lines that read as furniture ("Related: ...", "Follow us on ...") dropped.
docs/detection.md tells the whole story.
"""

from __future__ import annotations

import copy
import re

import lxml.etree
import lxml.html
import trafilatura
import trafilatura.settings

from newswatch.alerts.textnorm import normalize

__all__ = ["article_container", "headline_of", "precise_text"]

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


def precise_text(tree: lxml.html.HtmlElement, url: str, json_ld_body: str) -> str:
    """The text a precision-minded pass keeps from ``tree`` (pruned in place: pass a copy)."""
    lxml.etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
    container = article_container(tree, headline_of(tree))
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


def headline_of(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    """The ``<h1>`` that agrees with the page's ``<title>`` / ``og:title``: the story's own."""
    titles = tree.xpath("//head/title//text() | //meta[@property='og:title']/@content")
    title_words = {w for t in titles for w in _WORD.findall(normalize(str(t)))}
    if not title_words:
        return None
    for heading in tree.iter("h1"):
        heading_words = set(_WORD.findall(normalize(heading.text_content())))
        if heading_words and len(heading_words & title_words) >= _HEADLINE_AGREEMENT * len(
            heading_words
        ):
            return heading  # not the <h1> of a teaser, a logo or a section name
    return None


def article_container(
    tree: lxml.html.HtmlElement, headline: lxml.html.HtmlElement | None
) -> lxml.html.HtmlElement | None:
    """The element the page itself marks as its article, if it marks one credibly."""
    marked = tree.xpath("//*[@itemprop='articleBody' or @itemprop='articlebody']")
    if marked:
        return max(marked, key=_words)
    if headline is None:
        return None
    article = next(headline.iterancestors("article"), None)
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
