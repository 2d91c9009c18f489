"""Quiet when all is well, loud when it is not: what ``newswatch`` prints at INFO, what JSON lines
carry, and what reaches Sentry when a primary domain is blocked (the everyday case).

The real command runs against the local multi-host server and a loopback Sentry receiver.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from newswatch.logs import setup_logging
from tests.e2e import MIRROR, PALMYRA, PRIMARY, config_text, run_newswatch, write_config
from tests.support.outlet_site import OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver
from tests.test_service import _envelope_items

pytestmark = pytest.mark.e2e

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _level(line: str) -> str | None:
    parts = line.split()
    return parts[1] if len(parts) > 1 and parts[1] in LEVELS else None


def test_a_blocked_primary_is_one_info_line_and_no_sentry_event(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    web.site(PRIMARY).mode = "refuse"  # robots.txt and every page of the primary fail
    with WebhookReceiver(path="/api/1/envelope/") as sentry:
        dsn = f"http://publickey@127.0.0.1:{sentry.port}/1"
        config = config_text(None, smtp, webhook).replace(
            "        watches:\n", f"        sentry:\n          dsn: {dsn}\n        watches:\n"
        )
        write_config(tmp_path, config)
        result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        assert result.code == 0, result.stderr
        webhook.wait_for(1)
        # the SDK flushes its queue before the process exits: what it sent is here now
        events = [
            item
            for post in sentry.posts
            for item in _envelope_items(post.body, post.headers.get("content-encoding", ""))
            if isinstance(item, dict) and item.get("level")
        ]
    lines = result.stderr.splitlines()
    assert [line for line in lines if _level(line) not in ("INFO", None)] == []
    [poll] = [line for line in lines if "pressdesk: polled in" in line]
    assert f"on {MIRROR} ({PRIMARY} failed: " in poll
    assert "Error downloading" not in result.stderr and "Gave up retrying" not in result.stderr
    assert "Dumping Scrapy stats" not in result.stderr
    assert events == [], [json.dumps(e)[:300] for e in events]

    # -v shows what was held back: the failover, Scrapy's own errors, as DEBUG
    fresh = tmp_path / "fresh"  # a new store: the primary is tried first again
    fresh.mkdir()
    write_config(fresh, config)
    verbose = run_newswatch("run", "--once", "-v", cwd=fresh, web=web)
    assert f"on {PRIMARY}, trying {MIRROR}" in verbose.stderr
    assert "DEBUG   Error downloading" in verbose.stderr


def test_json_lines_carry_the_structured_fields(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    web.site(PRIMARY).mode = 503
    write_config(tmp_path, config_text(None, smtp, webhook))
    result = run_newswatch("run", "--once", "--log-format", "json", cwd=tmp_path, web=web)
    assert result.code == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    [poll] = [e for e in entries if "polled in" in e["message"]]
    assert poll["outlet"] == "pressdesk" and poll["domain"] == MIRROR
    assert poll["articles"] == 1 and poll["alerts"] == 1 and poll["pages"] >= 1
    assert PRIMARY in poll["failed_domains"]
    delivered = [e for e in entries if "delivered alert" in e["message"]]
    assert {e["channel"] for e in delivered} == {"analysts", "siem"}
    assert all(e["alert"] for e in delivered)
    [summary] = [e for e in entries if e["message"].startswith("delivery:")]
    assert summary["sent"] == 2 and summary["failed"] == 0


def test_an_unreachable_outlet_is_one_error_line_tagged_with_its_outlet(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR])
    web.site(PRIMARY).mode = "refuse"
    web.site(MIRROR).mode = 503
    write_config(tmp_path, config_text(None, smtp, webhook))
    result = run_newswatch("run", "--once", "--log-format", "json", cwd=tmp_path, web=web)
    assert result.code == 1
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    loud = [e for e in entries if e["level"] in ("warning", "error")]
    assert [e["message"].split(" (")[0] for e in loud] == ["pressdesk: unreachable on every domain"]
    assert loud[0]["outlet"] == "pressdesk"
    assert set(loud[0]["failed_domains"]) == {PRIMARY, MIRROR}


@pytest.fixture
def root_logging() -> Iterator[None]:
    """setup_logging replaces the root handlers: put pytest's back, or later records from other
    tests' server threads go to this test's closed stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_scheduler_chatter_is_debug(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("text", verbose=False)
    logging.getLogger("apscheduler.executors.default").info('Running job "deliver"')
    logging.getLogger("scrapy.downloadermiddlewares.robotstxt").error(
        "Error downloading %(request)s: %(f_exception)s", {"request": "<GET x>", "f_exception": "y"}
    )
    logging.getLogger("newswatch.crawl").info("kept")
    err = capsys.readouterr().err
    assert "Running job" not in err and "Error downloading" not in err and "kept" in err
    setup_logging("text", verbose=True)
    logging.getLogger("apscheduler.executors.default").info('Running job "deliver"')
    assert "Running job" in capsys.readouterr().err
