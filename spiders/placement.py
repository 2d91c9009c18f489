"""Where on a page a piece of text sits: the article, or the furniture around it.

The page is cut into *blocks*, the lines a reader sees (a paragraph, a list item, a heading, a
caption), each with its own text. Every block is described by general signals that hold on
sites never seen, none of them a rule for a particular site:

* agreement of independent extractors: whether the block's text is in the text that
  newswatch's precision-minded trafilatura pass kept, and in what resiliparse's main-content
  extraction kept;
* the publisher's own statement: the block's text is part of a JSON-LD ``articleBody``, or the
  block sits inside the element marked ``itemprop="articleBody"`` or the ``<article>`` that
  holds the headline;
* semantic markup and ARIA roles of the block and its ancestors (``nav``, ``aside``,
  ``footer``, ``role="complementary"`` ...), and class/id tokens that name furniture by kind
  (comments, related and most-read lists, share and newsletter boxes, cookie banners,
  navigation, footers, sidebars, ads);
* shape: words, link density of the block and of its surroundings, whether it reads as a
  sentence, its tag;
* position: before the headline, inside the stretch of the page where the extractors found
  the article, how far from the nearest block they kept;
* the block against the rest of its page: its text repeated elsewhere or as another link's
  text, inside a link, sharing its element's shape with blocks the extractors dropped, the
  reader or the publisher addressed ("your", "unser"), how many container blocks follow it,
  its words shared with the headline.

:mod:`newswatch.spiders.judging` weighs these signals into one decision per block.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import ahocorasick
import lxml.etree
import lxml.html

__all__ = [
    "FEATURES",
    "Block",
    "Evidence",
    "block_features",
    "furniture_phrase",
    "named_furniture",
    "segment",
]

# Elements that flow inside a line of text; every other element starts a block of its own.
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "acronym",
        "b",
        "bdi",
        "bdo",
        "big",
        "br",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "img",
        "input",
        "ins",
        "kbd",
        "label",
        "mark",
        "q",
        "s",
        "samp",
        "select",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "svg",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
        "button",
    ]
)
_INVISIBLE = frozenset({"script", "style", "noscript", "template", "rt", "rp", "head", "title"})
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…。！？؟»”\"')]\s*$")

_FURNITURE_TAGS = frozenset({"nav", "aside", "footer", "form"})
_FURNITURE_ROLES = frozenset(
    {"navigation", "complementary", "contentinfo", "banner", "search", "dialog", "alertdialog"}
)
# Class/id words naming a kind of furniture. A class or id token counts when one of its words
# (split at case changes, "-" and "_") starts with one of these.
_NAMED: dict[str, tuple[str, ...]] = {
    "comments": ("comment", "disqus", "respond", "reply", "replies", "discussion", "forum"),
    "related": (
        "related",
        "recommend",
        "popular",
        "mostread",
        "trending",
        "recirc",
        "more",
        "readmore",
        "teaser",
        "also",
        "next",
        "prev",
        "outbrain",
        "taboola",
    ),
    "share": ("share", "sharing", "social", "follow", "facebook", "twitter", "whatsapp"),
    "newsletter": ("newsletter", "subscri", "signup", "paywall", "regwall", "login", "register"),
    "consent": ("cookie", "consent", "gdpr", "privacy", "notice", "banner", "modal", "popup"),
    "navigation": ("nav", "menu", "breadcrumb", "pagination", "pager", "skip", "toolbar"),
    "footer": ("footer", "copyright", "colophon", "impressum", "legal", "bottom"),
    "sidebar": ("sidebar", "aside", "widget", "rail", "column-right", "secondary"),
    "ads": ("advert", "ad", "ads", "promo", "sponsor", "affiliate", "commercial", "werbung"),
    "meta": ("tag", "tags", "category", "categories", "byline", "author", "bio", "meta", "date"),
    "header": ("header", "masthead", "topbar", "logo", "brand"),
    "body": ("article", "content", "story", "entry", "post", "body", "text", "main", "prose"),
}
_LABEL_WORDS = 4
# A web or mail address, a handle or a copyright sign: "gofeminin.de", "@JamaicaGleaner", "©".
_ADDRESS = re.compile(r"\b\w[\w-]*\.(?:[a-z]{2,6})\b(?!\.\w)|@\w|©|https?://", re.IGNORECASE)
# Words that furniture says to the reader in the major languages of the web, and that an article
# rarely says about itself: calls to subscribe, share, follow, comment, log in; pointers to more
# reading; credits of photos and agencies; advertising labels. A soft signal, weighed with the
# rest: an article about newsletters still reads as an article.
_CUE_WORDS = re.compile(
    r"\b(?:"
    r"subscri\w*|abonn\w*|suscri\w*|subskryp\w*|newsletter\w*|sign up|sign in|log ?in|"
    r"anmeld\w*|einlogg\w*|registr\w*|inscri\w*|iscriv\w*|zaloguj\w*|"
    r"follow us|folg(?:en|t) sie|suivez|s[ií]guenos|seguici|obserwuj|"
    r"share|teilen|partager|compartir|condividi|udost[eę]pnij|"
    r"comments?|kommentar\w*|commentaires?|comentarios?|commenti|komentarz\w*|"
    r"read (?:more|also|next)|see also|related|recommended|most (?:read|popular)|"
    r"lesen sie (?:auch|mehr)|auch interessant|mehr zum thema|weitere (?:artikel|themen|informationen)|"
    r"das k[oö]nnte|[àa] lire aussi|lire aussi|voir aussi|le puede interesar|lee tambi[eé]n|"
    r"leggi anche|czytaj (?:te[zż]|tak[zż]e|wi[eę]cej)|zobacz (?:te[zż]|tak[zż]e)|"
    r"advertisement|anzeige|werbung|publicidad|publicit[eé]|pubblicit[aà]|reklama|sponsored|"
    r"foto|photo|bild|image|imago|getty|reuters|afp|dpa|epa|shutterstock|"
    r"copyright|all rights reserved|alle rechte|tous droits|todos los derechos|"
    r"cookies?|datenschutz|privacy|impressum|kontakt|contact us"
    r")\b",
    re.IGNORECASE,
)
_CUE_MAX_WORDS = 40
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_NAME_WORD = re.compile(r"[a-z]+|[A-Z][a-z]*")
# The reader addressed directly, as calls to action do ("Gefällt dir unser Magazin?").
_SECOND_PERSON = re.compile(
    r"\b(?:you|your|Sie|Ihr|Ihre[nmrs]?|du|dir|dich|dein\w*|euch|euer|eure\w*|vous|votre|vos|"
    r"usted|ustedes|tu|te|ti|voi|vostr\w|ty|ci|wam|pan|pa[nń]stw\w*)\b"
)
# The publisher speaking of itself ("our newsletter", "unser Magazin", "notre offre").
_FIRST_PLURAL = re.compile(
    r"\b(?:[Ww]e|[Oo]ur|us|[Ww]ir|[Uu]ns\w*|[Nn]ous|[Nn]otre|[Nn]os|[Nn]uestr\w*|[Nn]ostr\w*|"
    r"[Nn]asz\w*)\b"
)
_CAPITALISED = re.compile(r"^[^\w]*[A-ZÀ-ÞĀ-Ž]")


@dataclass(slots=True)
class Block:
    """One line of the page as a reader sees it: its element and its own text."""

    element: lxml.html.HtmlElement
    text: str  # whitespace collapsed, without the text of nested blocks
    words: int
    link_words: int


@dataclass(frozen=True)
class Evidence:
    """What other parts of the analysis say about the page, in text."""

    kept: tuple[str, ...]  # each extractor's output, whitespace collapsed
    json_ld_body: str  # collapsed
    container: lxml.html.HtmlElement | None  # the element the page marks as its article
    headline: lxml.html.HtmlElement | None  # the <h1> of the article


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _hidden(element: lxml.etree._Element) -> bool:
    return (
        element.get("hidden") is not None
        or (element.get("aria-hidden") or "").lower() == "true"
        or bool(_HIDDEN_STYLE.search(element.get("style") or ""))
    )


def segment(body: lxml.html.HtmlElement) -> list[Block]:
    """The visible blocks under ``body``, in document order."""
    blocks: list[Block] = []

    def inline(
        element: lxml.etree._Element, own: list[str], links: list[str], in_link: bool
    ) -> None:
        if element.tag == "br":
            own.append(" ")
        text = element.text or ""
        own.append(text)
        linked = in_link or element.tag == "a"
        if linked:
            links.append(text)
        for child in element:
            visit(child, own, links, linked)
            tail = child.tail or ""
            own.append(tail)
            if linked:
                links.append(tail)

    def visit(
        element: lxml.etree._Element, own: list[str], links: list[str], in_link: bool
    ) -> None:
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        if not tag or tag in _INVISIBLE or _hidden(element):
            return
        if tag in _INLINE:
            inline(element, own, links, in_link)
            return
        own.append(" ")  # a block inside a line breaks it
        at = len(blocks)
        mine: list[str] = []
        my_links: list[str] = []
        inline(element, mine, my_links, False)
        text = _collapse("".join(mine))
        if text:
            link_words = len(_collapse(" ".join(my_links)).split())
            blocks.insert(at, Block(element, text, len(text.split()), link_words))

    visit(body, [], [], False)
    return blocks


def _role_words(element: lxml.etree._Element) -> tuple[str, ...]:
    """The words of an element's class and id that can say what it is: a name that says what
    an element holds ("content-with-sidebar", "has-comments") is the layout around the
    article, not the furniture it names. ("no-cookies" is left alone: it names the notice
    shown when cookies are off.)"""
    return _words_of_role(f"{element.get('class') or ''} {element.get('id') or ''}")


# "has-" or "with-" and a word, or the same in camel case ("hasSidebar").
_COMPOSITION = re.compile(r"(?<![A-Za-z0-9])(?:has|with)(?:[-_]+[A-Za-z]+|[A-Z][a-z]*)")


@functools.lru_cache(maxsize=65_536)
def _words_of_role(raw: str) -> tuple[str, ...]:
    return _words_of_name(_COMPOSITION.sub(" ", raw))


def _name_kinds(element: lxml.etree._Element) -> frozenset[str]:
    return _kinds_of_name(f"{element.get('class') or ''} {element.get('id') or ''}")


# A page repeats a few dozen class names over thousands of elements, and sites share most of
# them: the words and kinds of a name are worked out once per distinct name.
@functools.lru_cache(maxsize=65_536)
def _words_of_name(raw: str) -> tuple[str, ...]:
    """The words of a class/id value, each once, in the order written (so that the first word
    naming furniture is the one reported, on every run)."""
    return tuple(dict.fromkeys(w.lower() for w in _NAME_WORD.findall(raw)))


@functools.lru_cache(maxsize=65_536)
def _kinds_of_name(raw: str) -> frozenset[str]:
    words = _words_of_name(raw)
    return frozenset(
        kind for kind, prefixes in _NAMED.items() if any(w.startswith(prefixes) for w in words)
    )


FEATURES = (
    "kept_newswatch",
    "kept_trafilatura",
    "kept_resiliparse",
    "kept_share",
    "in_json_ld",
    "in_container",
    "no_container",
    "in_article_tag",
    "in_main",
    "furniture_tag",
    "furniture_role",
    "header_tag",
    *(f"named_{kind}" for kind in _NAMED),
    "log_words",
    "link_share",
    "parent_link_share",
    "sentence",
    "tag_p",
    "tag_li",
    "tag_heading",
    "tag_cell",
    "tag_quote_caption",
    "before_headline",
    "inside_kept_span",
    "log_distance_kept",
    "siblings_kept",
    "label_line",
    "address",
    "upper_share",
    "after_kept_end",
    "log_blocks_to_kept_end",
    "relative_words",
    "cue_words",
    "under_cue_heading",
    "log_copies",
    "inside_link",
    "name_like",
    "colon_end",
    "digit_share",
    "second_person",
    "first_plural",
    "log_container_tail",
    "neighbors_kept",
    "log_same_class",
    "same_class_kept",
    "title_overlap",
)


# What the query contract names as never matched: menus, sidebars, related stories, comments, footers, and
# the consent banners every page carries. Marked up (nav, aside, footer, ARIA roles) or named
# as such in unambiguous words, a block is furniture whatever the weighing says.
_NEVER_MATCHED = (
    "comment",
    "disqus",
    "related",
    "recommend",
    "mostread",
    "popular",
    "outbrain",
    "taboola",
    "nav",
    "menu",
    "breadcrumb",
    "footer",
    "sidebar",
    "cookie",
    "consent",
    "gdpr",
)
_NOT_FURNITURE = ("commentar", "navigat")  # "commentary" is an opinion piece
# An element holding more than this share of the page's words is the page, not furniture in
# it, whatever it is called ("content-with-sidebar").
_FRAME_SHARE = 0.5


def named_furniture(blocks: list[Block], evidence: Evidence) -> list[str | None]:
    """For each block, what its markup says it is part of when that is furniture, or None.

    An element that holds the headline or the article's container, or most of the page's
    words, is the page's frame, not furniture, whatever it is called.
    """
    frame: set[lxml.etree._Element] = set()
    for anchor in (evidence.headline, evidence.container):
        if anchor is not None:
            frame.add(anchor)
            frame.update(anchor.iterancestors())
    page_words = sum(b.words for b in blocks)
    counts = _Counts()
    verdicts: dict[lxml.etree._Element, str | None] = {}

    def named(element: lxml.etree._Element) -> str | None:
        role = (element.get("role") or "").lower()
        if element.tag in ("nav", "aside", "footer") or role in _FURNITURE_ROLES:
            return role or str(element.tag)
        for word in _role_words(element):
            if word.startswith(_NEVER_MATCHED) and not word.startswith(_NOT_FURNITURE):
                return word
        return None

    def kind_of(element: lxml.etree._Element) -> str | None:
        if element in verdicts:
            return verdicts[element]
        verdict: str | None = None
        if element not in frame and element.tag not in ("body", "html"):
            verdict = named(element)
            if verdict is not None and counts(element)[0] > _FRAME_SHARE * page_words:
                verdict = None
        parent = element.getparent()
        if verdict is None and parent is not None:
            verdict = kind_of(parent)
        verdicts[element] = verdict
        return verdict

    return [kind_of(b.element) for b in blocks]


# What :func:`named_furniture` returns (a tag, an ARIA role, or a class/id word starting with one
# of _NEVER_MATCHED), in words a reader of ``newswatch try`` recognises; first prefix wins.
_PHRASES = (
    (("comment", "disqus"), "in the comments"),
    (("mostread", "popular"), "in a 'most read' list"),
    (("related", "recommend", "outbrain", "taboola"), "in a 'related stories' list"),
    (("nav", "menu", "breadcrumb"), "in a navigation menu"),
    (("footer", "contentinfo"), "in the page footer"),
    (("sidebar", "aside", "complementary"), "in a sidebar"),
    (("cookie", "consent", "gdpr", "dialog", "alertdialog"), "in a cookie or consent notice"),
    (("banner",), "in the page header"),
    (("search",), "in a search form"),
)


def furniture_phrase(name: str) -> str:
    """Where a block named ``name`` by :func:`named_furniture` sits, said for people."""
    for prefixes, phrase in _PHRASES:
        if name.startswith(prefixes):
            return phrase
    return f"in a part of the page marked {name!r}"


class _Counts:
    """Words and linked words under an element, each element and link counted once a page."""

    def __init__(self) -> None:
        self._of: dict[lxml.etree._Element, tuple[int, int]] = {}
        self._link: dict[lxml.etree._Element, int] = {}

    def __call__(self, element: lxml.etree._Element) -> tuple[int, int]:
        counted = self._of.get(element)
        if counted is None:
            links = sum(self._link_words(a) for a in element.iter("a"))
            counted = self._of[element] = (len(element.text_content().split()), links)
        return counted

    def _link_words(self, a: lxml.etree._Element) -> int:
        words = self._link.get(a)
        if words is None:
            words = self._link[a] = len(a.text_content().split())
        return words


@dataclass(frozen=True, slots=True)
class _Marks:
    """The tags, ARIA roles and named kinds of an element and its ancestors below ``<body>``."""

    tags: frozenset[str]
    roles: frozenset[str]
    kinds: frozenset[str]


_NO_MARKS = _Marks(frozenset(), frozenset(), frozenset())


class _Ancestry:
    """:class:`_Marks` of every element, each worked out once from its parent's: a page's
    blocks share most of their ancestors, and walking each block's whole chain again cost
    more than any other signal."""

    def __init__(self) -> None:
        self._of: dict[lxml.etree._Element, _Marks] = {}

    def of_block(self, element: lxml.etree._Element) -> _Marks:
        """The block's own marks and its ancestors' (the block counts even as ``<body>``)."""
        parent = element.getparent()
        return self._joined(element, self._above(parent) if parent is not None else _NO_MARKS)

    def _above(self, element: lxml.etree._Element) -> _Marks:
        marks = self._of.get(element)
        if marks is None:
            parent = element.getparent()
            above = self._above(parent) if parent is not None else _NO_MARKS
            marks = above if element.tag in ("body", "html") else self._joined(element, above)
            self._of[element] = marks
        return marks

    @staticmethod
    def _joined(element: lxml.etree._Element, above: _Marks) -> _Marks:
        role = (element.get("role") or "").lower()
        return _Marks(
            above.tags | {str(element.tag)},
            above.roles | {role},
            above.kinds | _name_kinds(element),
        )


def block_features(blocks: list[Block], evidence: Evidence) -> list[list[float]]:
    """One row of :data:`FEATURES` per block."""
    texts = [b.text for b in blocks]
    occurring = _Occurring(texts)
    found = [occurring.inside(out) for out in evidence.kept]
    kept = [[text in f for f in found] for text in texts]
    any_kept = [i for i, k in enumerate(kept) if k and k[0]]
    first, last = (any_kept[0], any_kept[-1]) if any_kept else (-1, -1)
    container_members = _members(evidence.container)
    headline_at = _position_of(blocks, evidence.headline)
    parent_shares: dict[lxml.etree._Element, float] = {}
    sibling_kept: dict[lxml.etree._Element, list[int]] = {}
    for block, k in zip(blocks, kept, strict=True):
        parent = block.element.getparent()
        if parent is not None:
            sibling_kept.setdefault(parent, []).append(int(any(k)))
    siblings_share = {p: sum(flags) / len(flags) for p, flags in sibling_kept.items()}
    in_json_ld = occurring.inside(evidence.json_ld_body)
    rows = []
    nearest = _distances(len(blocks), any_kept)
    kept_sizes = sorted(blocks[i].words for i in any_kept)
    typical = kept_sizes[len(kept_sizes) // 2] if kept_sizes else 0
    cue_heading = False
    extra = _page_signals(blocks, kept, evidence, container_members)
    ancestry = _Ancestry()
    counts = _Counts()
    for index, (block, k) in enumerate(zip(blocks, kept, strict=True)):
        element = block.element
        if element.tag in _HEADINGS:
            cue_heading = bool(_CUE_WORDS.search(block.text))
        marks = ancestry.of_block(element)
        tags, roles, kinds = marks.tags, marks.roles, marks.kinds
        parent = element.getparent()
        if parent is not None and parent not in parent_shares:
            words, links = counts(parent)
            parent_shares[parent] = links / words if words else 0.0
        row = [
            *(float(v) for v in k),
            sum(k) / len(k),
            float(block.text in in_json_ld),
            float(element in container_members),
            float(evidence.container is None),
            float("article" in tags),
            float("main" in tags or "main" in roles),
            float(bool(tags & _FURNITURE_TAGS)),
            float(bool(roles & _FURNITURE_ROLES)),
            float("header" in tags),
            *(float(kind in kinds) for kind in _NAMED),
            math.log1p(block.words),
            block.link_words / block.words if block.words else 0.0,
            parent_shares.get(parent, 0.0) if parent is not None else 0.0,
            float(bool(_SENTENCE_END.search(block.text)) and block.words >= 4),
            float(element.tag == "p"),
            float(element.tag in ("li", "dd", "dt")),
            float(element.tag in ("h1", "h2", "h3", "h4", "h5", "h6")),
            float(element.tag in ("td", "th")),
            float(element.tag in ("blockquote", "figcaption", "figure", "pre", "q")),
            float(headline_at >= 0 and index < headline_at),
            float(first <= index <= last and first >= 0),
            math.log1p(nearest[index]),
            siblings_share.get(parent, 0.0) if parent is not None else 0.0,
            float(block.words <= _LABEL_WORDS and block.text.endswith(":")),
            float(bool(_ADDRESS.search(block.text))),
            _upper_share(block.text),
            float(last >= 0 and index > last),
            math.log1p(last - index) if first <= index <= last else 0.0,
            block.words / typical if typical else 0.0,
            float(block.words <= _CUE_MAX_WORDS and bool(_CUE_WORDS.search(block.text))),
            float(cue_heading),
            *extra[index],
        ]
        rows.append(row)
    return rows


def _page_signals(
    blocks: list[Block],
    kept: list[list[bool]],
    evidence: Evidence,
    container_members: set[lxml.etree._Element],
) -> list[list[float]]:
    """The signals that compare a block with the rest of its page, one list per block.

    Furniture inside the article's container reads like the article; what gives it away is
    how it relates to the page around it: a teaser repeats the headline of another page (and
    is a link), cards of a related-stories box share one element shape with other cards the
    extractors dropped, a call to action addresses the reader, and prompts, bios and credits
    gather at the end of the container.
    """
    copies = _copies(blocks)
    shapes: dict[tuple[str, str], list[int]] = {}
    any_kept = [any(k) for k in kept]
    for block, flag in zip(blocks, any_kept, strict=True):
        shapes.setdefault(_shape(block), []).append(int(flag))
    inside = [b.element in container_members for b in blocks]
    last_inside = max((i for i, x in enumerate(inside) if x), default=-1)
    headline = evidence.headline
    headline_words = (
        set(_collapse(headline.text_content()).lower().split()) if headline is not None else set()
    )
    out = []
    for index, block in enumerate(blocks):
        text = block.text
        words = text.split()
        in_link = next(block.element.iterancestors("a"), None) is not None
        same = shapes[_shape(block)]
        before = any_kept[index - 1] if index > 0 else False
        after = any_kept[index + 1] if index + 1 < len(blocks) else False
        letters = len(text) - text.count(" ")  # collapsed: a single space between words
        short = block.words <= _CUE_MAX_WORDS
        out.append(
            [
                math.log1p(copies(block, in_link)),
                float(in_link),
                float(
                    block.words <= _LABEL_WORDS
                    and not _SENTENCE_END.search(text)
                    and all(_CAPITALISED.match(w) for w in words)
                ),
                float(text.endswith(":")),
                sum(map(str.isdigit, text)) / letters if letters else 0.0,
                float(short and bool(_SECOND_PERSON.search(text))),
                float(short and bool(_FIRST_PLURAL.search(text))),
                math.log1p(last_inside - index) if inside[index] else 0.0,
                (before + after) / 2,
                math.log1p(len(same) - 1),
                (sum(same) - any_kept[index]) / (len(same) - 1) if len(same) > 1 else 0.0,
                len(set(text.lower().split()) & headline_words) / len(words) if words else 0.0,
            ]
        )
    return out


def _shape(block: Block) -> tuple[str, str]:
    """What cards of one box have in common: their tag and class attribute."""
    return str(block.element.tag), block.element.get("class") or ""


def _copies(blocks: list[Block]) -> Callable[[Block, bool], int]:
    """How often a block's text occurs elsewhere on the page, as another block or as the text
    of a link that is not the block's own (a teaser repeats another page's headline)."""
    blocks_with: dict[str, int] = {}
    for block in blocks:
        blocks_with[block.text] = blocks_with.get(block.text, 0) + 1
    links_with: dict[str, int] = {}
    if blocks:
        for a in blocks[0].element.getroottree().getroot().iter("a"):
            text = _collapse(a.text_content())
            if text:
                links_with[text] = links_with.get(text, 0) + 1

    def count(block: Block, in_link: bool) -> int:
        own = 1 if in_link or block.link_words >= block.words else 0
        return blocks_with[block.text] - 1 + max(0, links_with.get(block.text, 0) - own)

    return count


def _upper_share(text: str) -> float:
    letters = "".join(filter(str.isalpha, text))
    return sum(map(str.isupper, letters)) / len(letters) if letters else 0.0


class _Occurring:
    """Which of a page's block texts occur in a text, each text searched in one pass.

    A substring test per block would cost blocks x length: minutes on a page of 200,000
    paragraphs that is still within the size limit. The automaton of the block texts is built
    once a page, and a text asked about again (the first stage's three extractors are one)
    is answered from memory.
    """

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._automaton: ahocorasick.Automaton | None = None
        self._found: dict[str, set[str]] = {}

    def inside(self, text: str) -> set[str]:
        if not text:
            return set()
        found = self._found.get(text)
        if found is None:
            if self._automaton is None:
                self._automaton = ahocorasick.Automaton()
                for candidate in set(self._texts):
                    self._automaton.add_word(candidate, candidate)
                self._automaton.make_automaton()
            found = self._found[text] = {hit for _end, hit in self._automaton.iter(text)}
        return found


def _members(container: lxml.html.HtmlElement | None) -> set[lxml.etree._Element]:
    return set(container.iter()) if container is not None else set()


def _position_of(blocks: list[Block], element: lxml.html.HtmlElement | None) -> int:
    if element is None:
        return -1
    inside = set(element.iter())
    return next((i for i, b in enumerate(blocks) if b.element in inside), -1)


def _distances(count: int, marked: Iterable[int]) -> list[int]:
    """For every index, how far it is from the nearest marked index (count when none is)."""
    far = count
    out = [far] * count
    for i in marked:
        out[i] = 0
    for i in range(1, count):
        out[i] = min(out[i], out[i - 1] + 1)
    for i in range(count - 2, -1, -1):
        out[i] = min(out[i], out[i + 1] + 1)
    return out
