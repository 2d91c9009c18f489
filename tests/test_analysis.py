"""The first look at a page, and pages read in worker processes.

Every fetched article gets :func:`newswatch.spiders.metadata.glance`; only pages on which a watch term
occurs are judged block by block, in a pool of real worker processes
(:class:`newswatch.spiders.analysis.PageReader`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from newswatch.alerts.query import parse_query
from newswatch.alerts.watchset import WatchSet
from newswatch.spiders.analysis import Look, MirrorClues, PageReader
from newswatch.spiders.extraction import Reading, read_article
from newswatch.spiders.metadata import glance
from newswatch.spiders.verification import page_fingerprint

URL = "http://www.pressdesk.test/world/1.html"

ARTICLE = """<!DOCTYPE html><html lang="fr-CA"><head><meta charset="utf-8">
<title>Museum reopens | Press Desk</title>
<meta name="DC.date.issued" content="2026-11-26T09:30:00+01:00">
<link rel="canonical" href="/world/museum-reopens.html">
<script type="application/ld+json">{"@type": "NewsArticle", "headline": "JSON headline",
 "articleBody": "The <b>museum</b> in Tadmur reopened."}</script>
</head><body>
<nav><a href="/">Home</a> <a href="/world">World</a></nav>
<article><h1>The museum reopens</h1>
<p>The museum in Tadmur reopened its doors on Thursday after years of restoration work
by archaeologists from several countries.</p>
<figure><img src="a.jpg" alt="Columns at dusk"><figcaption>The temple ruins.</figcaption></figure>
<p>Visitors queued from early morning to see the restored hall and the new exhibits.</p>
</article>
<aside class="most-read"><h2>Most read</h2><ul><li><a href="/x">Floods in Kherson</a></li></ul>
</aside>
<form><label>Search <input type="submit" value="Find"></label></form>
<footer>© Press Desk</footer></body></html>"""


def test_the_first_look_reads_the_publishers_metadata() -> None:
    first = glance(ARTICLE, URL)
    assert first is not None
    assert first.title == "JSON headline"  # no og:title: JSON-LD comes before <h1> and <title>
    assert first.published == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert first.language == "fr"
    assert first.canonical == "http://www.pressdesk.test/world/museum-reopens.html"
    assert first.json_ld_body == "The museum in Tadmur reopened."


def test_a_page_its_listing_dated_is_not_dated_again() -> None:
    """The listing's publication time wins over the page's own (``NewsSpider._article``), so a
    page read as ``dated`` has neither its markup's time read nor one guessed from its text;
    everything else about it reads the same."""
    mentioned = _mentioned("Tadmur")
    marked = read_article(ARTICLE, URL, mentioned)
    assert marked is not None and marked.published == datetime(2026, 11, 26, 8, 30, tzinfo=UTC)
    assert read_article(ARTICLE, URL, mentioned, dated=True) == replace(marked, published=None)

    unmarked = ARTICLE.replace(
        '<meta name="DC.date.issued" content="2026-11-26T09:30:00+01:00">', ""
    ).replace("<p>Visitors", "<p>Updated 20 November 2026. Visitors")
    guessed = read_article(unmarked, URL, mentioned)
    assert guessed is not None and guessed.published == datetime(2026, 11, 20, tzinfo=UTC)
    assert read_article(unmarked, URL, mentioned, dated=True) == replace(guessed, published=None)


def test_the_title_is_social_metadata_first_then_a_lone_heading_then_the_title_tag() -> None:
    def title(head: str, body: str) -> str:
        first = glance(f"<html><head>{head}</head><body>{body}</body></html>", URL)
        assert first is not None
        return first.title

    og = '<meta property="og:title" content=" Shared  title ">'
    assert title(f"<title>Tag</title>{og}", "<h1>Heading</h1>") == "Shared title"
    assert title("<title>Tag</title>", "<h1>Heading</h1>") == "Heading"
    assert title("<title>Tag</title>", "<h1>One</h1><div><h1>Two</h1></div>") == "Tag"
    assert title("", "<h1>One</h1><h1>Two</h1>") == "One"
    assert title("", "<p>no heading</p>") == ""


def test_the_first_look_sees_every_word_a_reader_could() -> None:
    first = glance(ARTICLE, URL)
    assert first is not None
    text = first.visible_text
    for words in ("Tadmur reopened its doors", "Floods in Kherson", "Columns at dusk", "Home"):
        assert words in " ".join(text.split()), words
    assert "NewsArticle" not in text  # scripts are not text


def test_a_page_without_any_watch_term_is_not_judged() -> None:
    reading = read_article(ARTICLE, URL, lambda text: "Palmyra" in text)
    assert reading is not None
    assert not reading.judged and reading.text == ""
    assert reading.title == "JSON headline"
    assert reading.canonical == "http://www.pressdesk.test/world/museum-reopens.html"


def test_a_page_with_a_watch_term_keeps_the_article_and_drops_its_furniture() -> None:
    reading = read_article(ARTICLE, URL, lambda text: "Tadmur" in text)
    assert reading is not None and reading.judged
    assert "Tadmur reopened its doors" in " ".join(reading.text.split())
    assert "Kherson" not in reading.text and "Press Desk" not in reading.text


def test_odd_input_gives_nothing_and_never_raises() -> None:
    for html in ("", "   ", "\x00\x00", "<html>", "<<<>>>", "<p>" * 10_000):
        reading = read_article(html, URL)
        assert reading is None or isinstance(reading, Reading)


def _mentioned(query: str) -> Callable[[str], bool]:
    """The watch-term scan of a reader holding this one watch."""
    return WatchSet({"w": parse_query(query)}).mentioned


def _read(reader: PageReader, html: str) -> Reading | None:
    reading, clues = asyncio.run(reader.read(html.encode(), URL, b"text/html; charset=utf-8"))
    assert clues is None  # none asked for
    return reading


@pytest.mark.parametrize("workers", [0, 2])
def test_a_reader_reads_as_the_crawl_does_in_this_process_or_in_workers(workers: int) -> None:
    reader = PageReader({"tadmur": "Tadmur OR Palmyra"}, workers)
    try:
        judged = _read(reader, ARTICLE)
        skipped = _read(reader, ARTICLE.replace("Tadmur", "the oasis"))
    finally:
        reader.close()
    assert judged == read_article(ARTICLE, URL, _mentioned("Tadmur OR Palmyra"))
    assert judged is not None and "Tadmur" in judged.text
    assert skipped is not None and not skipped.judged and skipped.text == ""


@pytest.mark.parametrize("workers", [0, 1])
@pytest.mark.parametrize(
    ("content_type", "declared"),
    [(b"text/html; charset=windows-1251", ""), (b"text/html", '<meta charset="windows-1251">')],
)
def test_a_page_is_decoded_by_its_reader_as_scrapy_would(
    workers: int, content_type: bytes, declared: str
) -> None:
    """The worker gets the page's bytes: the charset comes from the header or the page."""
    html = (
        f"<html><head>{declared}<title>Пальмира</title></head><body><article><h1>Пальмира</h1>"
        "<p>Музей в Пальмире снова открыт для посетителей после долгих лет реставрации.</p>"
        "</article></body></html>"
    )
    reader = PageReader({"palmyra": "Пальмире"}, workers)
    try:
        reading, _ = asyncio.run(reader.read(html.encode("windows-1251"), URL, content_type))
    finally:
        reader.close()
    assert reading is not None and reading.title == "Пальмира"
    assert "Музей в Пальмире снова открыт" in reading.text


