"""Polls that hostile or broken outlets cannot make endless, through the real command
against the local multi-host server."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e import PALMYRA, PRIMARY, config_text, run_newswatch, write_config
from tests.support.outlet_site import (
    FixtureArticle,
    OutletSite,
    _rss,
    _sitemap_index,
    render_article,
)
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

NEWS_SITEMAP = "/sitemaps/news.xml.gz"  # where OutletSite publishes its news sitemap
DEEP = [f"/deep/{level}.xml" for level in range(2, 9)]  # levels 2..8 below /self.xml


def serve_index(web: MultiHostServer, path: str, children: list[str]) -> None:
    """A sitemap index without ETag or Last-Modified: nothing lets a client skip it."""
    web.site(PRIMARY).add(path, _sitemap_index(PRIMARY, children), content_type="application/xml")


def test_sitemap_cycles_and_deep_chains_are_read_once_and_the_poll_ends(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY])
    site.add_article(PALMYRA, in_feed=False, on_homepage=False, in_sitemap=True)
    # /self.xml lists itself; /other.xml lists it back; both list the real news sitemap
    serve_index(web, "/self.xml", ["/self.xml", "/other.xml", NEWS_SITEMAP, DEEP[0]])
    serve_index(web, "/other.xml", ["/self.xml", NEWS_SITEMAP, "/other.xml#again"])
    # a chain of indexes, each one level deeper than the last, ending in a cycle
    for parent, child in zip(DEEP, [*DEEP[1:], "/self.xml"], strict=True):
        serve_index(web, parent, [child])
    write_config(
        tmp_path,
        config_text(None, smtp, webhook, domains=[PRIMARY], extra_outlet="sitemaps: [/self.xml]"),
    )

    result = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=60)

    assert result.code == 0, result.stderr
    asked = Counter(r.path for r in web.requests if r.path.endswith((".xml", ".xml.gz")))
    assert asked["/self.xml"] == 1 and asked["/other.xml"] == 1 and asked[NEWS_SITEMAP] == 1
    assert [asked[path] for path in DEEP] == [1, 1, 1, 1, 0, 0, 0]  # levels 2-5 read, 6+ not
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert [r.path for r in web.requests].count(PALMYRA.path) == 1
    assert len(webhook.posts) == 1
    log = result.stderr
    assert (
        log.count(
            f"pressdesk: sitemap http://{PRIMARY}/self.xml skipped: already read in this poll"
        )
        == 1
    ), log
    assert f"pressdesk: sitemap http://{PRIMARY}/other.xml skipped" in log  # listed by itself
    assert (
        f"pressdesk: sitemap http://{PRIMARY}/deep/6.xml skipped: "
        "nested deeper than 5 sitemaps" in log
    ), log


def test_article_fetches_per_poll_are_capped_newest_first_and_the_rest_left_for_next_poll(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    now = datetime.now(UTC)
    newest = replace(PALMYRA, published=now - timedelta(minutes=1))
    items = [newest] + [
        FixtureArticle(
            path=f"/Detail/2026/11/27/filler-{n}.html",
            title=f"Filler {n}",
            paragraphs=["Wheat prices were steady on Thursday."],
            published=now - timedelta(minutes=10 + n),
        )
        for n in range(1_999)
    ]
    web.site(PRIMARY).add(
        "/rss.xml", _rss(PRIMARY, items[::-1]), "application/rss+xml"
    )  # oldest first
    for article in items:
        page = render_article(article, f"http://{PRIMARY}{article.path}")
        web.site(PRIMARY).add(article.path, page)
    config = config_text(None, smtp, webhook, domains=[PRIMARY]).replace(
        "timeout: 5s", "timeout: 5s\n          max_articles_per_poll: 50"
    )
    write_config(tmp_path, config)

    started = time.monotonic()
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=60)

    assert result.code == 0, result.stderr
    assert time.monotonic() - started < 30
    fetched = [r.path for r in web.requests if r.path.startswith("/Detail/")]
    assert len(fetched) == 50
    assert set(fetched) == {a.path for a in items[:50]}  # the newest 50
    # fetched newest first too (give or take the few requests in flight at once)
    assert fetched[0] == newest.path, fetched[:5]
    assert sum(fetched.index(a.path) for a in items[:25]) < sum(
        fetched.index(a.path) for a in items[25:50]
    )
    assert "1950 articles left for the next poll (crawl.max_articles_per_poll: 50)" in (
        result.stderr
    ), result.stderr
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{newest.path}"

    web.clear_log()  # the next poll goes on with the 50 newest of those left unseen
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=60)
    assert second.code == 0, second.stderr
    fetched = [r.path for r in web.requests if r.path.startswith("/Detail/")]
    assert set(fetched) == {a.path for a in items[50:100]}
    assert "1900 articles left for the next poll" in second.stderr


def slow_outlet(web: MultiHostServer, articles: int) -> OutletSite:
    site = OutletSite(web, [PRIMARY])
    for n in range(articles):
        site.add_article(
            replace(PALMYRA, path=f"/Detail/2026/11/29/slow-{n}.html", title=f"Palmyra {n}")
        )
    return site


def test_a_poll_past_its_deadline_is_cut_short_and_says_so(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    slow_outlet(web, 20)
    web.site(PRIMARY).delay = 1.0  # every answer takes a second: robots, feed, 20 articles
    config = config_text(None, smtp, webhook, domains=[PRIMARY]).replace(
        "          timeout: 5s\n", "          timeout: 5s\n          poll_timeout: 3s\n"
    )
    write_config(tmp_path, config)
    started = time.monotonic()
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=90)
    assert time.monotonic() - started < 60
    assert result.code == 0, result.stderr
    assert "pressdesk: poll cut short after 3." in result.stderr
    assert "(still running after crawl.poll_timeout 0:00:03)" in result.stderr
    assert "pressdesk: polled in" not in result.stderr  # it does not read as complete
    status = run_newswatch("status", cwd=tmp_path)
    assert "CUT SHORT (still running after crawl.poll_timeout 0:00:03)" in status.stdout

    web.site(PRIMARY).delay = 0.0  # the next poll finds what this one did not reach
    write_config(tmp_path, config.replace("poll_timeout: 3s", "poll_timeout: 2m"))
    again = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert again.code == 0 and "pressdesk: polled in" in again.stderr
    assert "CUT SHORT" not in run_newswatch("status", cwd=tmp_path).stdout
    assert len({p.headers["x-newswatch-id"] for p in webhook.posts}) == len(webhook.posts)
