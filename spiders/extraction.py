"""From an article page to what a watch looks at: its title and the text of the article itself.

Reading a page is split so that most pages cost little. :func:`newswatch.spiders.metadata.glance` takes
the metadata and every word of the page in one fast parse; a page on which no watch term occurs
anywhere stops there (:func:`read_article`). For the rest, :func:`read_page` builds the tree and
its visible blocks and :func:`article_text` judges every block (:mod:`newswatch.spiders.placement`,
:mod:`newswatch.spiders.judging`), keeping those that belong to the article: title and main content, never
the navigation, sidebars, related or most-read lists, comments, banners or footer around it.
docs/detection.md explains the design and how it is measured.

Nothing here raises: a page that cannot be parsed gives ``None`` (or no text), and an
unexpected failure inside a third-party library is logged and gives nothing, so one odd page
cannot stop a crawl.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import htmldate
import lxml.etree
import lxml.html
import trafilatura
import trafilatura.settings
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from newswatch.spiders.judging import Stage, article_scores, is_article, is_sure
from newswatch.spiders.metadata import Glance, glance, parse_timestamp
from newswatch.spiders.placement import (
    Block,
    Evidence,
    block_features,
    named_furniture,
    segment,
)
from newswatch.spiders.precision import article_container, headline_of, precise_text

__all__ = [
    "FIRST_STAGE_MOST_HELD",
    "MAX_BLOCKS",
    "Judged",
    "Page",
    "Reading",
    "article_text",
    "evidence_of",
    "extract_article",
    "first_evidence",
    "judge_blocks",
    "read_article",
    "read_page",
]

logger = logging.getLogger(__name__)

# The largest page of the dev sets has about 6,000 blocks. trafilatura's time grows with the
# square of a page's paragraphs (200,000 of them, within the 5 MB size limit, took minutes), so
# a page beyond this many blocks is not judged: it is logged and yields no article text.
MAX_BLOCKS = 20_000
# The first stage is tried where at most this many blocks hold a watch term. Unsure, it adds
# about 14 ms to the full judging; sure, it saves about 37 ms, so it pays where it is sure
# more than about one time in four. Held out by site (the trees before the 'has-'/'with-'
# refit) it was sure 0.79, 0.65, 0.80 and 0.45 of the time with one to four blocks holding the
# phrase; beyond, the cases are few (31), and a page that names many watches' terms holds them
# in dozens of blocks.
FIRST_STAGE_MOST_HELD = 4


@dataclass(frozen=True)
class Reading:
    """What an article page gives a watch: its metadata, and the article's text.

    ``text`` is empty when no watch term occurs anywhere on the page (``judged`` is False then):
    nothing on such a page can match, so where its words sit was not worked out.
    """

    title: str
    text: str
    published: datetime | None
    language: str | None
    canonical: str | None  # the page's rel=canonical, absolute, as written
    judged: bool = True


@dataclass(frozen=True)
class Page:
    """An article page read in full: its first look, its tree, and every block a reader sees."""

    url: str
    html: str
    first: Glance
    tree: lxml.html.HtmlElement  # scripts, styles and templates removed
    blocks: list[Block]

    @property
    def title(self) -> str:
        return self.first.title

    @property
    def json_ld_body(self) -> str:
        return self.first.json_ld_body

    @property
    def visible_text(self) -> str:
        return self.first.visible_text


def _everything(text: str) -> bool:
    return True


def read_article(
    html: str, url: str, mentioned: Callable[[str], bool] = _everything, dated: bool = False
) -> Reading | None:
    """The page read as far as its words can matter; None when it holds nothing to read.

    ``mentioned`` says whether a text holds some watch term; only pages where it does are
    judged block by block. ``dated``: the listing that linked the page gave its publication
    time, which wins over the page's own (``NewsSpider._article``), so neither the markup's
    time nor a guess is worked out (``published`` is None).
    """
    try:
        first = glance(html, url, dated=dated)
    except Exception:  # one odd page must not stop the crawl; the log keeps the evidence
        logger.warning("could not read the page %s", url, exc_info=True)
        return None
    if first is None:
        return None
    if not mentioned(first.visible_text):
        return Reading(
            first.title, "", first.published, first.language, first.canonical, judged=False
        )
    page = read_page(html, url, first)
    text = article_text(page, mentioned) if page is not None else ""
    published = first.published
    if published is None and text and not dated:  # no time in the markup: htmldate's guess
        published = _guessed_date(html, first.canonical or url)
    return Reading(first.title, text, published, first.language, first.canonical)


def read_page(html: str, url: str, first: Glance | None = None) -> Page | None:
    """The page parsed into blocks, given its first look or taking one; None when unreadable."""
    try:
        first = first or glance(html, url)
        if first is None:
            return None
        tree = trafilatura.load_html(html)
        if tree is None:
            return None
        lxml.etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
        body = tree.find("body")
        blocks = segment(body) if body is not None else []
        return Page(url=url, html=html, first=first, tree=tree, blocks=blocks)
    except Exception:  # one odd page must not stop the crawl; the log keeps the evidence
        logger.warning("could not read the page %s", url, exc_info=True)
        return None


def _guessed_date(html: str, url: str) -> datetime | None:
    """The day trafilatura's metadata would give, asked of htmldate as trafilatura asks it
    (``url``: the page's canonical, else its own), without the title, author and site name
    nothing here uses: a fifth of the cost, the same day on all 199 dev pages without a
    date in their markup."""
    try:
        tree = trafilatura.load_html(html)
        if tree is None:
            return None
        today = datetime.now().astimezone().strftime("%Y-%m-%d")
        day = htmldate.find_date(
            tree, url=url, original_date=True, extensive_search=True, max_date=today
        )
        return parse_timestamp(day)
    except Exception:
        logger.warning("could not date the page %s", url, exc_info=True)
        return None


def first_evidence(page: Page) -> Evidence:
    """What the first stage of the judging weighs: resiliparse's main content (its output stands
    in for all three extractors' kept text), the publisher's markup, the headline."""
    main_content = extract_plain_text(HTMLTree.parse(page.html), main_content=True)
    headline = headline_of(page.tree)
    return Evidence(
        kept=(" ".join(main_content.split()),) * 3,
        json_ld_body=" ".join(page.json_ld_body.split()),
        container=article_container(page.tree, headline),
        headline=headline,
    )


def evidence_of(page: Page, first: Evidence | None = None) -> Evidence:
    """What the extractors and the publisher's markup say about where the article is (the
    full judging's evidence; ``first``: the first stage's, whose parts it shares)."""
    first = first or first_evidence(page)
    precise = precise_text(copy.deepcopy(page.tree), page.url, page.json_ld_body)
    document = trafilatura.bare_extraction(page.tree, url=page.url)  # it works on a copy
    plain = document.text or "" if isinstance(document, trafilatura.settings.Document) else ""
    kept = (" ".join(precise.split()), " ".join(plain.split()), first.kept[2])
    return dataclasses.replace(first, kept=kept)


@dataclass(frozen=True)
class Judged:
    """One block with the verdict on it: article or not, and the furniture its markup names
    (``newswatch try`` says from these where a word that did not count sat)."""

    block: Block
    article: bool
    furniture: str | None
    score: float


def judge_blocks(page: Page, mentioned: Callable[[str], bool] = _everything) -> list[Judged] | None:
    """Every block of the page with its verdict; None when the page could not be judged.

    The judging runs in two stages. The first weighs cheap evidence (one extractor, the
    markup, the shape of the page); where it is sure about every block that ``mentioned``
    says holds a watch term, its verdicts stand. Otherwise the full judging weighs the two
    trafilatura passes too, which cost about two thirds of the whole. Held out by site, the
    two stages find as many mentions with as few false alerts as the full judging alone
    (docs/detection.md). Where many blocks hold a term (a page that names many watches'
    terms, or every word watched) the first stage is rarely sure of them all, so the full
    judging runs at once.
    """
    if len(page.blocks) > MAX_BLOCKS:
        logger.warning(
            "not judged: %s has %d blocks of text, more than %d",
            page.url,
            len(page.blocks),
            MAX_BLOCKS,
        )
        return None
    try:
        held = [i for i, block in enumerate(page.blocks) if mentioned(block.text)]
        first = first_evidence(page)
        furniture = named_furniture(page.blocks, first)  # by markup: the same in both stages
        if len(held) <= FIRST_STAGE_MOST_HELD:
            judged = _judged(page.blocks, first, furniture, Stage.FIRST)
            if all(judged[i].furniture is not None or is_sure(judged[i].score) for i in held):
                return judged
        return _judged(page.blocks, evidence_of(page, first), furniture, Stage.FULL)
    except Exception:
        logger.warning("could not judge the page %s", page.url, exc_info=True)
        return None


def _judged(
    blocks: list[Block], evidence: Evidence, furniture: list[str | None], stage: Stage
) -> list[Judged]:
    rows = block_features(blocks, evidence)
    scores = article_scores(rows, stage)
    return [
        Judged(block, is_article(row, score, named), named, score)
        for block, row, score, named in zip(blocks, rows, scores, furniture, strict=True)
    ]


def article_text(page: Page, mentioned: Callable[[str], bool] = _everything) -> str:
    """The blocks judged to be the article, in page order, one per line ("" on failure);
    ``mentioned`` as for :func:`judge_blocks`."""
    kept = [judged.block.text for judged in judge_blocks(page, mentioned) or () if judged.article]
    if kept and kept[0] == page.title:  # the headline is matched as the title already
        kept = kept[1:]
    return "\n".join(kept)


def extract_article(html: str, url: str) -> Reading | None:
    """The whole page judged, as if every word were watched; None when it holds no article
    text (for tests and benchmarks of the judging)."""
    reading = read_article(html, url)
    return reading if reading is not None and reading.text else None
