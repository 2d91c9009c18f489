"""Mirrors that find themselves, end to end: the real ``newswatch`` command, the local multi-host
server, and a test DNS (``tests.support.fake_dns``) that puts each test host where the test says.

The outlet is configured with a primary and one mirror; an earlier article's footer announces a
third domain that serves the same site, a decoy that serves other content, and a name that
resolves to the loopback address.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from newswatch.spiders.mirror_checks import RESOLVE_WITHIN
from tests.e2e import HARVEST, MIRROR, PALMYRA, PRIMARY, config_text, run_newswatch, write_config
from tests.support.fake_dns import HANG
from tests.support.outlet_site import FixtureArticle, OutletSite, render_article
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import ReceivedPost, WebhookReceiver
from tests.test_service import free_port, http_get, metric, wait_until

pytestmark = pytest.mark.e2e

FOUND = "www.pressdesk.co.uk"  # announced in a footer, serves the outlet's own articles
DECOY = "pressdesk-news.net"  # announced the same way, serves other articles at those paths
LOOPBACK = "pressdesk.org"  # announced the same way, resolves to 127.0.0.1
MOVED = "www.pressdesk.news"  # where the primary redirects one article
LISTED = "pressdesk.info"  # in the outlet's mirror list, serves its articles
UNLISTED = "pressdesk.online"  # in the same list, serves nothing of the outlet
INTERNAL = "pressdesk.net"  # where the primary redirects another article; resolves to 10.0.0.7
DNS = {
    FOUND: "93.184.215.14",
    DECOY: "93.184.215.15",
    LOOPBACK: "127.0.0.1",
    MOVED: "93.184.215.16",
    LISTED: "93.184.215.17",
    UNLISTED: "93.184.215.18",
    INTERNAL: "10.0.0.7",
}
FOOTER = (
    "<p>Press Desk's website can also be accessed at the following alternate addresses: "
    f"{FOUND}, https://{DECOY}/ and {LOOPBACK}</p></footer>"
)
NEW_PALMYRA = FixtureArticle(
    path="/Detail/2026/11/28/palmyra-theatre.html",
    title="Engineers survey Palmyra's Roman theatre",
    paragraphs=[
        "Engineers began a survey of the Roman theatre of Palmyra on Monday, the first since "
        "the fighting ended, and said the stage wall was still standing.",
        "The antiquities department said it would publish a report before the end of the year.",
    ],
)


def announcing(article: FixtureArticle) -> FixtureArticle:
    """The article with the footer that announces the other addresses."""
    page = render_article(article, f"http://{PRIMARY}{article.path}")
    article.raw_html = page.replace("</footer>", FOOTER)
    return article


def other_content(path: str) -> str:
    return render_article(
        FixtureArticle(
            path=path,
            title="Casino bonuses this week",
            paragraphs=[
                "Sign up today for the best casino bonuses and free spins on every game we "
                "list, with new offers added every single morning.",
                "Terms apply; play responsibly and check the rules of your country first.",
            ],
        ),
        f"http://{DECOY}{path}",
    )


def outlet(web: MultiHostServer, *extra_domains: str) -> OutletSite:
    """The outlet on its two configured domains and ``extra_domains``; its homepage links are
    written with the configured mirror's host."""
    site = OutletSite(web, [PRIMARY, *extra_domains, MIRROR])
    site.add_article(announcing(FixtureArticle(**vars(HARVEST))))
    site.add_article(PALMYRA)
    for path in (HARVEST.path, PALMYRA.path, NEW_PALMYRA.path):
        web.site(DECOY).add(path, other_content(path))
    return site


def config(smtp: SmtpSink, webhook: WebhookReceiver, policy: str | None, extra: str = "") -> str:
    policy_line = f"discover_mirrors: {policy}" if policy else "# discover_mirrors: default"
    return (
        config_text(
            None, smtp, webhook, extra_outlet=f"{policy_line}\n            {extra}".rstrip()
        ).rstrip(" ")
        + "        notices: [siem]\n"
    )


def notices(webhook: WebhookReceiver) -> list[ReceivedPost]:
    return [post for post in webhook.posts if "notice" in post.json()]


def alerts(webhook: WebhookReceiver) -> list[dict[str, object]]:
    return [post.json() for post in webhook.posts if "article" in post.json()]


