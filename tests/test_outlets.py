"""Outlets as they really are (mirrors, sitemaps, conditional requests, edits, huge pages,
redirects), through the real ``newswatch`` command against the local multi-host server."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.e2e import (
    HARVEST,
    MIRROR,
    OLD_PALMYRA,
    PALMYRA,
    PRIMARY,
    config_text,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

MIRROR2 = "www.pressdesk-mirror2.test"
COOLDOWN = 10.0  # seconds a failed domain rests in these tests (two runs must fit in it)


def new_article(slug: str, text: str, **kwargs: object) -> FixtureArticle:
    return FixtureArticle(
        path=f"/Detail/2026/11/27/{slug}.html",
        title=f"Report: {slug.replace('-', ' ')}",
        paragraphs=[text, "Officials gave no further details on Thursday evening."],
        **kwargs,  # type: ignore[arg-type]
    )


def hosts_asked(web: MultiHostServer, path_prefix: str = "/") -> set[str]:
    return {
        r.host for r in web.requests if r.path.startswith(path_prefix) and r.path != "/robots.txt"
    }


def test_mirror_chain_live_domain_memory_and_return_of_the_primary(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR, MIRROR2])
    site.add_article(PALMYRA)
    write_config(
        tmp_path,
        config_text(
            None, smtp, webhook, domains=[PRIMARY, MIRROR, MIRROR2], cooldown=f"{COOLDOWN}s"
        ),
    )
    web.site(PRIMARY).mode = "refuse"
    web.site(MIRROR).mode = 403

    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert post.json()["article"]["fetched_from"] == f"http://{MIRROR2}{PALMYRA.path}"
    crawl_ended = time.monotonic()

    status = run_newswatch("status", cwd=tmp_path)
    assert status.code == 0, status.stderr
    assert f"live domain {MIRROR2}" in status.stdout
    assert f"{PRIMARY}: down" in status.stdout and f"{MIRROR}: down" in status.stdout
    assert f"{MIRROR2}: up" in status.stdout
    assert "palmyra [pressdesk]" in status.stdout

    # while the failed domains rest, the next poll goes straight to the live mirror
    web.clear_log()
    site.add_article(new_article("tadmur", "Museum staff in Tadmur catalogued the damage."))
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert second.code == 0, second.stderr
    assert time.monotonic() - crawl_ended < COOLDOWN, "too slow to observe the cooldown"
    assert hosts_asked(web) == {MIRROR2}
    assert webhook.wait_for(2)[1].json()["article"]["fetched_from"].startswith(f"http://{MIRROR2}/")

    # the primary is back: once its rest is over it is probed first and used again
    web.site(PRIMARY).mode = "up"
    web.site(MIRROR).mode = "up"
    time.sleep(max(0.0, COOLDOWN - (time.monotonic() - crawl_ended)) + 0.5)
    web.clear_log()
    site.add_article(new_article("palmyra-return", "Families returned to Palmyra this week."))
    third = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert third.code == 0, third.stderr
    assert hosts_asked(web) == {PRIMARY}
    latest = webhook.wait_for(3)[2].json()["article"]
    assert latest["fetched_from"] == f"http://{PRIMARY}/Detail/2026/11/27/palmyra-return.html"
    status = run_newswatch("status", cwd=tmp_path)
    assert f"live domain {PRIMARY}" in status.stdout and f"{PRIMARY}: up" in status.stdout


def test_unchanged_outlet_costs_conditional_requests_and_no_article_fetch(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA, in_sitemap=True)
    site.add_article(HARVEST)
    write_config(
        tmp_path,
        config_text(None, smtp, webhook, extra_outlet="sitemaps: [/sitemap_index.xml]"),
    )
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    web.clear_log()

    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert second.code == 0, second.stderr
    by_path = {r.path: r for r in web.requests}
    for listing in ("/rss.xml", "/sitemap_index.xml"):
        assert by_path[listing].headers.get("if-none-match"), f"{listing} not conditional"
    assert not [p for p in by_path if p.startswith("/Detail/")], "an article was fetched again"
    assert "/sitemaps/news.xml.gz" not in by_path  # the unchanged index leads nowhere new
    assert "2 not modified" in second.stderr
    assert len(webhook.posts) == 1


def test_sitemap_index_with_a_gzipped_news_sitemap(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    only_in_sitemap = new_article("tadmur-sitemap", "Engineers surveyed the theatre of Tadmur.")
    site.add_article(only_in_sitemap, in_feed=False, on_homepage=False, in_sitemap=True)
    site.add_article(OLD_PALMYRA, in_feed=False, on_homepage=False, in_sitemap=True)
    write_config(
        tmp_path, config_text(None, smtp, webhook, extra_outlet="sitemaps: [/sitemap_index.xml]")
    )
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{only_in_sitemap.path}"
    paths = {r.path for r in web.requests}
    assert "/sitemaps/news.xml.gz" in paths
    assert OLD_PALMYRA.path not in paths  # older than max_age by its news:publication_date


def test_edited_article_is_fetched_again_and_alerts_when_it_newly_matches(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    draft = new_article("desert-city", "Fighting continued around the desert city.")
    site.add_article(draft, on_homepage=False)
    write_config(tmp_path, config_text(None, smtp, webhook))
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    assert webhook.posts == []

    unchanged = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert unchanged.code == 0
    assert [r for r in web.requests if r.path == draft.path].__len__() == 1

    edited = replace(
        draft,
        paragraphs=["Fighting continued around the desert city of Palmyra.", *draft.paragraphs[1:]],
        updated=datetime.now(UTC),
    )
    site.replace_article(edited)
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert second.code == 0, second.stderr
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{draft.path}"


def test_huge_page_is_refused_and_counted_without_failover(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    huge = new_article("palmyra-huge", "Palmyra " + "filler text " * 40_000)
    site.add_article(huge, on_homepage=False)
    site.add_article(PALMYRA)
    config = config_text(None, smtp, webhook).replace(
        "timeout: 5s", "timeout: 5s\n          max_page_size: 100KB"
    )
    write_config(tmp_path, config)
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr
    assert "palmyra-huge.html failed" in result.stderr
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert not [r for r in web.requests if r.host == MIRROR and r.path == huge.path]
    status = run_newswatch("status", cwd=tmp_path)
    assert "errors:" in status.stdout


def test_redirects_stay_inside_the_outlet(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    moved = new_article("palmyra-moved", "The Palmyra report moved to the mirror.")
    site.add_article(moved)
    away = new_article("palmyra-away", "This Palmyra link leaves the outlet.")
    site.add_article(away)
    web.site(PRIMARY).add(
        moved.path, "", status=301, headers={"Location": f"http://{MIRROR}{moved.path}"}
    )
    web.site(PRIMARY).add(
        away.path, "", status=302, headers={"Location": "http://elsewhere.test/x"}
    )
    web.site("elsewhere.test").add("/x", "<html><body><p>Palmyra elsewhere</p></body></html>")
    write_config(tmp_path, config_text(None, smtp, webhook))
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["fetched_from"] == f"http://{MIRROR}{moved.path}"
    assert not web.requests_for("elsewhere.test")


def test_stats_of_each_crawl_are_in_the_verbose_log_only(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    write_config(tmp_path, config_text(None, smtp, webhook))
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr
    assert "pressdesk: polled in" in result.stderr and "1 new articles, 1 alerts" in result.stderr
    assert "downloader/request_count" not in result.stderr  # the poll line says what matters
    verbose = run_newswatch("run", "--once", "-v", cwd=tmp_path, web=web)
    assert "crawl statistics" in verbose.stderr and "downloader/request_count" in verbose.stderr


def test_republished_copy_under_another_url_does_not_alert_the_same_watch_again(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    write_config(tmp_path, config_text(None, smtp, webhook))
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert len(webhook.wait_for(1)) == 1

    copy = replace(
        PALMYRA,
        path="/Detail/2026/11/28/world/palmyra-citadel.html",
        paragraphs=["Updated: corrects spelling of a name.", *PALMYRA.paragraphs],
    )
    site.add_article(copy)
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr
    assert "is a copy of an article already alerted" in result.stderr
    assert [r.path for r in web.requests].count(copy.path) == 1  # fetched, compared, not alerted
    assert len(webhook.posts) == 1 and len(smtp.messages) == 1
