"""A first look at a page: what it says about itself, and every word a reader could see.

Every fetched article gets this look, and most pages get nothing more: a page on which no
watch term occurs anywhere cannot alert, whatever its layout. So it must be cheap. resiliparse
parses a page and renders its whole text in about a millisecond, several times faster than
building an lxml tree, and the metadata comes from the same parse: the publisher's own title,
publication time (a time of day and a zone, where trafilatura's date fallback gives a day),
language and canonical URL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import DocumentNode, HTMLTree

__all__ = ["Glance", "glance", "parse_timestamp"]

_TITLE_META = ("og:title", "twitter:title")
_PUBLISHED_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "date",
    "dc.date.issued",
    "pubdate",
    "publishdate",
    "sailthru.date",
)


@dataclass(frozen=True)
class Glance:
    """A page at first sight: its metadata and all of its text."""

    title: str
    published: datetime | None
    language: str | None
    canonical: str | None  # the page's rel=canonical, absolute, as written
    json_ld_body: str  # the publisher's JSON-LD articleBody, as plain text
    text: str  # every visible word of the page, form fields and image alt texts included

    @property
    def visible_text(self) -> str:
        """Everything a watch could match: a superset of the title and the article text that
        the judging keeps, so a page holding no watch term here needs no further analysis."""
        return "\n".join((self.title, self.json_ld_body, self.text))


def glance(html: str, url: str, dated: bool = False) -> Glance | None:
    """The page at first sight; None when it holds no HTML at all.

    ``dated``: the page's publication time is known already (its listing gave it, and the
    listing's time wins), so it is not looked for: ``published`` is None.
    """
    if not html or not html.strip():
        return None
    tree = HTMLTree.parse(html)
    if tree.document is None:
        return None
    json_ld = _json_ld_items(tree.document)
    return Glance(
        title=_title(tree, json_ld),
        published=None if dated else _published(tree.document, json_ld),
        language=_language(tree.document),
        canonical=_canonical(tree.document, url),
        json_ld_body=_json_ld_article_body(json_ld),
        text=extract_plain_text(
            tree, main_content=False, list_bullets=False, alt_texts=True, form_fields=True
        ),
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


def _meta(document: DocumentNode, name: str) -> str | None:
    """The first non-empty ``<meta>`` content named ``name`` by property, name or itemprop.

    One CSS query per name: walking every ``<meta>`` of a page from Python costs milliseconds
    (each element crossing into Python is slow), a query tens of microseconds.
    """
    selector = ",".join(
        f'meta[{attribute}="{name}" i][content]' for attribute in ("property", "name", "itemprop")
    )
    for element in document.query_selector_all(selector):
        content = (element.getattr("content") or "").strip()
        if content:
            return content
    return None


def _json_ld_items(document: DocumentNode) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for script in document.query_selector_all('script[type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
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


def _title(tree: HTMLTree, json_ld: list[dict[str, object]]) -> str:
    """The headline as the publisher gives it to sharing sites, else the page's own, in the
    order trafilatura reads them: social metadata, JSON-LD, a lone ``<h1>``, ``<title>``."""
    document = tree.document
    assert document is not None
    for name in _TITLE_META:
        if title := " ".join((_meta(document, name) or "").split()):
            return title
    for item in json_ld:
        if isinstance(item.get("headline"), str) and (
            title := " ".join(str(item["headline"]).split())
        ):
            return title
    first = document.query_selector("h1")
    alone = first is not None and len(document.query_selector_all("h1")) == 1
    for candidate in (first if alone else None, tree.title, first):
        text = candidate if isinstance(candidate, str) or candidate is None else candidate.text
        if title := " ".join((text or "").split()):
            return title
    return ""


def _published(document: DocumentNode, json_ld: list[dict[str, object]]) -> datetime | None:
    for name in _PUBLISHED_META:
        found = parse_timestamp(_meta(document, name))
        if found:
            return found
    for item in json_ld:
        value = item.get("datePublished")
        found = parse_timestamp(value if isinstance(value, str) else None)
        if found:
            return found
    element = document.query_selector("time[datetime]")
    return parse_timestamp(element.getattr("datetime")) if element is not None else None


def _language(document: DocumentNode) -> str | None:
    root = document.query_selector("html")
    lang = (root.getattr("lang") or root.getattr("xml:lang") or "") if root is not None else ""
    return lang.split("-")[0].split("_")[0].strip().lower() or None


def _canonical(document: DocumentNode, url: str) -> str | None:
    for element in document.query_selector_all('link[rel="canonical"]'):
        href = (element.getattr("href") or "").strip()
        if href:
            return urljoin(url, href)
    return None


def _json_ld_article_body(json_ld: list[dict[str, object]]) -> str:
    """The longest JSON-LD ``articleBody``, as plain text (some publishers put HTML in it)."""
    bodies = [str(i["articleBody"]) for i in json_ld if isinstance(i.get("articleBody"), str)]
    body = max(bodies, key=len) if bodies else ""
    if "<" in body:
        body = extract_plain_text(HTMLTree.parse(body), list_bullets=False)
    return body.strip()
