"""A news outlet served by the local multi-host server: a feed, a homepage, article pages.

Tests describe articles (title, paragraphs, publication time); this builds the pages from the
repo's own fixture template, lists them in an RSS 2.0 feed on the primary domain and on a
homepage whose links are written with the mirror's host (as mirrors' pages usually are), and
can fill the outlet with real pages of the shared corpus when it is available.
"""

from __future__ import annotations

import gzip
import hashlib
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
    updated: datetime | None = None  # written to the feed as <atom:updated> when set


class OutletSite:
    def __init__(self, web: MultiHostServer, domains: list[str]) -> None:
        self.web = web
        self.domains = domains
        self.articles: list[FixtureArticle] = []
        self._flags: dict[str, tuple[bool, bool, bool]] = {}  # path -> feed, homepage, sitemap

    @property
    def primary(self) -> str:
        return self.domains[0]

    def add_article(
        self,
        article: FixtureArticle,
        *,
        in_feed: bool = True,
        on_homepage: bool = True,
        in_sitemap: bool = False,
    ) -> None:
        page = article.raw_html or render_article(article, f"http://{self.primary}{article.path}")
        for domain in self.domains:
            self.web.site(domain).add(article.path, page)
        self.articles.append(article)
        self._flags[article.path] = (in_feed, on_homepage, in_sitemap)
        self.publish()

    def replace_article(self, article: FixtureArticle) -> None:
        """An edited article: same path, new page, new feed entry."""
        self.articles = [a for a in self.articles if a.path != article.path]
        flags = self._flags[article.path]
        self.add_article(article, in_feed=flags[0], on_homepage=flags[1], in_sitemap=flags[2])

    def publish(self) -> None:
        """(Re)write the feed and the homepage on every domain."""
        feed_items = [a for a in self.articles if self._flags[a.path][0]]
        page_items = [a for a in self.articles if self._flags[a.path][1]]
        sitemap_items = [a for a in self.articles if self._flags[a.path][2]]
        feed = _rss(self.primary, feed_items)
        homepage = _homepage(self.domains[-1], page_items)
        news_sitemap = gzip.compress(_news_sitemap(self.primary, sitemap_items).encode(), mtime=0)
        index = _sitemap_index(self.primary, ["/sitemaps/news.xml.gz"])
        for domain in self.domains:
            site = self.web.site(domain)
            site.add(
                "/rss.xml",
                feed,
                content_type="application/rss+xml; charset=utf-8",
                headers={"ETag": _etag(feed.encode())},
            )
            site.add("/", homepage)
            site.add(
                "/sitemap_index.xml",
                index,
                content_type="application/xml",
                headers={"ETag": _etag(index.encode())},
            )
            site.add(
                "/sitemaps/news.xml.gz",
                news_sitemap,
                content_type="application/x-gzip",
                headers={"ETag": _etag(news_sitemap)},
            )


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
<pubDate>{format_datetime(a.published)}</pubDate>{_updated(a)}</item>"""
        for a in articles
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Press Desk</title><link>http://{host}/</link>
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


def _updated(article: FixtureArticle) -> str:
    return f"<atom:updated>{article.updated.isoformat()}</atom:updated>" if article.updated else ""


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'


def _sitemap_index(host: str, paths: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>http://{host}{p}</loc></sitemap>" for p in paths)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    )


def _news_sitemap(host: str, articles: list[FixtureArticle]) -> str:
    entries = "".join(
        f"""<url><loc>http://{host}{a.path}</loc><news:news>
<news:publication><news:name>Press Desk</news:name><news:language>en</news:language></news:publication>
<news:publication_date>{a.published.isoformat()}</news:publication_date>
<news:title>{html.escape(a.title)}</news:title></news:news></url>"""
        for a in articles
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{entries}</urlset>"
    )
