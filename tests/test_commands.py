"""The other commands and every kind of bad input, through the real ``newswatch`` command.

Expected failures give one clear line, the exit code the README gives, no traceback, and lose
nothing: an alert that could not be sent goes out on the next run, once.
"""

from __future__ import annotations

import os
import pty
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e import (
    MIRROR,
    OLD_PALMYRA,
    PALMYRA,
    PRIMARY,
    config_text,
    newswatch_command,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def outlet(web: MultiHostServer) -> OutletSite:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    site.add_article(OLD_PALMYRA)
    return site


@pytest.fixture
def workdir(tmp_path: Path, smtp: SmtpSink, webhook: WebhookReceiver) -> Path:
    """A config on the embedded store in a fresh folder (its state lands there too)."""
    write_config(tmp_path, config_text(None, smtp, webhook))
    return tmp_path


def assert_clean_failure(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def test_crawl_unknown_outlet(workdir: Path) -> None:
    result = run_newswatch("crawl", "nosuch", cwd=workdir)
    assert result.code == 2
    assert "unknown outlet 'nosuch'" in result.stderr and "pressdesk" in result.stderr
    assert_clean_failure(result.stderr)


def test_crawl_dry_run_prints_alerts_and_records_nothing(
    workdir: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    dry = run_newswatch("crawl", "pressdesk", "--dry-run", cwd=workdir, web=web)
    assert dry.code == 0, dry.stderr
    assert PALMYRA.title in dry.stdout and f"http://{PRIMARY}{PALMYRA.path}" in dry.stdout
    assert OLD_PALMYRA.title not in dry.stdout  # older than max_age
    assert smtp.messages == [] and webhook.posts == []

    real = run_newswatch("crawl", "pressdesk", cwd=workdir, web=web)
    assert real.code == 0, real.stderr
    assert len(smtp.wait_for(1)) == 1 and len(webhook.wait_for(1)) == 1


def test_test_alert_through_each_channel(
    workdir: Path, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    mail = run_newswatch("test-alert", "analysts", cwd=workdir)
    assert mail.code == 0, mail.stderr
    [message] = smtp.wait_for(1)
    assert message.message["Subject"].startswith("[newswatch] test-alert: ")

    hook = run_newswatch("test-alert", "siem", cwd=workdir)
    assert hook.code == 0, hook.stderr
    [post] = webhook.wait_for(1)
    assert post.headers["x-newswatch-id"] == post.json()["id"]

    unknown = run_newswatch("test-alert", "pager", cwd=workdir)
    assert unknown.code == 2 and "unknown channel 'pager'" in unknown.stderr


def test_test_alert_fails_with_exit_1_when_smtp_refuses(workdir: Path, smtp: SmtpSink) -> None:
    smtp.refuse_with = (554, "5.7.1 rejected for policy reasons")
    result = run_newswatch("test-alert", "analysts", cwd=workdir)
    assert result.code == 1
    assert "554" in result.stderr
    assert_clean_failure(result.stderr)


def test_smtp_refusing_and_webhook_failing_keep_the_alert_pending_until_next_run(
    workdir: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    smtp.refuse_with = (451, "4.3.0 try again later")
    webhook.responses = [500]
    first = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert first.code == 0, first.stderr
    assert "not delivered (attempt 1), retrying in" in first.stderr
    assert_clean_failure(first.stderr)
    assert smtp.messages == []
    [failed_post] = webhook.wait_for(1)
    assert failed_post.status == 500

    smtp.refuse_with = None
    second = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert second.code == 0, second.stderr
    [mail] = smtp.wait_for(1)
    posts = webhook.wait_for(2)
    assert posts[1].status == 200
    assert posts[0].headers["x-newswatch-id"] == posts[1].headers["x-newswatch-id"]
    assert mail.message["Message-ID"] == f"<{posts[1].json()['id']}@newswatch>"

    third = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert third.code == 0
    assert len(smtp.messages) == 1 and len(webhook.posts) == 2


def test_smtp_server_down_then_up_delivers_exactly_once(
    workdir: Path, web: MultiHostServer, outlet: OutletSite, smtp: SmtpSink
) -> None:
    smtp.stop()
    down = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert down.code == 0, down.stderr
    assert "SMTP" in down.stderr and "not delivered (attempt 1), retrying in" in down.stderr
    smtp.start()
    up = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert up.code == 0, up.stderr
    assert len(smtp.wait_for(1)) == 1
    again = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert again.code == 0 and len(smtp.messages) == 1


def test_feed_that_is_not_xml_is_reported_and_pages_still_work(
    workdir: Path, web: MultiHostServer, outlet: OutletSite, webhook: WebhookReceiver
) -> None:
    web.site(PRIMARY).add(
        "/rss.xml", "<html><body>Service unavailable, try later", content_type="text/html"
    )
    result = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert result.code == 0, result.stderr
    assert "is not a readable RSS/Atom feed" in result.stderr
    assert_clean_failure(result.stderr)
    [post] = webhook.wait_for(1)  # found through the homepage instead
    assert post.json()["article"]["url"] == f"http://{PRIMARY}{PALMYRA.path}"


def test_page_that_is_not_html_is_skipped_with_a_warning(
    workdir: Path, web: MultiHostServer, outlet: OutletSite, webhook: WebhookReceiver
) -> None:
    web.site(PRIMARY).add("/", b"\x89PNG\r\n\x1a\n\x00\x00binary", content_type="image/png")
    result = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert result.code == 0, result.stderr
    assert "is not HTML" in result.stderr
    assert_clean_failure(result.stderr)
    assert len(webhook.wait_for(1)) == 1  # the feed still led to the article


@pytest.mark.parametrize("primary_failure", ["refuse", 503, 403])
def test_failing_primary_falls_over_to_the_mirror(
    primary_failure: str | int,
    workdir: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    webhook: WebhookReceiver,
) -> None:
    web.site(PRIMARY).mode = primary_failure  # type: ignore[assignment]
    result = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert result.code == 0, result.stderr
    [post] = webhook.wait_for(1)
    article = post.json()["article"]
    assert article["url"] == f"http://{PRIMARY}{PALMYRA.path}"
    assert article["fetched_from"] == f"http://{MIRROR}{PALMYRA.path}"


def test_outlet_unreachable_on_every_domain_exits_1(
    workdir: Path, web: MultiHostServer, outlet: OutletSite
) -> None:
    web.site(PRIMARY).mode = "refuse"
    web.site(MIRROR).mode = 503
    result = run_newswatch("run", "--once", cwd=workdir, web=web)
    assert result.code == 1
    assert "pressdesk: unreachable on every domain" in result.stderr
    assert_clean_failure(result.stderr)
    status = run_newswatch("status", cwd=workdir)
    assert "pressdesk: UNREACHABLE, STALE (no success within 0:30:00)" in status.stdout


def test_a_crawl_that_cannot_start_is_a_clear_error_and_exit_1(
    tmp_path: Path, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    # A program that installed Twisted's default reactor before calling newswatch: Scrapy
    # refuses to crawl on it. Once this logged "Unhandled error in Deferred" and exited 0.
    write_config(tmp_path, config_text(None, smtp, webhook))
    script = (
        "import sys; from twisted.internet import epollreactor; epollreactor.install(); "
        "from newswatch.scheduler.cli import main; sys.exit(main(['run', '--once']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "newswatch: the crawl could not run: The installed reactor" in result.stderr
    assert "Unhandled error" not in result.stderr


def test_unreachable_redis_store_is_a_clear_error(
    tmp_path: Path, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    write_config(tmp_path, config_text("redis://127.0.0.1:9/0", smtp, webhook))
    result = run_newswatch("run", "--once", cwd=tmp_path)
    assert result.code == 1
    assert "cannot reach the Redis store" in result.stderr
    assert_clean_failure(result.stderr)


def test_run_once_shows_progress_on_a_terminal(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    OutletSite(web, ["www.second-outlet.test"]).add_article(PALMYRA)
    config = config_text(None, smtp, webhook).replace(
        "        watches:\n",
        "          second:\n            domains: [www.second-outlet.test]\n            scheme: http\n"
        "            feeds: [/rss.xml]\n        watches:\n",
    )
    write_config(tmp_path, config)
    leader, follower = pty.openpty()
    env = {**os.environ, **web.proxy_env(), "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    process = subprocess.Popen(
        [*newswatch_command(), "run", "--once"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    os.close(leader)
    text = output.decode(errors="replace")
    assert "progress: 1/2 outlets polled" in text and "progress: 2/2 outlets polled" in text


def test_output_cut_short_by_its_reader_is_no_error(tmp_path: Path) -> None:
    """`newswatch check | head -1` must not end in a BrokenPipeError traceback."""
    watches = "".join(  # more lines than a pipe holds, so the pipe breaks for certain
        f"  w{n}:\n    query: 'Palmyra{n} OR Tadmur{n}'\n    notify: [terminal]\n"
        for n in range(4000)
    )
    write_config(
        tmp_path,
        "outlets:\n  one:\n    domains: [www.example.org]\n    feeds: [/rss.xml]\n"
        f"channels:\n  terminal:\n    type: console\nwatches:\n{watches}",
    )
    done = subprocess.run(
        f"{shlex.join(newswatch_command())} check | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.endswith(": valid\n")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr
