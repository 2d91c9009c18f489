"""The page and the Atom feeds, as an analyst sees them: a real ``newswatch run`` whose alerts come
from real polls of the local multi-host server, read in Debian's headless chromium.

One service runs for the module (a few polls take a while); each test looks at one thing. What
the page shows is compared with what the store holds, read through the same functions
``newswatch status`` and ``newswatch alerts`` use.
"""

from __future__ import annotations

import base64
import os
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from newswatch.scheduler.alerts_view import collect_alerts
from newswatch.store import open_store
from tests.e2e import MIRROR, PALMYRA, PRIMARY, run_newswatch, write_config
from tests.support.browser import browser_missing, headless_chromium, screenshot
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver
from tests.test_service import free_port, running_service, wait_until

pytestmark = pytest.mark.e2e

SECOND, DARK = "www.second-outlet.test", "www.dark-outlet.test"
SMTP_PASSWORD = "smtp-pass-Xq7"
HOOK_TOKEN = "hook-path-token-9Zk"
HOOK_SECRET = "hook-signing-secret-4Rt"
PAGE_TOKEN = "page-token-Lm3"
TADMUR = FixtureArticle(
    path="/Detail/2026/11/27/tadmur-site.html",
    title="Tadmur site reopens to visitors",
    paragraphs=[
        "The archaeological site of Palmyra, Tadmur in Arabic, reopened on Friday after "
        "restorers finished the first phase of work on the colonnade and the theatre.",
        "Visitors from Homs and Damascus queued at the gates before dawn.",
    ],
)
WHEAT = FixtureArticle(
    path="/Detail/2026/11/27/wheat.html",
    title="Record wheat harvest in the north",
    paragraphs=[
        "The wheat harvest broke records this year, the agriculture ministry said, helped by "
        "late rains and lower fuel prices across the northern provinces.",
    ],
)


def page_config(smtp: SmtpSink, hook: WebhookReceiver, down: WebhookReceiver, listen: str) -> str:
    auth = f"\n          auth: {PAGE_TOKEN}" if not listen.startswith("127.") else ""
    return f"""
        max_age: 3d
        crawl:
          timeout: 5s
          mirror_cooldown: 10m
        outlets:
          pressdesk:
            domains: [{PRIMARY}, {MIRROR}]
            scheme: http
            feeds: [/rss.xml]
            articles: '^/Detail/\\d{{4}}/'
            every: 2s
          second:
            domains: [{SECOND}]
            scheme: http
            feeds: [/rss.xml]
            every: 2s
          dark:
            domains: [{DARK}]
            scheme: http
            feeds: [/rss.xml]
            every: 2s
        watches:
          palmyra:
            query: 'Palmyra OR Tadmur OR "تدمر"'
            notify: [analysts, siem]
          wheat:
            query: 'wheat harvest'
            outlets: [second]
            notify: [siem, pager]
        channels:
          analysts:
            type: email
            to: [analyst@example.org]
            from: newswatch@example.org
            smtp: smtp://newsdesk:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}?plaintext_auth=yes
          siem:
            type: webhook
            url: {hook.url}/{HOOK_TOKEN}
            secret: {HOOK_SECRET}
            format: json
          pager:
            type: webhook
            url: {down.url}
            format: json
        service:
          listen: {listen}{auth}
    """


SECRETS = (SMTP_PASSWORD, HOOK_TOKEN, HOOK_SECRET, PAGE_TOKEN)


@dataclass
class Running:
    base: str
    folder: Path
    hook: WebhookReceiver

    def get(
        self, path: str, headers: dict[str, str] | None = None, method: str = "GET"
    ) -> tuple[int, str, Any]:
        data = b"x=1" if method in ("POST", "PUT") else None
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers or {}, method=method
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers
        except OSError:  # not listening yet
            return 0, "", {}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """``newswatch run`` with three outlets: one that fails over to its mirror, one healthy, one
    unreachable; and three channels: delivered, dead-lettered (the mail server refuses the alert
    for good), pending (a webhook that answers 503)."""
    folder = tmp_path_factory.mktemp("page")
    with (
        MultiHostServer() as web,
        SmtpSink() as smtp,
        WebhookReceiver(path="/hook") as hook,
        WebhookReceiver(responses=[503] * 10_000) as down,
    ):
        pressdesk = OutletSite(web, [PRIMARY, MIRROR])
        pressdesk.add_article(PALMYRA)
        second = OutletSite(web, [SECOND])
        second.add_article(TADMUR)
        second.add_article(WHEAT)
        web.site(DARK).mode = "refuse"
        smtp.refuse_recipients = {"analyst@example.org": (550, "5.1.1 no such user")}
        port = free_port()
        write_config(folder, page_config(smtp, hook, down, f"127.0.0.1:{port}"))
        running = Running(f"http://127.0.0.1:{port}", folder, hook)
        with running_service(folder, web) as process:
            hook.wait_for(3, timeout=60)  # palmyra twice, wheat once
            web.site(PRIMARY).mode = "refuse"  # later polls fail over to the mirror
            log = folder / "service.log"
            wait_until(lambda: "pressdesk: polled in" in _after_refusal(log), 30, "a mirror poll")
            wait_until(lambda: _has_states(folder), 40, "a dead letter and a pending retry")
            yield running
            process.terminate()
            process.wait(timeout=40)


