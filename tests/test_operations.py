"""``newswatch run`` as orchestration and on-call see it: /livez and /healthz, HEAD, metrics,
and the notices told when an outlet goes dark and when it recovers, each once.

The real command runs against the local multi-host server (one outlet up, one refusing every
connection), a real webhook receiver and a real SMTP server; the notices go through the outbox.
"""

from __future__ import annotations

import signal
import time
import urllib.request
from pathlib import Path

import pytest

from newswatch import __version__
from tests.e2e import MIRROR, PALMYRA, PRIMARY, write_config
from tests.support.outlet_site import OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import ReceivedPost, WebhookReceiver
from tests.test_monitoring import exposed_names
from tests.test_service import free_port, http_get, metric, running_service, wait_until

pytestmark = pytest.mark.e2e

DARK = "www.dark-outlet.test"


def head(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, method="HEAD")
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def config(smtp: SmtpSink, webhook: WebhookReceiver, port: int) -> str:
    return f"""
        crawl:
          timeout: 3s
          dark_after: 2
        outlets:
          pressdesk:
            domains: [{PRIMARY}, {MIRROR}]
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
            query: 'Palmyra'
            notify: [siem]
        channels:
          siem:
            type: webhook
            url: {webhook.url}
          desk:
            type: email
            to: [desk@example.org]
            from: newswatch@example.org
            smtp: {smtp.url}
        service:
          listen: 127.0.0.1:{port}
        notices: [siem, desk]
    """


def notices(posts: list[ReceivedPost], kind: str) -> list[dict[str, object]]:
    bodies = [post.json() for post in posts]
    return [body for body in bodies if body.get("notice", {}).get("kind") == kind]


def test_health_metrics_and_dark_outlet_notices_once_each(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    dark_site = OutletSite(web, [DARK])
    dark_site.publish()
    web.site(DARK).mode = "refuse"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    write_config(tmp_path, config(smtp, webhook, port))
    log = tmp_path / "service.log"
    with running_service(tmp_path, web) as process:
        wait_until(lambda: http_get(f"{base}/livez")[0] == 200, 30, "/livez")
        wait_until(lambda: bool(notices(webhook.posts, "outlet_dark")), 30, "the dark notice")

        # live, not ready: orchestration keeps the process, people see which outlet is down
        assert http_get(f"{base}/livez")[0] == 200
        status, body = http_get(f"{base}/healthz")
        assert status == 503 and "dark: unreachable on every domain since" in body
        assert http_get(f"{base}/readyz")[0] == 503
        assert head(f"{base}/livez") == (200, b"")
        assert head(f"{base}/healthz") == (503, b"")
        assert head(f"{base}/metrics")[0] == 200

        text = http_get(f"{base}/metrics")[1]
        assert f'newswatch_build_info{{version="{__version__}"}} 1.0' in text
        assert "newswatch_poll_duration_seconds_bucket{" in text
        assert metric(text, 'newswatch_outlet_dark{outlet="dark"}') == 1
        assert metric(text, 'newswatch_outlet_dark{outlet="pressdesk"}') == 0
        assert metric(text, f'newswatch_domain_up{{domain="{PRIMARY}",outlet="pressdesk"}}') == 1
        assert MIRROR not in text  # never tried (the primary answers): no series, not "down"
        assert metric(text, f'newswatch_domain_up{{domain="{DARK}",outlet="dark"}}') == 0
        sampled = {line.split("{")[0].split(" ")[0] for line in text.splitlines()}
        assert {n for n in exposed_names() if "deliveries" not in n and "errors" not in n} <= (
            sampled | {"newswatch_crawl_errors_total"}
        )

        # more unreachable polls: no more notices
        polls = metric(text, 'newswatch_polls_total{outlet="dark"')
        wait_until(
            lambda: (
                metric(http_get(f"{base}/metrics")[1], 'newswatch_polls_total{outlet="dark"')
                >= polls + 3
            ),
            30,
            "three more polls of the dark outlet",
        )
        smtp.wait_for(1, timeout=15)
        time.sleep(6)  # a delivery run or two after the polls
        [dark] = notices(webhook.posts, "outlet_dark")
        assert dark["notice"]["outlet"] == "dark"  # type: ignore[index]
        [mail] = smtp.messages
        assert mail.subject == "[newswatch] outlet dark is unreachable on every domain"
        assert "unreachable on every domain for 2 polls in a row" in mail.text_body()

        # it answers again: one recovery notice, /healthz green
        web.site(DARK).mode = "up"
        wait_until(lambda: bool(notices(webhook.posts, "outlet_recovered")), 30, "recovery")
        wait_until(lambda: http_get(f"{base}/healthz")[0] == 200, 15, "/healthz 200")
        smtp.wait_for(2, timeout=15)
        time.sleep(8)  # several more good polls and delivery runs
        assert len(notices(webhook.posts, "outlet_recovered")) == 1
        assert len(notices(webhook.posts, "outlet_dark")) == 1
        subjects = [m.subject for m in smtp.messages]
        assert subjects == [
            "[newswatch] outlet dark is unreachable on every domain",
            "[newswatch] outlet dark is reachable again",
        ]
        assert metric(http_get(f"{base}/metrics")[1], 'newswatch_outlet_dark{outlet="dark"}') == 0

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert "Running job" not in text and "executed successfully" not in text
    assert "Warning" not in text  # nothing but newswatch's own lines at INFO
