"""Where a mention sits decides whether it alerts: small pages of our own, one place at a time.

Each page is an ordinary news page (navigation, a story, a "most read" box, reader comments, a
cookie banner, a footer) with the watched word written in exactly one place. The word reaches
an alert only when it sits in the title or the article, judged by the same path a poll takes:
:func:`read_page`, the watch-term scan over the whole page, then :func:`article_text` in its
two stages, told which blocks hold a watch term.

"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trafilatura

from newswatch.alerts.matcher import compile_query
from newswatch.alerts.query import parse_query
from newswatch.alerts.watchset import WatchSet
from newswatch.spiders.extraction import (
    Page,
    article_text,
    evidence_of,
    first_evidence,
    judge_blocks,
    read_page,
)
from newswatch.spiders.judging import Stage, Trees, article_scores, is_article, is_sure
from newswatch.spiders.placement import FEATURES, Evidence, block_features, named_furniture

WATCHED = "Palmyra"
URL = "https://www.pressdesk.test/world/2026/11/30/floodwater.html"

_STORY = [
    "Floodwater from the breached dam reached the outskirts of the city on Tuesday, forcing the "
    "evacuation of several riverside districts, regional officials said in a statement.",
    "Engineers warned that the reservoir could drain within days, leaving the cooling ponds of "
    "the power station without a reliable supply of water for the rest of the summer.",
    "Rescue crews in inflatable boats moved residents and their pets from flooded homes, and "
    "volunteers handed out drinking water at schools that had been turned into shelters.",
    "The government said it would publish a full assessment of the damage to farmland "
    "downstream once the water level stabilises, which could take several weeks.",
]


@dataclass
class NewsPage:
    """A page in the shape most news sites share; each slot can carry the watched word."""

    title: str = "Floodwater reaches the city after dam breach"
    paragraphs: list[str] = field(default_factory=lambda: list(_STORY))
    inside_story: str = ""  # extra markup placed after the second paragraph
    most_read: str = "Lottery winner buys a ranch in the south"
    comment: str = "Thoughts with everyone affected; the volunteers deserve every support."
    cookie: str = "We use cookies to improve your experience on our site."
    footer: str = "About us · Contact · Careers · All rights reserved"
    semantic: bool = True  # <article>, <nav>, <aside>, <footer> and telling class names
    lang: str = "en"
    direction: str = "ltr"

    def html(self) -> str:
        paragraphs = [f"<p>{p}</p>" for p in self.paragraphs]
        paragraphs[2:2] = [self.inside_story] if self.inside_story else []
        body = "\n".join(paragraphs)
        if not self.semantic:
            return f"""<!DOCTYPE html><html lang="{self.lang}" dir="{self.direction}"><head>
<meta charset="utf-8"><title>{self.title} | Press Desk</title></head><body>
<div><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></div>
<div><div>
<h1>{self.title}</h1>
<div>By Staff Reporter · 30 November 2026</div>
{body}
</div></div>
<div><a href="/privacy">Privacy</a> · {self.footer}</div>
</body></html>"""
        return f"""<!DOCTYPE html><html lang="{self.lang}" dir="{self.direction}"><head>
<meta charset="utf-8"><title>{self.title} | Press Desk</title>
<meta property="og:title" content="{self.title}"></head><body>
<div class="cookie-banner" role="dialog"><p>{self.cookie}</p><button>Accept</button></div>
<header class="site-header"><nav class="main-nav"><ul>
<li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/sport">Sport</a></li>
</ul></nav></header>
<main><div class="layout">
<article class="story">
<h1>{self.title}</h1>
<div class="byline">By Staff Reporter · 30 November 2026</div>
<div class="story-body">
{body}
</div>
</article>
<section class="comments" id="comments"><h2>Comments</h2>
<div class="comment"><p class="comment-author">Marguerite</p><p>{self.comment}</p></div>
<div class="comment"><p class="comment-author">Zbigniew</p>
<p>I remember visiting the embankment as a child; the river never froze in winter.</p></div>
</section>
<aside class="sidebar"><h2>Most read</h2><ol>
<li><a href="/a">{self.most_read}</a></li>
<li><a href="/b">Beekeepers report a honey shortage this year</a></li>
<li><a href="/c">Tennis star announces retirement after final</a></li>
</ol></aside>
</div></main>
<footer class="site-footer"><p>{self.footer}</p></footer>
</body></html>"""


def _alerts(page: NewsPage, query: str = WATCHED) -> bool:
    """Whether a watch on ``query`` fires on the page, judged as a poll judges it."""
    read = read_page(page.html(), URL)
    assert read is not None
    intake = _intake(query)
    if not intake.mentioned(read.visible_text):
        return False
    text = article_text(read, intake.mentioned)
    return compile_query(parse_query(query)).match(read.title, text) is not None


def _intake(query: str) -> WatchSet:
    """The watch set a poll's intake scans pages with (AlertIntake.mentioned)."""
    return WatchSet({"w": parse_query(query)})


