"""Main text, title, time and language of article pages: our fixture, then real pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from scrapy.http import HtmlResponse

from bench.detection_quality import EXTRACTORS, NEWSWATCH, load_articles, score
from newswatch.alerts.matcher import compile_query
from newswatch.alerts.query import parse_query
from newswatch.spiders.extraction import MAX_BLOCKS, article_text, extract_article, read_page
from tests.support.outlet_site import FixtureArticle, render_article


def test_fixture_article_fields() -> None:
    article = FixtureArticle(
        path="/Detail/1.html",
        title="Army retakes Palmyra",
        paragraphs=[
            "Forces entered the ancient city on Sunday, officials said, after weeks of fighting."
        ],
        published=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
    )
    page = render_article(article, "http://www.pressdesk.test/Detail/1.html")
    extracted = extract_article(page, "http://mirror.pressdesk.test/Detail/1.html")
    assert extracted is not None
    assert extracted.title == "Army retakes Palmyra"
    assert "Forces entered the ancient city" in extracted.text
    assert "About us" not in extracted.text and "All rights reserved" not in extracted.text
    assert extracted.published == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert extracted.language == "en"
    assert extracted.canonical == "http://www.pressdesk.test/Detail/1.html"


def test_page_without_article_text_gives_none() -> None:
    assert (
        extract_article("<html><head><title>x</title></head><body></body></html>", "http://a.test/")
        is None
    )
    assert extract_article("", "http://a.test/") is None


def _decoded(path: Path, url: str) -> str:
    """Decode as the crawler does: Scrapy's own charset detection on the raw bytes."""
    return HtmlResponse(url=url, body=path.read_bytes()).text


def test_real_article_pages_yield_their_body(corpus_dir: Path) -> None:
    pages = sorted((corpus_dir / "articles").glob("*.html"))
    assert pages
    found = 0
    for page in pages:
        truth = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
        extracted = extract_article(_decoded(page, truth["url"]), truth["url"])
        if extracted is None:
            continue
        first_sentence = truth["articleBody"].strip().split("\n")[0][:60]
        if first_sentence and first_sentence in " ".join(extracted.text.split()):
            found += 1
    # measured: see the issue note; a floor that catches a broken extractor, not a target
    assert found / len(pages) >= 0.8, f"{found}/{len(pages)} pages kept their opening words"


def test_real_news_pages_never_crash_and_mostly_give_the_right_date(corpus_dir: Path) -> None:
    pages = sorted((corpus_dir / "dated_pages").glob("*.html"))
    assert pages
    right = dated = 0
    for page in pages:
        truth = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
        extracted = extract_article(_decoded(page, truth["url"]), truth["url"])
        if truth["date"] is None:
            continue
        dated += 1
        if (
            extracted
            and extracted.published
            and extracted.published.strftime("%Y-%m-%d") == truth["date"]
        ):
            right += 1
    assert right / dated >= 0.8, f"{right}/{dated} publication dates right"