def _after_refusal(log: Path) -> str:
    text = log.read_text()
    return text.split(f"on {MIRROR}", 1)[-1] if f"on {MIRROR}" in text else ""


def _has_states(folder: Path) -> bool:
    config = run_newswatch("alerts", "--json", cwd=folder)
    return '"dead"' in config.stdout and '"next_attempt": "' in config.stdout


def store_rows(folder: Path, **filters: Any) -> list[Any]:
    from newswatch.config import load_config

    config = load_config(folder / "newswatch.yaml").config
    cwd = os.getcwd()
    os.chdir(folder)  # the embedded store lives in ./newswatch-state
    try:
        store = open_store(config.store, timedelta(days=30))
        try:
            return collect_alerts(config, store, limit=100, **filters)
        finally:
            store.close()
    finally:
        os.chdir(cwd)


needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")


@needs_browser
def test_the_overview_shows_outlets_watches_and_alerts_as_the_store_holds_them(
    service: Running,
) -> None:
    from selenium.webdriver.common.by import By

    rows = store_rows(service.folder)
    with headless_chromium() as browser:
        browser.get(service.base + "/")
        assert browser.title == "newswatch"
        outlets = {
            card.get_attribute("data-outlet"): card
            for card in browser.find_elements(By.CSS_SELECTOR, "section.outlet")
        }
        assert list(outlets) == ["pressdesk", "second", "dark"]
        state = {
            name: card.find_element(By.CSS_SELECTOR, ".state").text
            for name, card in outlets.items()
        }
        assert state == {"pressdesk": "on a mirror", "second": "ok", "dark": "unreachable"}
        assert outlets["pressdesk"].find_element(By.CSS_SELECTOR, ".live-domain").text == MIRROR
        domains = outlets["pressdesk"].find_elements(By.CSS_SELECTOR, "li.domain")
        assert [d.get_attribute("data-domain") for d in domains] == [PRIMARY, MIRROR]
        assert "down" in domains[0].text and "up" in domains[1].text and "live" in domains[1].text
        assert "next poll never" not in outlets["second"].text  # the scheduler's next tick
        strips = {
            name: card.find_element(By.CSS_SELECTOR, ".strip") for name, card in outlets.items()
        }
        assert int(strips["pressdesk"].get_attribute("data-ok")) >= 1
        assert int(strips["pressdesk"].get_attribute("data-mirror")) >= 1
        assert int(strips["dark"].get_attribute("data-unreachable")) >= 1
        assert strips["dark"].get_attribute("data-ok") == "0"
        assert strips["dark"].find_elements(By.CSS_SELECTOR, "svg rect.unreachable")

        watches = {
            card.get_attribute("data-watch"): card
            for card in browser.find_elements(By.CSS_SELECTOR, "section.watch")
        }
        assert list(watches) == ["palmyra", "wheat"]
        for name, card in watches.items():
            expected = [row for row in rows if row.watch == name]
            assert card.find_element(By.CSS_SELECTOR, ".total").text == str(len(expected))
            assert len(card.find_elements(By.CSS_SELECTOR, "svg rect.bar")) == 1  # all today
            titles = [a.text for a in card.find_elements(By.CSS_SELECTOR, ".latest a")]
            assert titles == [row.title for row in expected][:3]
        assert watches["palmyra"].find_element(By.CSS_SELECTOR, ".query").text == (
            'Palmyra OR Tadmur OR "تدمر"'
        )
        assert watches["wheat"].find_element(By.CSS_SELECTOR, ".channels").text == (
            "siem (webhook), pager (webhook)"
        )

        shown = browser.find_elements(By.CSS_SELECTOR, "article.alert")
        assert [a.get_attribute("data-id") for a in shown] == [row.id for row in rows][:10]
        if os.environ.get("NEWSWATCH_PAGE_SCREENSHOT"):
            screenshot(browser, Path(os.environ["NEWSWATCH_PAGE_SCREENSHOT"]))