def test_auto_fails_over_to_a_verified_announced_mirror_and_alerts_once(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = outlet(web, FOUND)
    write_config(tmp_path, config(smtp, webhook, "auto"))

    first = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert first.code == 0, first.stderr
    webhook.wait_for(2)  # the alert, and the notice of the mirror found
    assert not web.requests_for(LOOPBACK), "a name resolving to loopback was asked"
    asked_decoy = {r.path for r in web.requests_for(DECOY) if r.path != "/robots.txt"}
    assert asked_decoy and asked_decoy <= {HARVEST.path, PALMYRA.path}
    [notice] = notices(webhook)
    assert notice.json()["notice"]["kind"] == "mirror_found"
    assert notice.json()["notice"]["mirror"] == FOUND
    # logged as well, for a config with no notices channels
    assert f"Outlet pressdesk announced {FOUND} as another address of itself" in first.stderr
    assert f"{DECOY} is not a mirror: serves other content" in first.stderr

    status = run_newswatch("status", cwd=tmp_path)
    assert status.code == 0, status.stderr
    print(status.stdout)
    assert "discovered mirrors (discover_mirrors: auto):" in status.stdout
    assert (
        f"{FOUND}: verified, in use after the configured domains; announced as text at "
        f"http://{PRIMARY}{HARVEST.path}" in status.stdout
    )
    assert "served 2 of 2 recent articles the same (fingerprint similarity" in status.stdout
    assert f"{DECOY}: rejected; announced as text at" in status.stdout
    assert "serves other content: 0 of 2 recent articles the same" in status.stdout
    assert f"{LOOPBACK}: rejected;" in status.stdout
    assert "resolves to 127.0.0.1, a loopback address" in status.stdout

    # the primary and the configured mirror go dark; a new Palmyra article is published
    web.site(PRIMARY).mode = "refuse"
    web.site(MIRROR).mode = 403
    site.add_article(NEW_PALMYRA)
    web.clear_log()
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert second.code == 0, second.stderr
    assert f"on {FOUND}" in second.stderr
    webhook.wait_for(3)
    new = [a["article"] for a in alerts(webhook) if "theatre" in str(a["article"])]
    assert [(a["url"], a["fetched_from"]) for a in new] == [  # type: ignore[index]
        (f"http://{PRIMARY}{NEW_PALMYRA.path}", f"http://{FOUND}{NEW_PALMYRA.path}")
    ]
    assert not web.requests_for(DECOY)  # remembered as rejected: not asked again
    status = run_newswatch("status", cwd=tmp_path)
    print(status.stdout)
    assert f"live domain {FOUND}" in status.stdout
    assert f"{FOUND}: verified, in use after the configured domains, up;" in status.stdout

    # the primary returns: nothing alerts twice, and the mirror is still known
    web.site(PRIMARY).mode = "up"
    web.site(MIRROR).mode = "up"
    third = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert third.code == 0, third.stderr
    assert len(alerts(webhook)) == 2 and len(notices(webhook)) == 1
    assert len(smtp.messages) == 2


def test_suggest_only_reports_the_mirror_with_one_notice(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = outlet(web, FOUND)
    write_config(tmp_path, config(smtp, webhook, None))  # suggest is the default

    first = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert first.code == 0, first.stderr
    webhook.wait_for(2)
    [notice] = notices(webhook)
    assert notice.json()["notice"]["policy"] == "suggest"
    assert "add it to the outlet's domains" in notice.json()["notice"]["text"]
    asked = {r.path for r in web.requests_for(FOUND) if r.path != "/robots.txt"}
    assert asked <= {HARVEST.path, PALMYRA.path}  # the verification, nothing else

    web.site(PRIMARY).mode = "refuse"
    web.site(MIRROR).mode = 403
    site.add_article(NEW_PALMYRA)
    web.clear_log()
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert second.code == 1, second.stderr  # unreachable on every configured domain
    assert not web.requests_for(FOUND), "suggest fetched from the discovered mirror"
    assert len(notices(webhook)) == 1 and len(alerts(webhook)) == 1

    status = run_newswatch("status", cwd=tmp_path)
    assert f"{FOUND}: verified, suggested; announced as text at" in status.stdout


def test_a_redirect_to_a_new_domain_is_followed_only_after_verification(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, MOVED, MIRROR])
    site.add_article(FixtureArticle(**vars(HARVEST)))
    site.add_article(FixtureArticle(**{**vars(PALMYRA), "title": "Palmyra's citadel"}))
    site.add_article(NEW_PALMYRA)
    web.site(PRIMARY).add(
        NEW_PALMYRA.path, "", status=301, headers={"Location": f"http://{MOVED}{NEW_PALMYRA.path}"}
    )
    inside = FixtureArticle(**{**vars(HARVEST), "path": "/Detail/2026/11/28/rye.html"})
    site.add_article(inside)
    web.site(PRIMARY).add(
        inside.path, "", status=302, headers={"Location": f"http://{INTERNAL}{inside.path}"}
    )
    web.site(INTERNAL).add(inside.path, render_article(inside, f"http://{PRIMARY}{inside.path}"))
    write_config(tmp_path, config(smtp, webhook, "auto"))

    first = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert first.code == 0, first.stderr
    asked = {r.path for r in web.requests_for(MOVED) if r.path != "/robots.txt"}
    assert NEW_PALMYRA.path not in asked  # not followed before verification
    assert asked == {HARVEST.path, PALMYRA.path}  # the verification
    webhook.wait_for(2)
    assert [a["article"]["url"] for a in alerts(webhook)] == [  # type: ignore[index]
        f"http://{PRIMARY}{PALMYRA.path}"
    ]
    status = run_newswatch("status", cwd=tmp_path)
    assert (
        f"{MOVED}: verified, in use after the configured domains; announced as redirect at "
        f"http://{PRIMARY}{NEW_PALMYRA.path}" in status.stdout
    )
    # a redirect into the network is refused by where its name resolves (the crawl's egress
    # rule, before the outlet's boundary sees it): never followed, never a candidate
    assert "refused_internal_address" in status.stdout and INTERNAL not in status.stdout

    web.clear_log()
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert second.code == 0, second.stderr
    webhook.wait_for(3)
    moved = [a["article"] for a in alerts(webhook) if "theatre" in str(a["article"])]
    assert [(a["url"], a["fetched_from"]) for a in moved] == [  # type: ignore[index]
        (f"http://{PRIMARY}{NEW_PALMYRA.path}", f"http://{MOVED}{NEW_PALMYRA.path}")
    ]
    assert not web.requests_for(INTERNAL)


def test_a_mirror_list_with_one_genuine_domain_and_one_not(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = OutletSite(web, [PRIMARY, LISTED, MIRROR])
    site.add_article(FixtureArticle(**vars(HARVEST)))
    site.add_article(PALMYRA)
    listing = json.dumps({"mirrors": [f"https://{LISTED}/", UNLISTED]})
    web.site(PRIMARY).add("/mirrors.json", listing, content_type="application/json")
    web.site(UNLISTED).add("/", "<html><body><p>Parked domain</p></body></html>")
    lists = f'mirror_lists: ["http://{PRIMARY}/mirrors.json"]'
    write_config(tmp_path, config(smtp, webhook, "suggest", lists))

    first = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=DNS)
    assert first.code == 0, first.stderr
    status = run_newswatch("status", cwd=tmp_path)
    print(status.stdout)
    announced = f"announced as mirror list at http://{PRIMARY}/mirrors.json"
    assert f"{LISTED}: verified, suggested; {announced}" in status.stdout
    assert f"{UNLISTED}: rejected; {announced}" in status.stdout
    assert "answered HTTP 404" in status.stdout
    webhook.wait_for(2)
    assert [n.json()["notice"]["mirror"] for n in notices(webhook)] == [LISTED]


def test_the_service_verifies_fails_over_and_counts_mirrors_in_its_metrics(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    site = outlet(web, FOUND)
    port = free_port()
    text = config(smtp, webhook, "auto").replace(
        "articles: '^/Detail/\\d{4}/'", "articles: '^/Detail/\\d{4}/'\n            every: 2s"
    )
    write_config(tmp_path, text + f"        service:\n          listen: 127.0.0.1:{port}\n")
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **web.proxy_env(),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
        "NEWSWATCH_TEST_DNS": json.dumps(DNS),
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    with (tmp_path / "service.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_dns", "run"],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            verified = 'newswatch_mirrors_discovered{outlet="pressdesk",state="verified"}'
            wait_until(
                lambda: metric(http_get(f"{base}/metrics")[1], verified) == 1, 60, "a mirror"
            )
            text = http_get(f"{base}/metrics")[1]
            rejected = 'newswatch_mirrors_discovered{outlet="pressdesk",state="rejected"}'
            assert metric(text, rejected) == 2

            web.site(PRIMARY).mode = "refuse"
            web.site(MIRROR).mode = 403
            site.add_article(NEW_PALMYRA)
            wait_until(
                lambda: any("theatre" in str(a["article"]) for a in alerts(webhook)),
                60,
                "the new article's alert",
            )
            # the discovered mirror in use has its health series like a configured domain
            found_up = f'newswatch_domain_up{{domain="{FOUND}",outlet="pressdesk"}}'
            wait_until(
                lambda: metric(http_get(f"{base}/metrics")[1], found_up) == 1, 30, "its health"
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    [new] = [a["article"] for a in alerts(webhook) if "theatre" in str(a["article"])]
    assert new["fetched_from"] == f"http://{FOUND}{NEW_PALMYRA.path}"  # type: ignore[index]
    assert len(notices(webhook)) == 1


def test_a_name_server_that_never_answers_holds_neither_the_poll_nor_the_run(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    outlet(web, FOUND)
    write_config(tmp_path, config(smtp, webhook, "auto"))
    hanging = {**DNS, FOUND: HANG, DECOY: HANG, LOOPBACK: HANG}

    started = time.monotonic()
    run = run_newswatch("run", "--once", cwd=tmp_path, web=web, dns=hanging)
    assert run.code == 0, run.stderr
    assert time.monotonic() - started < 30, "the run waited for a lookup that never returns"
    assert f"within {RESOLVE_WITHIN:g}s; the next poll asks again" in run.stderr
    assert f"no address for {FOUND}" in run.stderr
    assert len(alerts(webhook)) == 1  # the poll itself went on as usual
    status = run_newswatch("status", cwd=tmp_path)
    assert f"{FOUND}: candidate;" in status.stdout  # not rejected: asked again next poll
    assert not web.requests_for(FOUND)