def test_the_page_alone_alerts_nothing_and_the_story_is_judged_article() -> None:
    page = NewsPage()
    assert not _alerts(page)
    read = read_page(page.html(), URL)
    assert read is not None
    text = article_text(read)
    for paragraph in _STORY:
        assert paragraph in text
    for furniture in ("Lottery winner", "Thoughts with everyone", "We use cookies", "Careers"):
        assert furniture not in text, furniture


@pytest.mark.parametrize(
    "place",
    [
        NewsPage(most_read=f"Tourists return to {WATCHED} after the war"),
        NewsPage(comment=f"I visited {WATCHED} in 2009 and the ruins were breathtaking."),
        NewsPage(cookie=f"{WATCHED} Media and its partners use cookies on this site."),
        NewsPage(footer=f"About us · Contact · {WATCHED} Media Group · All rights reserved"),
    ],
    ids=["most-read", "comment-thread", "cookie-banner", "footer"],
)
def test_a_mention_only_in_the_furniture_does_not_alert(place: NewsPage) -> None:
    assert WATCHED in place.html()
    assert not _alerts(place)


_CAPTION = f"""<figure><img src="/ruins.jpg" alt="">
<figcaption>The colonnade of {WATCHED}, photographed before the fighting.</figcaption></figure>"""
_QUOTE = f"""<blockquote><p>We will not let {WATCHED} be forgotten, whatever the water does to
the rest of the valley this year.</p></blockquote>"""


@pytest.mark.parametrize(
    "place",
    [
        NewsPage(inside_story=_CAPTION),
        NewsPage(inside_story=_QUOTE),
        NewsPage(
            paragraphs=[
                f"Forces entered {WATCHED} on Sunday after weeks of fighting around the ancient "
                "city, officials said, and engineers began clearing the roads into the centre."
            ]
        ),
        NewsPage(
            paragraphs=[*_STORY[:3], f"Officials compared the damage with what {WATCHED} saw."],
            semantic=False,
        ),
    ],
    ids=["caption", "blockquote", "one-paragraph-article", "no-semantic-markup"],
)
def test_a_mention_in_the_article_alerts(place: NewsPage) -> None:
    assert _alerts(place)


def test_a_right_to_left_article_alerts_on_its_own_words_only() -> None:
    story = [
        "وصلت مياه الفيضان إلى أطراف المدينة يوم الثلاثاء وأجبرت السلطات على إخلاء عدة أحياء "
        "قريبة من النهر، بحسب ما قاله مسؤولون محليون في بيان رسمي.",
        "وقال مهندسون إن الخزان قد يفرغ خلال أيام، وإن مدينة تدمر الأثرية لم تتأثر بالمياه حتى "
        "الآن، لكن فرق الإنقاذ ما زالت تعمل في المنطقة.",
        "ونقلت فرق الإنقاذ السكان في قوارب مطاطية، ووزع متطوعون مياه الشرب في المدارس التي "
        "تحولت إلى ملاجئ للعائلات النازحة من القرى المجاورة.",
    ]
    page = NewsPage(
        title="مياه الفيضان تصل إلى المدينة بعد انهيار السد",
        paragraphs=story,
        most_read="السياح يعودون إلى حلب بعد الحرب",
        lang="ar",
        direction="rtl",
    )
    assert _alerts(page, '"تدمر"')  # in the article, with the prefix بتدمر/وتدمر rules intact
    assert not _alerts(page, "حلب")  # only in the most-read box


def test_a_page_without_any_watch_term_is_not_judged() -> None:
    read = read_page(NewsPage().html(), URL)
    assert read is not None
    assert not _intake("Kherson").mentioned(read.visible_text)
    assert _intake("Kherson OR floodwater").mentioned(read.visible_text)
    # an exclusion seen in the furniture does not hide a page whose article may still match
    assert _intake('floodwater -"Most read"').mentioned(read.visible_text)


def test_the_alert_quotes_the_mention_in_the_article_not_the_one_in_the_sidebar() -> None:
    page = NewsPage(
        most_read=f"Tourists return to {WATCHED} after the war",
        paragraphs=[*_STORY[:2], f"Archaeologists in {WATCHED} checked the temple for cracks."],
    )
    read = read_page(page.html(), URL)
    assert read is not None and _intake(WATCHED).mentioned(read.visible_text)
    text = article_text(read, _intake(WATCHED).mentioned)
    matches = compile_query(parse_query(WATCHED)).match(read.title, text)
    assert matches is not None
    (match,) = matches
    assert match.field == "body"
    assert "Archaeologists in Palmyra checked the temple" in match.snippet
    assert "Tourists" not in match.snippet


