"""A crawl never reaches inside the network unless the user configured that host.

Through the real ``newswatch`` command: the outlets live on the multi-host proxy, and a second
multi-host server on 127.0.0.1 is the internal "canary" that must receive nothing. The runs set
``no_proxy=127.0.0.1,localhost``, so a request to the canary would reach it directly.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from newswatch.config import Outlet
from newswatch.spiders.egress import EgressMiddleware, address_problem, outlet_targets
from tests.e2e import MIRROR, PALMYRA, PRIMARY, config_text, run_newswatch, write_config
from tests.support.outlet_site import OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer, RequestRecord
from tests.support.webhook import WebhookReceiver

RUN_BOUND = 60  # seconds: each run must end well within this


@pytest.fixture
def canary() -> Iterator[MultiHostServer]:
    """An internal service on 127.0.0.1: it records every request it gets, whatever the host."""
    with MultiHostServer() as server:
        yield server


def with_feeds(text: str, *feeds: str) -> str:
    return text.replace("feeds: [/rss.xml]", f"feeds: [{', '.join(feeds)}]")


def internal_requests(web: MultiHostServer, canary: MultiHostServer) -> list[RequestRecord]:
    """What reached the canary: directly, or through the proxy (a redirect keeps the proxy)."""
    via_proxy = [r for r in web.requests if r.host in ("127.0.0.1", "localhost")]
    return canary.requests + via_proxy


def run_once(tmp_path: Path, web: MultiHostServer) -> str:
    result = run_newswatch("run", "--once", cwd=tmp_path, web=web, timeout=RUN_BOUND)
    assert result.code == 0, result.stderr
    return result.stderr


@pytest.mark.e2e
def test_robots_txt_redirected_to_an_internal_address_is_not_followed(
    tmp_path: Path,
    web: MultiHostServer,
    canary: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    internal = f"http://127.0.0.1:{canary.port}/x"
    web.site(PRIMARY).add("/robots.txt", "", status=302, headers={"Location": internal})
    write_config(tmp_path, config_text(None, smtp, webhook))

    log = run_once(tmp_path, web)

    assert internal_requests(web, canary) == []
    assert [r.path for r in web.requests_for(PRIMARY)].count("/robots.txt") == 1
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert len(smtp.messages) == 1
    assert (
        f"refused request to {internal}: 127.0.0.1 is a loopback address, and the config "
        f"does not name 127.0.0.1:{canary.port} (redirected from http://{PRIMARY}/robots.txt)"
    ) in log
    assert "refused_internal_address: 1" in log  # counted in the outlet's errors


@pytest.mark.e2e
def test_third_party_feed_redirected_inside_the_network_is_not_followed(
    tmp_path: Path,
    web: MultiHostServer,
    canary: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    feeds = web.site("feeds.elsewhere.test")
    # an IP literal, and a name that resolves to a loopback address on this machine
    feeds.add("/a.xml", "", status=302, headers={"Location": f"http://127.0.0.1:{canary.port}/a"})
    feeds.add("/b.xml", "", status=301, headers={"Location": f"http://localhost:{canary.port}/b"})
    write_config(
        tmp_path,
        with_feeds(
            config_text(None, smtp, webhook),
            "/rss.xml",
            "http://feeds.elsewhere.test/a.xml",
            "http://feeds.elsewhere.test/b.xml",
        ),
    )

    log = run_once(tmp_path, web)

    assert internal_requests(web, canary) == []  # neither the feeds nor 127.0.0.1's robots.txt
    assert {r.path for r in web.requests_for("feeds.elsewhere.test")} >= {"/a.xml", "/b.xml"}
    assert len(webhook.wait_for(1)) == 1
    assert f"refused request to http://127.0.0.1:{canary.port}/a: 127.0.0.1 is a loopback" in log
    assert (f"refused request to http://localhost:{canary.port}/b: localhost resolves to ") in log
    assert "refused_internal_address: 2" in log


@pytest.mark.e2e
def test_redirect_to_the_outlets_own_host_on_another_port_is_not_followed(
    tmp_path: Path,
    web: MultiHostServer,
    canary: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    elsewhere = f"http://{PRIMARY}:{canary.port}/admin"
    web.site(PRIMARY).add("/rss.xml", "", status=302, headers={"Location": elsewhere})
    write_config(tmp_path, config_text(None, smtp, webhook))

    log = run_once(tmp_path, web)

    assert internal_requests(web, canary) == []
    assert not [r for r in web.requests if r.path == "/admin"]  # not even through the proxy
    assert len(webhook.wait_for(1)) == 1  # the homepage still leads to the article
    assert (f"refused request to {elsewhere}: port {canary.port} is not the http default") in log
    assert "refused_port: 1" in log


@pytest.mark.e2e
def test_an_internal_host_the_user_configured_is_crawled(
    tmp_path: Path,
    web: MultiHostServer,
    canary: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    # the article is listed only by a feed on an internal host:port the config names
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA, in_feed=False, on_homepage=False)
    canary.site("127.0.0.1").add(
        "/rss.xml",
        f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>internal</title><link>http://{PRIMARY}/</link>
<item><title>{PALMYRA.title}</title><link>http://{PRIMARY}{PALMYRA.path}</link>
<pubDate>{format_datetime(PALMYRA.published)}</pubDate></item></channel></rss>
""",
        content_type="application/rss+xml",
    )
    feed = f"http://127.0.0.1:{canary.port}/rss.xml"
    write_config(tmp_path, with_feeds(config_text(None, smtp, webhook), feed))

    log = run_once(tmp_path, web)

    assert "/rss.xml" in [r.path for r in canary.requests]
    [post] = webhook.wait_for(1)
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert "refused request" not in log


def test_which_addresses_are_internal() -> None:
    internal = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                "0.0.0.0", "224.0.0.1", "240.0.0.1", "100.64.0.1", "::1", "fe80::1", "fc00::1",
                "::ffff:127.0.0.1", "::"]  # fmt: skip
    for text in internal:
        assert address_problem(ipaddress.ip_address(text)), text
    for text in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"]:
        assert address_problem(ipaddress.ip_address(text)) is None, text
    assert address_problem(ipaddress.ip_address("169.254.169.254")) == "a link-local address"


def test_configured_targets_are_the_outlet_domains_and_absolute_locations() -> None:
    outlet = Outlet(
        domains=["127.0.0.1", "www.pressdesk.test"],
        feeds=["/rss.xml", "http://127.0.0.1:8080/feed"],
        sitemaps=["https://cdn.example.org/sitemap.xml"],
    )
    assert outlet_targets(outlet) == {
        ("127.0.0.1", 80),
        ("127.0.0.1", 443),
        ("www.pressdesk.test", 80),
        ("www.pressdesk.test", 443),
        ("127.0.0.1", 8080),
        ("cdn.example.org", 443),
    }


def test_literal_addresses_odd_ports_and_schemes_are_refused_without_a_config() -> None:
    middleware = EgressMiddleware(SimpleNamespace(spider=None, stats=None))  # type: ignore[arg-type]

    def refused(url: str) -> bool:
        try:
            asyncio.run(middleware.process_request(Request(url)))
        except IgnoreRequest:
            return True
        return False

    for url in ["http://10.0.0.1/", "https://[::1]/x", "http://169.254.169.254/latest/meta-data",
                "http://0.0.0.0:80/", "http://93.184.216.34:8080/", "ftp://93.184.216.34/"]:  # fmt: skip
        assert refused(url), url
    assert not refused("http://93.184.216.34/") and not refused("https://93.184.216.34:443/")
    assert not refused("data:text/plain,hello")
