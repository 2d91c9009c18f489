"""From an article page to what a watch looks at: its title and the text of the article itself.

Reading a page is split in two so that most pages cost little. :func:`read_page` parses once and
keeps the metadata (title, time, language, canonical URL) and every visible block of text; a
caller that finds no watch term anywhere in :attr:`Page.visible_text` stops there. For the rest,
:func:`article_text` judges every block (:mod:`spiders.placement`, :mod:`spiders.judging`) and
keeps those that belong to the article: title and main content, never the navigation, sidebars,
related or most-read lists, comments, banners or footer around it. docs/detection.md explains
the design and how it is measured.

Neither function raises: a page that cannot be parsed gives ``None`` (or no text), and an
unexpected failure inside a third-party library is logged and gives nothing, so one odd page
cannot stop a crawl.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import datetime

import lxml.etree
import lxml.html
import trafilatura
import trafilatura.metadata
import trafilatura.settings
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from spiders.judging import article_scores, is_article
from spiders.metadata import (
    canonical_of,
    json_ld_article_body,
    language_of,
    parse_timestamp,
    published_of,
)
from spiders.placement import (
    FEATURES,
    Block,
    Evidence,
    block_features,
    named_furniture,
    segment,
)
from spiders.precision import article_container, headline_of, precise_text

__all__ = [
    "MAX_BLOCKS",
    "Extracted",
    "Page",
    "article_text",
    "evidence_of",
    "extract_article",
    "read_page",
]

logger = logging.getLogger(__name__)

# The largest page of the dev sets has about 6,000 blocks. trafilatura's time grows with the
# square of a page's paragraphs (200,000 of them, within the 5 MB size limit, took minutes), so
# a page beyond this many blocks is not judged: it is logged and yields no article text.
MAX_BLOCKS = 20_000


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    published: datetime | None
    language: str | None
    canonical: str | None  # the page's rel=canonical, absolute, as written


@dataclass(frozen=True)
class Page:
    """An article page read once: what it says about itself, and every block a reader sees."""

    url: str
    html: str
    tree: lxml.html.HtmlElement  # scripts, styles and templates removed
    title: str
    published: datetime | None
    language: str | None
    canonical: str | None
    json_ld_body: str
    blocks: list[Block]

    @property
    def visible_text(self) -> str:
        """Everything on the page a watch could match: a superset of the article's title and
        text, so that a page holding no watch term here needs no further analysis."""
        return "\n".join((self.title, self.json_ld_body, *(b.text for b in self.blocks)))


def read_page(html: str, url: str) -> Page | None:
    """The page parsed, with its metadata and blocks; None when it cannot be read."""
    try:
        return _read(html, url)
    except Exception:  # one odd page must not stop the crawl; the log keeps the evidence
        logger.warning("could not read the page %s", url, exc_info=True)
        return None


def _read(html: str, url: str) -> Page | None:
    if not html or not html.strip():
        return None
    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    json_ld_body = json_ld_article_body(tree)
    metadata = trafilatura.metadata.extract_metadata(tree, default_url=url)
    published = published_of(tree) or parse_timestamp(metadata.date)
    language, canonical = language_of(tree), canonical_of(tree, url)
    lxml.etree.strip_elements(tree, "script", "style", "noscript", "template", with_tail=False)
    body = tree.find("body")
    return Page(
        url=url,
        html=html,
        tree=tree,
        title=" ".join((metadata.title or "").split()),
        published=published,
        language=language,
        canonical=canonical,
        json_ld_body=json_ld_body,
        blocks=segment(body) if body is not None else [],
    )


def evidence_of(page: Page) -> Evidence:
    """What the extractors and the publisher's markup say about where the article is."""
    precise = precise_text(copy.deepcopy(page.tree), page.url, page.json_ld_body)
    document = trafilatura.bare_extraction(copy.deepcopy(page.tree), url=page.url)
    plain = document.text or "" if isinstance(document, trafilatura.settings.Document) else ""
    main_content = extract_plain_text(HTMLTree.parse(page.html), main_content=True)
    headline = headline_of(page.tree)
    return Evidence(
        kept=tuple(" ".join(text.split()) for text in (precise, plain, main_content)),
        json_ld_body=" ".join(page.json_ld_body.split()),
        container=article_container(page.tree, headline),
        headline=headline,
    )


def article_text(page: Page) -> str:
    """The blocks judged to be the article, in page order, one per line ("" on failure)."""
    if len(page.blocks) > MAX_BLOCKS:
        logger.warning(
            "not judged: %s has %d blocks of text, more than %d",
            page.url,
            len(page.blocks),
            MAX_BLOCKS,
        )
        return ""
    try:
        evidence = evidence_of(page)
        rows = block_features(page.blocks, evidence)
        scores = article_scores(FEATURES, rows)
        furniture = named_furniture(page.blocks, evidence)
    except Exception:
        logger.warning("could not judge the page %s", page.url, exc_info=True)
        return ""
    kept = [
        block.text
        for block, row, score, named in zip(page.blocks, rows, scores, furniture, strict=True)
        if is_article(row, score, named)
    ]
    if kept and kept[0] == page.title:  # the headline is matched as the title already
        kept = kept[1:]
    return "\n".join(kept)


def extract_article(html: str, url: str) -> Extracted | None:
    """Title, article text and metadata; None when the page holds no article text."""
    page = read_page(html, url)
    if page is None:
        return None
    text = article_text(page)
    if not text:
        return None
    return Extracted(page.title, text, page.published, page.language, page.canonical)
