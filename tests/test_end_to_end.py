"""From a YAML file to delivered alerts: ``newswatch run --once`` against real local servers.

An outlet with two domains lives on the local multi-host server (reached through http_proxy),
mail goes to a real aiosmtpd server, webhooks to a real HTTP receiver, state to a real Redis or
the embedded store. Nothing of newswatch is mocked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from tests.e2e import (
    HARVEST,
    MIRROR,
    OLD_PALMYRA,
    PALMYRA,
    PRIMARY,
    SECRET,
    config_text,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def outlet(web: MultiHostServer) -> OutletSite:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    site.add_article(HARVEST)
    site.add_article(OLD_PALMYRA)
    return site


def add_corpus_filler(site: OutletSite, corpus: Path, count: int = 6) -> None:
    """Real article pages that do not mention the watched words, to crawl and not alert."""
    added = 0
    for page in sorted((corpus / "articles").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        if "palmyra" in text.lower() or "tadmur" in text.lower():
            continue
        site.add_article(
            FixtureArticle(
                path=f"/Detail/2026/11/27/real-{page.stem[:12]}.html",
                title="",
                paragraphs=[],
                raw_html=text,
            )
        )
        added += 1
        if added == count:
            return


def test_one_alert_per_article_and_channel_then_nothing_then_one_more(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
    request: pytest.FixtureRequest,
) -> None:
    if "NEWSWATCH_CORPUS" in os.environ:
        add_corpus_filler(outlet, request.getfixturevalue("corpus_dir"))
    write_config(tmp_path, config_text(store_url, smtp, webhook))

    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr

    [mail] = smtp.wait_for(1)
    [post] = webhook.wait_for(1)
    canonical = f"http://{PRIMARY}{PALMYRA.path}"

    body = post.json()
    assert set(body) == {"id", "watch", "outlet", "article", "matches", "detected_at"}
    assert body["watch"] == "palmyra" and body["outlet"] == "pressdesk"
    assert body["article"]["url"] == canonical
    assert body["article"]["fetched_from"].startswith(f"http://{PRIMARY}{PALMYRA.path}")
    assert body["article"]["title"] == PALMYRA.title
    assert body["article"]["published"] == PALMYRA.published.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["article"]["language"] == "en"
    [match] = body["matches"]
    assert match["term"] == "Palmyra" and match["field"] == "title"
    assert "Palmyra" in match["snippet"]
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-newswatch-id"] == body["id"]
    expected = hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["x-newswatch-signature"] == f"sha256={expected}"

    message = mail.message
    assert message["Subject"] == f"[newswatch] palmyra: {PALMYRA.title}"
    assert message["Message-ID"] == f"<{body['id']}@newswatch>"
    assert mail.rcpt_tos == ["analyst@example.org"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        assert canonical in part
        assert "pressdesk" in part
    assert "<mark" in html and ">Palmyra</mark>" in html

    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert second.code == 0, second.stderr
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1

    outlet.add_article(
        FixtureArticle(
            path="/Detail/2026/11/27/tadmur.html",
            title="Museum staff return to Tadmur",
            paragraphs=[
                "Staff of the antiquities museum in Tadmur returned this week to catalogue "
                "what remains of the collection, officials said.",
            ],
        )
    )
    third = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert third.code == 0, third.stderr
    assert len(smtp.wait_for(2)) == 2
    posts = webhook.wait_for(2)
    assert len(posts) == 2
    assert posts[1].json()["article"]["url"] == f"http://{PRIMARY}/Detail/2026/11/27/tadmur.html"
    assert posts[1].json()["matches"][0]["term"] == "Tadmur"
    assert json.loads(posts[0].body)["id"] != posts[1].json()["id"]


def test_one_fetch_per_article_robots_user_agent_and_rel_canonical(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    # an AMP copy whose rel=canonical names the real article: one article, one alert
    amp = FixtureArticle(
        path="/Detail/2026/11/27/amp/palmyra.html",
        title=PALMYRA.title,
        paragraphs=PALMYRA.paragraphs,
    )
    outlet.add_article(amp)
    page = web.site(PRIMARY).get(amp.path)
    assert page is not None
    web.site(PRIMARY).add(amp.path, page.body.replace(amp.path.encode(), PALMYRA.path.encode()))
    web.site(MIRROR).add(amp.path, page.body.replace(amp.path.encode(), PALMYRA.path.encode()))
    # robots.txt forbids one article
    web.site(PRIMARY).add(
        "/robots.txt",
        "User-agent: *\nDisallow: /Detail/2026/11/27/harvest",
        content_type="text/plain",
    )
    write_config(tmp_path, config_text(None, smtp, webhook))

    result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr

    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    paths = [r.path for r in web.requests]
    assert paths.count(PALMYRA.path) == 1  # listed in the feed (primary) and homepage (mirror)
    assert not any(p.startswith(HARVEST.path) for p in paths)
    assert all(r.headers["user-agent"].startswith("newswatch/") for r in web.requests)
    assert all("+" in r.headers["user-agent"] for r in web.requests)
    assert len(webhook.posts) == 1 and len(smtp.messages) == 1  # the run has ended: all sent


_SIDEBAR_ONLY = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Harvest festival draws record crowds | Press Desk</title></head><body>
<header><nav><a href="/">Home</a> <a href="/world/">World</a></nav></header>
<main><article><h1>Harvest festival draws record crowds</h1>
<p>Farmers from across the region brought their produce to the market square on Saturday, and
the organisers said the festival had never drawn so many visitors in its forty-year history.</p>
<p>Stalls sold apples, pumpkins and cider late into the evening, while a brass band played on
the steps of the town hall and children queued for rides on a restored steam tractor.</p>
</article>
<aside class="most-read"><h2>Most read</h2><ul>
<li><a href="/a.html">Tourists return to Palmyra after the war</a></li>
<li><a href="/b.html">Beekeepers report a honey shortage</a></li></ul></aside></main>
<footer><p>&copy; Press Desk. All rights reserved.</p></footer></body></html>"""


def test_a_mention_in_the_sidebar_does_not_alert_and_one_in_the_body_does(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    sidebar = FixtureArticle(path="/Detail/2026/11/30/festival.html", title="", paragraphs=[])
    sidebar.raw_html = _SIDEBAR_ONLY
    site.add_article(sidebar)
    site.add_article(
        FixtureArticle(
            path="/Detail/2026/11/30/museum.html",
            title="Museum staff return to the ancient city",
            paragraphs=[
                "Staff of the antiquities museum returned to Palmyra this week to catalogue what "
                "remains of the collection, officials said on Monday.",
            ],
        )
    )
    write_config(tmp_path, config_text(store_url, smtp, webhook))

    run = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert run.code == 0, run.stderr

    [post] = webhook.wait_for(1)
    body = post.json()
    assert body["article"]["url"] == f"http://{PRIMARY}/Detail/2026/11/30/museum.html"
    [match] = body["matches"]
    assert match["field"] == "body" and "returned to Palmyra this week" in match["snippet"]
    assert len(smtp.wait_for(1)) == 1
    assert len(webhook.posts) == 1  # nothing for the festival page's "most read" box
