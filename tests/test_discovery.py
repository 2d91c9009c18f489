"""Feeds and sitemaps as they arrive from real servers: whatever can be read is read, the rest is
reported, nothing raises, no XML entity is ever expanded."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import feedparser
import pytest

from newswatch.spiders.discovery import read_feed, read_sitemap

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
"""


def test_entity_expansion_is_never_performed() -> None:
    feed = BILLION_LAUGHS + (
        b'<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
        b"<link>http://a.test/1</link></item></channel></rss>"
    )
    found = read_feed(feed, "http://a.test/rss")
    assert all(len(link.title or "") < 100 for link in found.links)
    sitemap = BILLION_LAUGHS + (
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>http://a.test/&lol9;</loc></url><url><loc>http://a.test/2</loc></url></urlset>"
    )
    links = read_sitemap(sitemap, "http://a.test/sitemap.xml").links
    assert all(len(link.url) < 100 for link in links)  # libxml2 may drop the rest; never expand


def test_messy_feeds_give_what_they_hold() -> None:
    cp1252 = (
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><item>'
            "<title>Caf\u00e9 &amp; \u201cnews\u201d &#8212; Tadm\u016br</title><link>/a/1.html</link></item>"
            "<item><title>Second</title><link>https://other.test/b</link></item></channel></rss>"
        )
        .replace("\u016b", "u")
        .encode("cp1252")
    )
    found = read_feed(cp1252, "https://news.test/feed", "application/rss+xml; charset=windows-1252")
    assert [link.url for link in found.links] == [
        "https://news.test/a/1.html",
        "https://other.test/b",
    ]
    assert found.links[0].title == "Caf\u00e9 & \u201cnews\u201d \u2014 Tadmur"

    truncated = b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>One</title><link>http://a.test/1</link></item><item><title>Tw'
    found = read_feed(truncated, "http://a.test/rss")
    assert [link.url for link in found.links] == ["http://a.test/1"] and found.problem

    for nothing in (
        b"",
        b"   ",
        b"<html><body>Gateway timeout</body></html>",
        b"\x00\xff\xfe garbage",
    ):
        found = read_feed(nothing, "http://a.test/rss")
        assert found.links == [] and found.problem


def test_json_feed() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [
                {
                    "id": "1",
                    "url": "/2026/a.html",
                    "title": "A",
                    "date_published": "2026-11-27T10:00:00Z",
                },
                {"id": "https://a.test/b.html"},
                {"id": "no-url"},
            ],
        }
    ).encode()
    found = read_feed(body, "https://a.test/feed.json")
    assert [link.url for link in found.links] == [
        "https://a.test/2026/a.html",
        "https://a.test/b.html",
    ]
    assert found.links[0].published is not None


