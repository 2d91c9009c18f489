"""A news outlet served by the local multi-host server: a feed, a homepage, article pages.

Tests describe articles (title, paragraphs, publication time); this builds the pages from the
repo's own fixture template, lists them in an RSS 2.0 feed on the primary domain and on a
homepage whose links are written with the mirror's host (as mirrors' pages usually are), and
can fill the outlet with real pages of the shared corpus when it is available.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from tests.support.web import MultiHostServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class FixtureArticle:
    path: str
    title: str
    paragraphs: list[str]
    published: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))
    raw_html: str | None = None  # a real page from the corpus, served as it is


class OutletSite:
    def __init__(self, web: MultiHostServer, domains: list[str]) -> None:
        self.web = web
        self.domains = domains
        self.articles: list[FixtureArticle] = []
        self._flags: dict[str, tuple[bool, bool]] = {}  # path -> (in feed, on homepage)

    @property
    def primary(self) -> str:
        return self.domains[0]

    def add_article(
        self, article: FixtureArticle, *, in_feed: bool = True, on_homepage: bool = True
    ) -> None:
        page = article.raw_html or render_article(article, f"http://{self.primary}{article.path}")
        for domain in self.domains:
            self.web.site(domain).add(article.path, page)
        self.articles.append(article)
        self._flags[article.path] = (in_feed, on_homepage)
        self.publish()

    def publish(self) -> None:
        """(Re)write the feed and the homepage on every domain."""
        feed_items = [a for a in self.articles if self._flags[a.path][0]]
        page_items = [a for a in self.articles if self._flags[a.path][1]]
        feed = _rss(self.primary, feed_items)
        homepage = _homepage(self.domains[-1], page_items)
        for domain in self.domains:
            site = self.web.site(domain)
            site.add("/rss.xml", feed, content_type="application/rss+xml; charset=utf-8")
            site.add("/", homepage)


def render_article(article: FixtureArticle, canonical: str) -> str:
    template = (FIXTURES / "article.html").read_text(encoding="utf-8")
    return template.format(
        title=html.escape(article.title),
        published=article.published.isoformat(),
        canonical=canonical,
        paragraphs="\n".join(f"<p>{html.escape(p)}</p>" for p in article.paragraphs),
    )


def _rss(host: str, articles: list[FixtureArticle]) -> str:
    items = "\n".join(
        f"""<item><title>{html.escape(a.title)}</title>
<link>http://{host}{a.path}?utm_source=rss&amp;utm_medium=feed</link>
<guid>http://{host}{a.path}</guid>
<pubDate>{format_datetime(a.published)}</pubDate></item>"""
        for a in articles
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Press Desk</title><link>http://{host}/</link>
<description>Latest news</description>
{items}
</channel></rss>
"""


def _homepage(link_host: str, articles: list[FixtureArticle]) -> str:
    links = "\n".join(
        f'<li><a href="http://{link_host}{a.path}#comments">{html.escape(a.title)}</a></li>'
        for a in articles
    )
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Press Desk</title></head>
<body><nav><a href="https://elsewhere.example/">Partner site</a></nav><ul>{links}</ul></body></html>
"""