@needs_browser
def test_the_alerts_view_marks_terms_shows_delivery_states_and_filters(service: Running) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    rows = {row.id: row for row in store_rows(service.folder)}
    with headless_chromium(390, 844, phone=True) as browser:
        browser.get(service.base + "/alerts")
        items = browser.find_elements(By.CSS_SELECTOR, "article.alert")
        assert [i.get_attribute("data-id") for i in items] == list(rows)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the phone: no sideways scrolling
        for item in items:
            row = rows[item.get_attribute("data-id")]
            link = item.find_element(By.CSS_SELECTOR, ".title a")
            assert link.text == row.title and link.get_attribute("href") == row.url
            marks = [m.text for m in item.find_elements(By.CSS_SELECTOR, ".snippet mark")]
            assert marks and all(
                m.casefold() in ("palmyra", "tadmur", "wheat", "harvest") for m in marks
            ), marks
            states = {
                s.get_attribute("data-channel"): s
                for s in item.find_elements(By.CSS_SELECTOR, ".channel-state")
            }
            assert {name: s.get_attribute("data-state") for name, s in states.items()} == {
                name: state.state for name, state in row.channels.items()
            }
            if "analysts" in states:  # refused for good: a dead letter at once
                assert "dead after 1 attempt: " in states["analysts"].text
                assert "5.1.1 no such user" in states["analysts"].text
            if "pager" in states:  # 503: retried later
                assert "next attempt 20" in states["pager"].text
                assert "503" in states["pager"].text
            if "siem" in states:
                assert states["siem"].get_attribute("data-state") == "delivered"

        # the filter: a form that works without JavaScript
        Select(browser.find_element(By.NAME, "outlet")).select_by_value("second")
        browser.find_element(By.CSS_SELECTOR, "form.filter button").click()
        wait_until(lambda: "outlet=second" in browser.current_url, 10, "the filtered page")
        shown = [
            (i.get_attribute("data-watch"), i.get_attribute("data-outlet"))
            for i in browser.find_elements(By.CSS_SELECTOR, "article.alert")
        ]
        assert sorted(shown) == [("palmyra", "second"), ("wheat", "second")]
        Select(browser.find_element(By.NAME, "watch")).select_by_value("palmyra")
        browser.find_element(By.CSS_SELECTOR, "form.filter button").click()
        wait_until(lambda: "watch=palmyra" in browser.current_url, 10, "the filtered page")
        [only] = browser.find_elements(By.CSS_SELECTOR, "article.alert")
        expected = store_rows(service.folder, watch="palmyra", outlet="second")
        assert only.get_attribute("data-id") == expected[0].id

        browser.get(service.base + "/alerts?watch=wheat&outlet=pressdesk")
        assert browser.find_element(By.CSS_SELECTOR, ".none").text == "no alerts match"


@needs_browser
def test_the_page_is_readable_in_dark_mode(service: Running) -> None:
    from selenium.webdriver.common.by import By

    with headless_chromium(dark=True) as browser:
        browser.get(service.base + "/")
        background = browser.execute_script(
            "return getComputedStyle(document.body).backgroundColor"
        )
        text = browser.execute_script("return getComputedStyle(document.body).color")
        assert background == "rgb(18, 18, 20)" and text == "rgb(232, 232, 234)"
        assert browser.find_elements(By.CSS_SELECTOR, "section.outlet")


def test_paging_through_alerts(service: Running) -> None:
    status, first, _ = service.get("/alerts?page=1")
    assert status == 200 and 'rel="next"' not in first  # three alerts fit one page
    status, beyond, _ = service.get("/alerts?page=2")
    assert status == 200 and "no alerts match" in beyond and 'rel="prev"' in beyond