def test_the_trees_are_walked_as_written(tmp_path: Path) -> None:
    """The numpy walk of newswatch.spiders.judging follows each tree's splits (value <= split: left)."""
    table = {
        "depth": 2,
        "baseline": -1.0,
        # tree 1 splits on "a", then "b" on the left and "a" again on the right; tree 2 is one
        # leaf padded to depth 2 (its splits never send a block right)
        "split_feature": [["a", "b", "a"], ["a", "a", "a"]],
        "split_value": [[0.5, 2.0, 0.9], [1e9, 1e9, 1e9]],
        "leaf": [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]],
    }
    path = tmp_path / "trees.json"
    path.write_text(json.dumps(table), encoding="utf-8")
    trees = Trees.load(path, ("b", "a"))  # columns in another order than the table's
    rows = np.array([[1.0, 0.2], [3.0, 0.2], [0.0, 0.7], [0.0, 1.0]])
    expected = [-1.0 + leaf + 0.5 for leaf in (0.1, 0.2, 0.3, 0.4)]
    assert trees.margins(rows) == pytest.approx(expected)


@pytest.mark.parametrize("stage", list(Stage))
def test_the_shipped_trees_name_only_signals_the_page_gives(stage: Stage) -> None:
    trees = Trees.load(stage.model_file, FEATURES)
    assert trees.columns.shape[0] == trees.leaves.shape[0] > 0
    assert article_scores([], stage) == []
    (score,) = article_scores([[0.0] * len(FEATURES)], stage)
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize(
    ("names", "said"),
    [
        ("footer-nav", "footer"),  # named by the first word written
        ("nav-footer", "nav"),
        ("sidebar", "sidebar"),
        # a name saying what an element holds is the layout around the article, not furniture
        ("content-with-sidebar", None),
        ("post has-comments", None),
        ("author hasMenu", None),
        ("has-sidebar comments", "comments"),
    ],
)
def test_furniture_is_named_by_what_the_markup_says_it_is(names: str, said: str | None) -> None:
    page = NewsPage().html().replace("</body>", f'<div class="{names}"><p>Careers</p></div></body>')
    read = read_page(page, URL)
    assert read is not None
    judged = judge_blocks(read)
    assert judged is not None
    (careers,) = [j for j in judged if j.block.text == "Careers" and j.block.element.tag == "p"]
    assert careers.furniture == said


def _stage_verdicts(read: Page, evidence: Evidence, stage: Stage) -> list[tuple[bool, bool]]:
    """For each block: whether the verdict of ``stage`` is sure, and the verdict."""
    rows = block_features(read.blocks, evidence)
    scores = article_scores(rows, stage)
    named = named_furniture(read.blocks, evidence)
    return [
        (kind is not None or is_sure(score), is_article(row, score, kind))
        for row, score, kind in zip(rows, scores, named, strict=True)
    ]


_PLACES = [
    NewsPage(most_read=f"Tourists return to {WATCHED} after the war"),
    NewsPage(comment=f"I visited {WATCHED} in 2009 and the ruins were breathtaking."),
    NewsPage(cookie=f"{WATCHED} Media and its partners use cookies on this site."),
    NewsPage(footer=f"About us · Contact · {WATCHED} Media Group · All rights reserved"),
    NewsPage(inside_story=_CAPTION),
    NewsPage(inside_story=_QUOTE),
    NewsPage(paragraphs=[*_STORY[:3], f"Officials compared the damage with what {WATCHED} saw."]),
]


@pytest.mark.parametrize("place", _PLACES)
def test_where_the_first_stage_is_sure_the_full_judging_agrees(place: NewsPage) -> None:
    read = read_page(place.html(), URL)
    assert read is not None
    first = first_evidence(read)
    cheap = _stage_verdicts(read, first, Stage.FIRST)
    full = _stage_verdicts(read, evidence_of(read, first), Stage.FULL)
    held = [i for i, block in enumerate(read.blocks) if WATCHED in block.text]
    assert held
    for i in held:
        sure, verdict = cheap[i]
        if sure:
            assert verdict == full[i][1], read.blocks[i].text


@pytest.mark.parametrize("place", _PLACES)
def test_trafilatura_runs_only_where_the_first_stage_is_unsure(
    place: NewsPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two trafilatura passes, two thirds of the judging's cost, run only for a page where
    the first stage is unsure about a block holding the watched word."""
    read = read_page(place.html(), URL)
    assert read is not None
    cheap = _stage_verdicts(read, first_evidence(read), Stage.FIRST)
    held = [i for i, block in enumerate(read.blocks) if WATCHED in block.text]
    sure = all(cheap[i][0] for i in held)
    calls: list[str] = []
    extract = trafilatura.bare_extraction

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("url", ""))
        return extract(*args, **kwargs)

    monkeypatch.setattr(trafilatura, "bare_extraction", counted)
    alerted = _alerts(place)
    assert (calls == []) == sure
    assert alerted == (place in _PLACES[4:])