def test_sitemap_forms() -> None:
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        b"<url><loc>http://a.test/1</loc><news:news><news:publication_date>2026-11-27T08:00:00+01:00"
        b"</news:publication_date><news:title>Palmyra</news:title></news:news></url>"
        b"<url><loc> http://a.test/2 </loc><lastmod>2026-11-20</lastmod></url></urlset>"
    )
    links = read_sitemap(gzip.compress(urlset), "http://a.test/s.xml.gz").links
    assert [link.url for link in links] == ["http://a.test/1", "http://a.test/2"]
    assert links[0].title == "Palmyra" and links[0].published is not None
    assert links[0].published.isoformat() == "2026-11-27T07:00:00+00:00"
    assert links[1].updated is not None and links[1].published is None

    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sitemap><loc><![CDATA[http://a.test/news.xml]]></loc></sitemap></sitemapindex>"
    )
    [child] = read_sitemap(index, "http://a.test/index.xml").links
    assert child.is_sitemap and child.url == "http://a.test/news.xml"

    text = read_sitemap(b"\xef\xbb\xbfhttp://a.test/1\nhttp://a.test/2\n", "http://a.test/s.txt")
    assert len(text.links) == 2
    assert read_sitemap(b"\x1f\x8b broken gzip", "http://a.test/s.gz").problem


def _urlset(count: int, start: int = 0) -> bytes:
    entries = "".join(f"<url><loc>/a/{n}</loc></url>\n" for n in range(start, start + count))
    return (
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + entries + "</urlset>"
    ).encode()


def test_sitemaps_are_read_as_a_stream_within_their_bounds() -> None:
    body = _urlset(10_000)  # ~290 KB, gzip and plain alike
    for form in (
        body,
        gzip.compress(body),
        gzip.compress(body[:1000]) + gzip.compress(body[1000:]),
    ):
        whole = read_sitemap(form, "http://a.test/s.xml")
        assert len(whole.links) == 10_000 and whole.too_large is None and whole.problem is None
        assert whole.links[9_999].url == "http://a.test/a/9999"

    # past the decompressed-bytes bound: the links read so far, and why it stopped
    part = read_sitemap(gzip.compress(body), "http://a.test/s.xml", max_bytes=100_000)
    assert part.too_large == f"larger than {100_000 / 1048576:g} MB uncompressed"
    assert 3_000 < len(part.links) < 3_600 and part.problem == part.too_large
    assert [link.url for link in part.links[:2]] == ["http://a.test/a/0", "http://a.test/a/1"]

    # past the bound on links kept; links the caller's filter drops do not count
    capped = read_sitemap(body, "http://a.test/s.xml", max_links=100)
    assert len(capped.links) == 100 and capped.too_large == "more than 100 links kept"
    odd = read_sitemap(
        body, "http://a.test/s.xml", max_links=5_000, keep=lambda link: link.url[-1] in "13579"
    )
    assert len(odd.links) == 5_000 and odd.too_large is None and odd.skipped == 5_000

    text = b"".join(f"http://a.test/t/{n}\n".encode() for n in range(1_000))
    assert len(read_sitemap(gzip.compress(text), "http://a.test/s.txt").links) == 1_000
    assert read_sitemap(gzip.compress(text), "http://a.test/s", max_links=10).too_large

    zipped = gzip.compress(body)
    truncated = read_sitemap(zipped[: len(zipped) // 2], "http://a.test/s.xml")
    assert truncated.links and truncated.problem and "cannot decompress" in truncated.problem
    assert read_sitemap(b"<html><body/></html>", "http://a.test/s").problem == (
        "not a sitemap (root element <html>)"
    )
    assert read_sitemap(b"  \n", "http://a.test/s").problem == "sitemap is empty"


# --- the shared corpus of real and conformance feeds and sitemaps -----------------------------


def _manifest(corpus: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((corpus / "manifest.json").read_text(encoding="utf-8"))
    return {entry["path"].removeprefix("shared/corpus/"): entry for entry in data["files"]}


def _content_type(entry: dict[str, Any]) -> str | None:
    for header in entry.get("fixture_simulated_http_headers") or []:
        name, _, value = header.partition(":")
        if name.strip().lower() == "content-type":
            return value.strip()
    return None


def test_every_corpus_feed_reads_without_error_and_finds_feedparsers_entries(
    corpus_dir: Path,
) -> None:
    manifest = _manifest(corpus_dir)
    feeds = sorted(p for p in (corpus_dir / "feeds").rglob("*") if p.is_file())
    assert len(feeds) >= 70
    total = 0
    for path in feeds:
        body = path.read_bytes()
        content_type = _content_type(manifest.get(str(path.relative_to(corpus_dir)), {}))
        found = read_feed(body, f"https://feeds.test/{path.name}", content_type)
        if path.suffix == ".json":
            expected = len(json.loads(body)["items"])
        else:
            parsed = feedparser.parse(
                body, response_headers={"content-type": content_type} if content_type else {}
            )
            expected = sum(
                1
                for e in parsed.entries
                if e.get("link") or str(e.get("id", "")).startswith("http")
            )
        assert len(found.links) == expected, path.name
        total += len(found.links)
    assert total > 400


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("crawler-commons/extension/hebdenbridgetimes-articles-sitemap.xml", 74),
        ("trafilatura/sitemap.xml", None),
        ("advertools/news_sitemap.xml", None),
        ("advertools/sitemap_index.xml", None),
    ],
)
def test_real_sitemaps(corpus_dir: Path, name: str, count: int | None) -> None:
    found = read_sitemap(
        (corpus_dir / "sitemaps" / name).read_bytes(), "https://a.test/sitemap.xml"
    )
    assert found.links
    if count is not None:
        assert len(found.links) == count
    if "hebden" in name:  # 74 <url> entries and 94 <image:loc>: only article locations count
        assert not [link for link in found.links if link.url.endswith((".jpg", ".png"))]
    if "news" in name:
        assert all(link.published for link in found.links)
    if "index" in name:
        assert all(link.is_sitemap for link in found.links)


def test_every_corpus_sitemap_reads_without_error_and_gzip_equals_plain(corpus_dir: Path) -> None:
    for path in sorted((corpus_dir / "sitemaps").rglob("*")):
        if path.is_file():
            read_sitemap(path.read_bytes(), "https://a.test/sitemap.xml")  # must not raise
    plain = read_sitemap(
        (corpus_dir / "sitemaps/trafilatura/sitemap.xml").read_bytes(), "https://a.test/"
    )
    zipped = read_sitemap(
        (corpus_dir / "sitemaps/trafilatura/sitemap.xml.gz").read_bytes(), "https://a.test/"
    )
    assert plain.links == zipped.links