def test_atom_feed_of_a_watch_is_valid_atom_with_its_alerts(service: Running) -> None:
    status, body, headers = service.get("/watches/palmyra.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    expected = store_rows(service.folder, watch="palmyra")
    assert [e.id for e in feed.entries] == [f"urn:newswatch:alert:{row.id}" for row in expected]
    assert [e.link for e in feed.entries] == [row.url for row in expected]
    assert [e.title for e in feed.entries] == [row.title for row in expected]
    # the term is marked in the entry's HTML (feedparser's sanitizer drops <mark>: read the XML)
    contents = [
        e.findtext(f"{ATOM}content") or "" for e in ET.fromstring(body).iter(f"{ATOM}entry")
    ]
    assert all("<mark>" in c for c in contents) and len(contents) == len(expected)
    assert_atom_10(body)
    assert service.get("/watches/nothing.atom")[0] == 404


ATOM = "{http://www.w3.org/2005/Atom}"


def assert_atom_10(text: str) -> None:
    """RFC 4287's rules a reader relies on: atom:feed with exactly one id, title and updated, an
    author (on the feed or every entry), a self link; each entry with exactly one id, title and
    updated, and either content or an alternate link; dates in RFC 3339."""
    root = ET.fromstring(text.encode())
    assert root.tag == f"{ATOM}feed"
    for element in [root, *root.findall(f"{ATOM}entry")]:
        for name in ("id", "title", "updated"):
            assert len(element.findall(f"{ATOM}{name}")) == 1, (element.tag, name)
        updated = element.findtext(f"{ATOM}updated") or ""
        assert len(updated) >= 20 and updated[10] == "T", updated
    assert root.findall(f"{ATOM}author/{ATOM}name")
    assert any(link.get("rel") == "self" for link in root.findall(f"{ATOM}link"))
    for entry in root.findall(f"{ATOM}entry"):
        assert entry.find(f"{ATOM}content") is not None or entry.find(f"{ATOM}link") is not None


def test_no_response_shows_a_secret(service: Running) -> None:
    paths = ["/", "/outlets", "/watches", "/alerts", "/alerts?outlet=pressdesk", "/alerts?page=2"]
    paths += ["/watches/palmyra.atom", "/watches/wheat.atom", "/metrics", "/healthz"]
    for path in paths:
        status, body, headers = service.get(path)
        assert status in (200, 503), path
        for secret in SECRETS:
            assert secret not in body, (path, secret)
            assert secret not in str(headers), (path, secret)
        if path not in ("/metrics", "/healthz"):
            assert "script" not in headers["Content-Security-Policy"]
    assert "newsdesk" not in service.get("/watches")[1]  # the SMTP user name is not shown either


def test_the_page_is_read_only(service: Running) -> None:
    for method in ("POST", "PUT", "DELETE"):
        for path in ("/alerts", "/watches/palmyra.atom"):
            assert service.get(path, method=method)[0] == 501, (method, path)
    assert len(store_rows(service.folder)) == 3  # nothing changed


def test_head_answers_the_page_and_the_feed_as_get_does_without_a_body(service: Running) -> None:
    auth = {"Authorization": f"Bearer {PAGE_TOKEN}"}
    for path in ("/", "/alerts", "/watches/palmyra.atom"):
        status, body, headers = service.get(path, auth, method="HEAD")
        got_status, got_body, got_headers = service.get(path, auth)
        assert (status, body) == (got_status, ""), path
        assert headers["Content-Type"] == got_headers["Content-Type"], path
        assert int(headers["Content-Length"]) == len(got_body.encode()), path
    assert service.get("/watches/nobody.atom", method="HEAD")[0] == 404  # as GET answers


def test_a_non_loopback_listen_without_auth_is_refused(tmp_path: Path) -> None:
    with SmtpSink() as smtp, WebhookReceiver() as hook, WebhookReceiver() as down:
        config = page_config(smtp, hook, down, f"0.0.0.0:{free_port()}")
        write_config(tmp_path, config.replace(f"\n          auth: {PAGE_TOKEN}", ""))
    for command in ("check", "run"):
        result = run_newswatch(command, cwd=tmp_path, timeout=60)
        assert result.code == 2, (command, result)
        assert "not a loopback address: set service.auth" in result.stderr


def test_a_non_loopback_listen_asks_for_the_token(tmp_path: Path) -> None:
    with (
        MultiHostServer() as web,
        SmtpSink() as smtp,
        WebhookReceiver() as hook,
        WebhookReceiver() as down,
    ):
        OutletSite(web, [SECOND]).add_article(WHEAT)
        port = free_port()
        write_config(tmp_path, page_config(smtp, hook, down, f"0.0.0.0:{port}"))
        running = Running(f"http://127.0.0.1:{port}", tmp_path, hook)
        with running_service(tmp_path, web) as process:
            wait_until(lambda: running.get("/livez")[0] in (200, 404), 30, "the server")
            hook.wait_for(1, timeout=30)
            for path in ("/", "/alerts", "/watches/wheat.atom", "/metrics"):
                status, body, headers = running.get(path)
                assert status == 401, path
                assert PAGE_TOKEN not in body
                assert headers["WWW-Authenticate"].startswith("Basic")
                wrong = running.get(path, {"Authorization": "Bearer not-the-token"})
                assert wrong[0] == 401, path
                assert running.get(path, {"Authorization": f"Bearer {PAGE_TOKEN}"})[0] == 200
            basic = base64.b64encode(f"analyst:{PAGE_TOKEN}".encode()).decode()
            status, body, _ = running.get("/alerts", {"Authorization": f"Basic {basic}"})
            assert status == 200 and "Record wheat harvest" in body
            assert running.get("/healthz")[0] in (200, 503)  # probes stay open
            if browser_missing() is None:
                from selenium.webdriver.common.by import By

                with headless_chromium(headers={"Authorization": f"Bearer {PAGE_TOKEN}"}) as b:
                    b.get(running.base + "/alerts")
                    titles = [e.text for e in b.find_elements(By.CSS_SELECTOR, ".title a")]
                    assert titles == [WHEAT.title]
            process.terminate()
            assert process.wait(timeout=40) == 0