# A page whose article is surrounded, and interrupted, by the boilerplate the issue names.
# trafilatura's defaults keep the "Related:" line, the "Most read" box inside the story and
# the reader comments of this page; every word below that is not in BODY_TERMS is one a
# watch must not fire on.
_CLUTTERED_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Floodwater reaches Kherson after dam breach | Press Desk</title>
<meta property="og:title" content="Floodwater reaches Kherson after dam breach">
</head><body>
<div class="top"><a href="/">Home</a> <a href="/world">World</a> <a href="/markets">Markets</a></div>
<div class="page">
<article class="story">
<h1>Floodwater reaches Kherson after dam breach</h1>
<div class="story-body">
<p>Floodwater from the breached Kakhovka dam reached the outskirts of Kherson on Tuesday,
forcing the evacuation of several riverside districts, regional officials said.</p>
<p>Engineers warned that the reservoir could drain within days, leaving the cooling ponds of
the Zaporizhzhia power station without a reliable supply of water for the summer.</p>
<p>Related: <a href="/a">Orchestra announces a Lisbon residency for the autumn season</a></p>
<div class="box-mostread"><h3>Most read</h3>
<p><a href="/e">Celebrity chef opens marzipan museum</a> The chef said the museum would show
three hundred sculptures made of almond paste and sugar.</p>
<p><a href="/f">Lottery winner buys Patagonian ranch</a> The buyer plans to breed alpacas and
open a guesthouse for hikers crossing the border.</p></div>
<p>Rescue crews in inflatable boats moved residents and their pets from flooded homes, and
volunteers handed out drinking water at schools turned into shelters.</p>
<ul><li><a href="/c">Glaciologists measure record melt in Svalbard</a></li>
<li><a href="/d">Chess prodigy wins Reykjavik open</a></li></ul>
<p>The government said it would publish a full assessment of the damage to farmland downstream
once the water level stabilises.</p>
</div>
<div id="js-comments" class="reader-discussion"><h2>12 comments</h2>
<div class="reader-post"><p>Zbigniew from Gdansk: I remember visiting the embankment as a child;
the lighthouse keeper told us the river never froze completely, even in the coldest winters.</p></div>
<div class="reader-post"><p>Marguerite: Thoughts with everyone affected. The volunteers deserve
every bit of support, and the municipality should reimburse them for the fuel they bought.</p></div>
</div>
</article>
<div class="sidebar-right"><h2>Most read</h2><ol>
<li><a href="/g">Tennis star announces retirement after Wimbledon</a></li>
<li><a href="/h">Beekeepers report honey shortage in Provence</a></li></ol></div>
</div>
<div class="bottom"><p>About us · Contact · Careers · All rights reserved</p></div>
</body></html>
"""
BODY_TERMS = ("Kakhovka", "Zaporizhzhia", "inflatable boats", "farmland", "evacuation")
RELATED_TERMS = ("Orchestra", "Lisbon", "Glaciologists", "Svalbard", "Reykjavik")
MOST_READ_TERMS = ("marzipan", "Patagonian", "alpacas", "Wimbledon", "Provence")
COMMENT_TERMS = ("Zbigniew", "Gdansk", "lighthouse", "Marguerite", "reimburse")


def _matches(term: str, title: str, text: str) -> bool:
    return compile_query(parse_query(term)).match(title, text) is not None


def test_most_read_comments_and_related_stories_are_left_out() -> None:
    extracted = extract_article(_CLUTTERED_PAGE, "http://www.pressdesk.test/world/1.html")
    assert extracted is not None
    assert extracted.title == "Floodwater reaches Kherson after dam breach"
    for term in BODY_TERMS:
        assert _matches(term, extracted.title, extracted.text), term
    for term in (*RELATED_TERMS, *MOST_READ_TERMS, *COMMENT_TERMS, "Careers", "Markets"):
        assert not _matches(term, extracted.title, extracted.text), term
    # the story reads in order: nothing was shuffled while the clutter was cut out
    opening, closing = extracted.text.index("Kakhovka"), extracted.text.index("farmland")
    assert opening < extracted.text.index("inflatable boats") < closing


def test_odd_input_gives_none_or_text_and_never_raises() -> None:
    deep = "<html><body>" + "<div>" * 3000 + "x" + "</div>" * 3000 + "</body></html>"
    bad_json_ld = (
        "<html><head><script type='application/ld+json'>{broken</script>"
        '<script type="application/ld+json">{"articleBody": 5, "datePublished": [1]}</script>'
        "</head><body><p itemprop='articleBody'></p></body></html>"
    )
    for page in (
        "\x00",
        "plain text, no markup",
        "<html>",
        "<frameset></frameset>",
        deep,
        bad_json_ld,
    ):
        extracted = extract_article(page, "http://a.test/")
        assert extracted is None or isinstance(extracted.text, str)


def test_real_articles_alert_on_their_body_and_rarely_on_their_furniture(corpus_dir: Path) -> None:
    """bench/detection_quality.py's probes on the annotated articles, through the product path.

    Measured when written (the weights were fitted on these pages among others): recall 0.963,
    false alerts 0.025; trafilatura's defaults 0.955 / 0.022. The bounds catch a broken judge;
    the issue's targets (0.98 / 0.02) are not reached yet, see bench/README.md.
    """
    pages = load_articles(corpus_dir)
    assert len(pages) >= 100
    scored = score(NEWSWATCH, EXTRACTORS[NEWSWATCH], pages)
    assert scored.recall >= 0.95, f"recall {scored.recall:.3f}"
    assert scored.false_rate <= 0.035, f"false alerts {scored.false_rate:.3f}"


def test_a_page_of_endless_paragraphs_is_not_judged_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Judging time grows with the square of a page's paragraphs inside trafilatura: past
    MAX_BLOCKS a page is refused at once, with one warning, instead of holding a poll for
    minutes."""
    endless = "<html><body><article><h1>T</h1>" + "<p>Palmyra " * (MAX_BLOCKS + 1) + "</article>"
    page = read_page(endless + "</body></html>", "http://a.test/endless")
    assert page is not None and len(page.blocks) > MAX_BLOCKS
    with caplog.at_level("WARNING", logger="newswatch.spiders.extraction"):
        assert article_text(page) == ""
    [record] = [r for r in caplog.records if r.name == "newswatch.spiders.extraction"]
    assert "not judged" in record.getMessage() and "http://a.test/endless" in record.getMessage()