def test_a_worker_that_dies_costs_its_page_only_and_new_workers_take_over() -> None:
    reader = PageReader({"tadmur": "Tadmur"}, 1)
    try:
        assert _read(reader, ARTICLE) is not None  # the pool is up
        pool = reader._pool
        assert pool is not None
        for pid in list(pool._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
        assert _read(reader, ARTICLE) is None  # that page is read again next poll
        again = _read(reader, ARTICLE)
        assert again is not None and "Tadmur" in again.text
    finally:
        reader.close()


def test_what_a_worker_logs_is_logged_by_the_crawler(caplog: pytest.LogCaptureFixture) -> None:
    endless = "<html><body>" + "<p>Tadmur again.</p>" * 20_001 + "</body></html>"
    reader = PageReader({"tadmur": "Tadmur"}, 1)
    try:
        with caplog.at_level(logging.WARNING):
            reading = _read(reader, endless)
            reader.close()  # the records reach this process before close() returns
    finally:
        reader.close()
    assert reading is not None and reading.text == ""
    logged = [r for r in caplog.records if r.name == "newswatch.spiders.extraction"]
    assert [r.levelno for r in logged] == [logging.WARNING]
    assert "not judged" in logged[0].getMessage() and "20001 blocks" in logged[0].getMessage()
    assert logged[0].process != os.getpid()  # it came from the worker


def test_where_no_process_can_be_started_pages_are_read_in_the_crawler(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_processes(*args: object, **kwargs: object) -> None:
        raise NotImplementedError("This platform lacks a functioning sem_open implementation")

    monkeypatch.setattr("newswatch.spiders.analysis.ProcessPoolExecutor", no_processes)
    reader = PageReader({"tadmur": "Tadmur"}, 2)
    try:
        first, second = _read(reader, ARTICLE), _read(reader, ARTICLE)
    finally:
        reader.close()
    assert first == second == read_article(ARTICLE, URL, _mentioned("Tadmur"))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        "page readers cannot start (This platform lacks a functioning sem_open implementation):"
        " pages are read in this process"
    ]


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "worker-process"])
def test_a_reader_finds_mirror_clues_off_the_crawlers_thread(workers: int) -> None:
    page = ARTICLE.replace(
        "<footer>© Press Desk</footer>",
        "<footer>Also at www.pressdesk.co.uk and "
        '<a href="https://pressdesk-news.org/">our mirror</a></footer>',
    )
    reader = PageReader({"tadmur": "Tadmur"}, workers)
    try:
        known = ("www.pressdesk.test",)
        reading, clues = asyncio.run(
            reader.read(page.encode(), URL, b"text/html", Look(known, sample=True))
        )
        assert reading is not None and "Tadmur" in reading.text  # read in the same task
        assert clues is not None
        assert {(c.host, c.announced_as) for c in clues.candidates} == {
            ("www.pressdesk.co.uk", "text"),
            ("pressdesk-news.org", "link"),
        }
        assert clues.fingerprint == page_fingerprint(page)
        # a sample only: no candidates looked for; neither: nothing worked out
        _, only = asyncio.run(reader.read(page.encode(), URL, None, Look(None, sample=True)))
        assert only is not None and only.candidates == () and only.fingerprint is not None
        _, neither = asyncio.run(reader.read(b"", URL, None, Look(None, sample=False)))
        assert neither is not None and neither == MirrorClues((), None)
    finally:
        reader.close()
