"""``newswatch run`` as a service: schedule, reload, health, metrics, graceful stop, Sentry.

The real command runs as a subprocess against the local multi-host server, a real SMTP server,
a real webhook receiver and the embedded store; signals are real signals.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e import (
    MIRROR,
    PALMYRA,
    PRIMARY,
    config_text,
    newswatch_command,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

SECOND = "www.second-outlet.test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def service_config(
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    port: int,
    watches: str = "",
    store: str | None = None,
) -> str:
    text = config_text(store, smtp, webhook).replace(
        "articles: '^/Detail/\\d{4}/'", "articles: '^/Detail/\\d{4}/'\n            every: 2s"
    )
    text = text.replace(
        "        watches:\n",
        f"""          second:
            domains: [{SECOND}]
            scheme: http
            feeds: [/rss.xml]
            every: 2s
          hourly:
            domains: [www.cron-outlet.test]
            scheme: http
            feeds: [/rss.xml]
            cron: "0 * * * *"
        service:
          listen: 127.0.0.1:{port}
        watches:
{watches}""",
    )
    return text


@contextmanager
def running_service(folder: Path, web: MultiHostServer) -> Iterator[subprocess.Popen[bytes]]:
    """``newswatch run`` in ``folder``, its output in ``folder/service.log``; killed if the test
    leaves it running."""
    env = {
        **os.environ,
        **web.proxy_env(),
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    with (folder / "service.log").open("w") as log:
        process = subprocess.Popen(
            [*newswatch_command(), "run"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("store_kind", ["embedded", "redis"])
def test_service_polls_reloads_reports_health_and_stops_gracefully(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_kind: str,
    request: pytest.FixtureRequest,
) -> None:
    """The same on both stores: alone on Redis, the process holds the schedule and takes its own
    polls from the shared queue."""
    store = request.getfixturevalue("redis_clean_url") if store_kind == "redis" else None
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    second = OutletSite(web, [SECOND])
    second.publish()  # an empty feed: reachable from the first poll
    port = free_port()
    write_config(tmp_path, service_config(smtp, webhook, port, store=store))
    with running_service(tmp_path, web) as process:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(f"{base}/healthz")[0] == 200, 30, "/healthz")
        [post] = webhook.wait_for(1, timeout=30)
        assert post.json()["article"]["title"] == PALMYRA.title

        # several cycles of both outlets
        wait_until(
            lambda: (
                metric(http_get(f"{base}/metrics")[1], 'newswatch_polls_total{outlet="second"') >= 3
            ),
            30,
            "three polls of the second outlet",
        )
        ok_polls = 'newswatch_polls_total{outlet="pressdesk",result="ok"}'
        wait_until(
            lambda: metric(http_get(f"{base}/metrics")[1], ok_polls) >= 3,
            30,
            "three good polls of pressdesk",
        )
        status, metrics = http_get(f"{base}/metrics")
        assert status == 200
        sent = 'newswatch_deliveries_total{channel="siem",result="sent"}'
        # counted when the delivery run ends, a moment after the receiver got the post
        wait_until(lambda: metric(http_get(f"{base}/metrics")[1], sent) == 1, 15, "delivery count")
        assert "newswatch_outlet_last_success_timestamp_seconds" in metrics
        status, health = http_get(f"{base}/healthz")
        outlets = json.loads(health)["outlets"]
        assert status == 200 and outlets["second"]["ok"]
        assert outlets["hourly"]["next_poll"].endswith(("+00:00", "Z"))  # scheduled, not paused
        assert outlets["hourly"]["next_poll"][14:16] in ("00", "01")  # at the top of an hour

        # a new article is found by the next poll
        second.add_article(
            FixtureArticle(
                path="/Detail/2026/11/27/tadmur-site.html",
                title="Tadmur site reopens to visitors",
                paragraphs=[
                    "The archaeological site of Palmyra, Tadmur in Arabic, reopened on Friday."
                ],
            )
        )
        assert webhook.wait_for(2, timeout=30)[1].json()["outlet"] == "second"

        # SIGHUP with a broken config: refused, the service keeps running
        (tmp_path / "newswatch.yaml").write_text("outlets: [\n")
        process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: "config reload refused" in (tmp_path / "service.log").read_text(), 15, "refusal"
        )
        assert process.poll() is None and http_get(f"{base}/healthz")[0] == 200

        # SIGHUP with a new watch: it alerts
        write_config(
            tmp_path,
            service_config(
                smtp,
                webhook,
                port,
                watches="          harvest:\n            query: 'wheat harvest'\n            notify: [siem]\n",
                store=store,
            ),
        )
        process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: "config reloaded" in (tmp_path / "service.log").read_text(), 15, "reload"
        )
        second.add_article(
            FixtureArticle(
                path="/Detail/2026/11/27/wheat.html",
                title="Record wheat harvest in the north",
                paragraphs=["The wheat harvest broke records this year, the ministry said."],
            )
        )
        wait_until(
            lambda: any(p.json()["watch"] == "harvest" for p in webhook.posts), 30, "new watch"
        )

        # SIGTERM: in-flight work finishes, exit 0 within the grace period
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
        assert time.monotonic() - stopped_at < 35
    text = (tmp_path / "service.log").read_text()
    assert "newswatch service stopped" in text and "Traceback" not in text


def test_a_reload_during_a_slow_delivery_neither_waits_for_it_nor_stalls_the_crawl(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    OutletSite(web, [SECOND]).publish()
    write_config(tmp_path, service_config(smtp, webhook, free_port()))
    smtp.delay = 12.0  # the delivery run holds its lock this long, waiting on the mail server
    log = tmp_path / "service.log"
    with running_service(tmp_path, web) as process:
        webhook.wait_for(1, timeout=30)  # the alert is out on the fast channel, email is slow
        assert smtp.messages == []
        write_config(
            tmp_path,
            service_config(
                smtp,
                webhook,
                free_port(),
                watches="          harvest:\n            query: 'wheat harvest'\n"
                "            notify: [siem]\n",
            ),
        )
        polls_before = log.read_text().count("second: polled in")
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: "config reloaded" in log.read_text(), 8, "the reload")
        wait_until(lambda: log.read_text().count("second: polled in") > polls_before, 8, "a poll")
        # both while the mail server is still holding the delivery run
        assert smtp.messages == []
        smtp.wait_for(1, timeout=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
    assert "Traceback" not in log.read_text()


def test_sigterm_in_the_middle_of_a_poll_says_the_poll_was_cut_short(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    OutletSite(web, [SECOND]).publish()
    for domain in (PRIMARY, MIRROR):  # the poll waits on the outlet past the 30 s grace
        web.site(domain).delay = 60.0
    config = service_config(smtp, webhook, free_port()).replace("timeout: 5s", "timeout: 10s")
    write_config(tmp_path, config)
    log = tmp_path / "service.log"
    with running_service(tmp_path, web) as process:
        wait_until(lambda: any(r.host == PRIMARY for r in web.requests), 30, "the poll")
        process.send_signal(signal.SIGTERM)
        # the grace, then Scrapy's engine waits for the requests still in flight to time out
        assert process.wait(timeout=120) == 0
    text = log.read_text()
    assert "pressdesk: poll cut short after" in text
    assert "(the service is stopping)" in text
    assert "pressdesk: polled in" not in text  # the poll does not read as complete
    assert "Traceback" not in text


def _envelope_items(body: bytes, encoding: str) -> list[dict[str, object]]:
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "br":
        import brotli  # type: ignore[import-not-found]

        body = brotli.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    items = []
    for line in body.splitlines():
        try:
            items.append(json.loads(line))
        except ValueError:
            continue
    return items


def test_errors_reach_sentry_tagged_and_without_secrets(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR])
    web.site(PRIMARY).mode = "refuse"
    web.site(MIRROR).mode = 503
    with WebhookReceiver(path="/api/1/envelope/") as sentry:
        dsn = f"http://publickey@127.0.0.1:{sentry.port}/1"
        config = config_text(None, smtp, webhook).replace(
            "        watches:\n",
            f"        sentry:\n          dsn: {dsn}\n          environment: test\n        watches:\n",
        )
        write_config(tmp_path, config)
        result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        assert result.code == 1
        posts = sentry.wait_for(1, timeout=15)
    events = [
        item
        for post in posts
        for item in _envelope_items(post.body, post.headers.get("content-encoding", ""))
        if isinstance(item, dict) and item.get("level") == "error"
    ]
    unreachable = [e for e in events if "unreachable on every domain" in json.dumps(e)]
    assert unreachable, f"no 'unreachable' error event reached Sentry ({len(events)} errors did)"
    event = unreachable[0]
    assert event["tags"]["outlet"] == "pressdesk"  # type: ignore[index]
    assert event["environment"] == "test" and str(event["release"]).startswith("newswatch@")
    assert "unreachable on every domain" in json.dumps(event)
    raw = b"".join(p.body for p in posts)
    assert b"s3cret-for-tests" not in raw and webhook.url.encode() not in raw


def test_dead_letters_reach_sentry_tagged_with_their_channel(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    webhook.responses = [410]
    with WebhookReceiver(path="/api/1/envelope/") as sentry:
        dsn = f"http://publickey@127.0.0.1:{sentry.port}/1"
        config = config_text(None, smtp, webhook).replace(
            "        watches:\n", f"        sentry:\n          dsn: {dsn}\n        watches:\n"
        )
        write_config(tmp_path, config)
        assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
        posts = sentry.wait_for(1, timeout=15)
    events = [
        item
        for post in posts
        for item in _envelope_items(post.body, post.headers.get("content-encoding", ""))
        if isinstance(item, dict) and "dead-lettered" in json.dumps(item)
    ]
    assert events and events[0]["tags"]["channel"] == "siem"  # type: ignore[index]
