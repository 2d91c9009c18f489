"""No secret is ever printed, through the real ``newswatch`` command.

One config holds every kind of secret: a Redis store with a password (a real ACL user on the
test Redis), an SMTP URL with user and password (the sink checks them), a webhook whose token
is its path, and a webhook secret. ``check``, config errors, ``run --once -v`` (text and JSON
logs, failing and succeeding deliveries), ``test-alert`` and ``status`` must show the servers
(so a user knows which one is meant: that is also what proves each line would have carried the
secret) and none of the secrets.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from newswatch.logs import _JsonFormatter
from newswatch.redact import RedactingFilter, Redactor, redact_url
from tests.e2e import MIRROR, PALMYRA, PRIMARY, SECRET, Result, config_text, run_newswatch
from tests.e2e import write_config as write_yaml
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

REDIS_USER, REDIS_PASSWORD = "nw-tests", "redis-pw-5a1f9"
SMTP_USER, SMTP_PASSWORD = "newswatch", "smtp-pw-77c3e"
TOKEN = "T0KEN-b8d24e"
TOKEN_PATH = f"/services/{TOKEN}/hook"
SECRETS = (REDIS_PASSWORD, SMTP_PASSWORD, TOKEN, TOKEN_PATH, SECRET)

TADMUR = FixtureArticle(
    path="/Detail/2026/11/27/tadmur.html",
    title="Museum staff return to Tadmur",
    paragraphs=["Staff of the museum in Tadmur returned this week to catalogue the collection."],
)


def assert_no_secret(result: Result) -> None:
    shown = result.stdout + result.stderr
    leaked = [secret for secret in SECRETS if secret in shown]
    assert not leaked, f"{leaked} printed:\n{shown}"
    assert "Traceback" not in shown, shown


@pytest.fixture
def store_with_password(redis_clean_url: str) -> Iterator[str]:
    """The test Redis, reached as an ACL user with a password: ``redis://user:pw@host:port/0``."""
    client = redis.Redis.from_url(redis_clean_url)
    client.acl_setuser(
        REDIS_USER,
        enabled=True,
        passwords=[f"+{REDIS_PASSWORD}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    netloc = urlsplit(redis_clean_url).netloc
    try:
        yield f"redis://{REDIS_USER}:{REDIS_PASSWORD}@{netloc}/0"
    finally:
        client.acl_deluser(REDIS_USER)
        client.close()


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink(credentials=(SMTP_USER, SMTP_PASSWORD)) as server:
        yield server


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(path=TOKEN_PATH) as receiver:
        yield receiver


def secret_config(store: str, sink: SmtpSink, hook: WebhookReceiver) -> str:
    # the sink offers no STARTTLS: this loopback relay is trusted explicitly (see test_delivery)
    return config_text(store, sink, hook).replace(
        f"smtp: {sink.url}",
        f"smtp: smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{sink.port}?plaintext_auth=yes",
    )


def write_config(folder: Path, text: str) -> Path:
    path = write_yaml(folder, text)
    for secret in (REDIS_PASSWORD, SMTP_PASSWORD, TOKEN_PATH):
        assert secret in path.read_text(), "the test config must hold every secret"
    return path


def test_check_shows_each_server_without_its_credentials_or_webhook_path(
    tmp_path: Path, store_with_password: str, sink: SmtpSink, hook: WebhookReceiver
) -> None:
    write_config(tmp_path, secret_config(store_with_password, sink, hook))
    result = run_newswatch("check", "-v", cwd=tmp_path)
    assert result.code == 0, result.stderr
    redis_host = urlsplit(store_with_password).netloc.rpartition("@")[2]
    assert f"store: redis://{REDIS_USER}:***@{redis_host}/0" in result.stdout
    assert (
        f"analysts: email smtp://{SMTP_USER}:***@127.0.0.1:{sink.port}?plaintext_auth=yes"
        in result.stdout
    )
    assert f"siem: webhook http://127.0.0.1:{hook.port}/***" in result.stdout
    assert_no_secret(result)


BROKEN = {
    # (what is replaced, by what, what the error shows instead of the value)
    "smtp scheme": ("smtp: smtp://", "smtp: smtpx://", f"'smtpx://{SMTP_USER}:***@127.0.0.1:"),
    "smtp without scheme": ("smtp: smtp://", "smtp: ", "'***@127.0.0.1:"),
    "webhook scheme": ("url: http://", "url: ftp://", "'ftp://127.0.0.1:{hook}/***'"),
    "store scheme": ("store: redis://", "store: mysql://", f"'mysql://{REDIS_USER}:***@127.0.0.1:"),
    "webhook format": ("format: json", "format: xml", "channels.siem.format: Input should be"),
    "key beside the secret": ("format: json", "format: json\n  tokn: x", "unknown key 'tokn'"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_config_errors_show_no_credentials_or_webhook_path(
    case: str, tmp_path: Path, store_with_password: str, sink: SmtpSink, hook: WebhookReceiver
) -> None:
    old, new, shown = BROKEN[case]
    text = secret_config(store_with_password, sink, hook)
    assert old in text
    write_config(tmp_path, text.replace(old, new.replace("\n", "\n" + " " * 10), 1))
    for command in (("check",), ("run", "--once", "-v"), ("status", "--log-format", "json")):
        result = run_newswatch(*command, cwd=tmp_path)
        assert result.code == 2, result.stderr
        assert "config refused: newswatch.yaml:" in result.stderr
        assert shown.format(hook=hook.port) in result.stderr
        assert_no_secret(result)


def test_store_errors_show_no_password(
    tmp_path: Path, store_with_password: str, sink: SmtpSink, hook: WebhookReceiver
) -> None:
    wrong = store_with_password.replace(REDIS_PASSWORD, "wrong-" + REDIS_PASSWORD)
    write_config(tmp_path, secret_config(wrong, sink, hook))
    refused = run_newswatch("status", "-v", cwd=tmp_path)
    assert refused.code == 1 and "cannot reach the Redis store" in refused.stderr
    assert_no_secret(refused)
    down = f"redis://{REDIS_USER}:{REDIS_PASSWORD}@127.0.0.1:9/0"  # nothing listens there
    write_config(tmp_path, secret_config(down, sink, hook))
    unreachable = run_newswatch("run", "--once", "-v", cwd=tmp_path)
    assert unreachable.code == 1 and "cannot reach the Redis store" in unreachable.stderr
    assert_no_secret(unreachable)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_verbose_runs_test_alert_and_status_show_servers_but_no_secret(
    log_format: str,
    tmp_path: Path,
    web: MultiHostServer,
    store_with_password: str,
    sink: SmtpSink,
    hook: WebhookReceiver,
) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    site.add_article(TADMUR)
    write_config(tmp_path, secret_config(store_with_password, sink, hook))
    logs = ("-v", "--log-format", log_format)
    webhook_shown = f"http://127.0.0.1:{hook.port}/***"

    # failing: the SMTP server is down, the webhook answers 500 twice
    sink.stop()
    hook.responses = [500, 500, 410]
    failing = run_newswatch("run", "--once", *logs, cwd=tmp_path, web=web)
    assert failing.code == 0, failing.stderr
    assert failing.stderr.count("retrying in") == 4  # two alerts, two channels
    assert f"SMTP 127.0.0.1:{sink.port} failed" in failing.stderr
    assert f"webhook {webhook_shown} answered HTTP 500" in failing.stderr
    assert_no_secret(failing)

    # succeeding: the mail goes out with the password; one post dead-letters (410), one arrives
    sink.start()
    succeeding = run_newswatch("run", "--once", *logs, cwd=tmp_path, web=web)
    assert succeeding.code == 0, succeeding.stderr
    assert len(sink.wait_for(2)) == 2 and sink.logins[0] == (SMTP_USER, SMTP_PASSWORD)
    assert [post.status for post in hook.wait_for(4)] == [500, 500, 410, 200]
    assert f"webhook {webhook_shown} answered HTTP 410" in succeeding.stderr
    assert_no_secret(succeeding)

    # no crawl here, so httpx's own request line (Scrapy quiets it) is shown by -v: no path
    hook.responses = [401]
    test_alert = run_newswatch("test-alert", "siem", *logs, cwd=tmp_path)
    assert test_alert.code == 1
    assert f"webhook {webhook_shown} answered HTTP 401" in test_alert.stderr
    assert f"HTTP Request: POST {webhook_shown}" in test_alert.stderr
    assert_no_secret(test_alert)
    if log_format == "json":
        lines = [line for line in test_alert.stderr.splitlines() if line.startswith("{")]
        entries = [json.loads(line) for line in lines]
        assert any(f"POST {webhook_shown}" in entry["message"] for entry in entries)
    delivered = run_newswatch("test-alert", "siem", *logs, cwd=tmp_path)
    assert delivered.code == 0 and f"HTTP Request: POST {webhook_shown}" in delivered.stderr
    assert_no_secret(delivered)

    status = run_newswatch("status", *logs, cwd=tmp_path)
    assert status.code == 0, status.stderr
    assert "siem (webhook): 0 pending, 1 dead-lettered" in status.stdout
    assert f"webhook {webhook_shown} answered HTTP 410" in status.stdout
    assert_no_secret(status)


def test_log_records_lose_secrets_in_message_arguments_and_tracebacks() -> None:
    """The filter works on the record, so the JSON formatter (and any other) prints no secret."""
    redactor = Redactor([SMTP_PASSWORD, SECRET], [r"https?://hooks\.example\.com(?::(?:80|443))?"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JsonFormatter())
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("newswatch.test-redaction")
    logger.propagate, logger.level = False, logging.DEBUG
    logger.addHandler(handler)
    try:
        logger.debug("posting to %s", f"https://hooks.example.com{TOKEN_PATH}?sig={SECRET}")
        try:
            raise ValueError(f"login {SMTP_USER}:{SMTP_PASSWORD} refused")
        except ValueError:
            logger.exception("send failed for %s", f"redis://:{REDIS_PASSWORD}@db:6379/0")
        moved = f"https://moved.example.net{TOKEN_PATH}"  # where a 307 may lead: anywhere
        request = ("HTTP Request: POST %s", (moved,))
        handler.handle(logging.LogRecord("httpx", logging.INFO, __file__, 1, *request, None))
    finally:
        logger.removeHandler(handler)
    printed = stream.getvalue()
    entries = [json.loads(line) for line in printed.splitlines()]
    assert entries[0]["message"] == "posting to https://hooks.example.com/***"
    assert entries[1]["message"] == "send failed for redis://:***@db:6379/0"
    assert f"login {SMTP_USER}:*** refused" in entries[1]["exception"]
    assert entries[2]["message"] == "HTTP Request: POST https://moved.example.net/***"
    assert not [secret for secret in SECRETS if secret in printed]


@pytest.mark.parametrize(
    ("url", "hide_path", "shown"),
    [
        ("redis://:pw-1234@host:6379/0", False, "redis://:***@host:6379/0"),
        ("smtp://user:pw-1234@host:587", False, "smtp://user:***@host:587"),
        ("smtps://user:p%40ss@host", False, "smtps://user:***@host"),
        ("rediss://host:6380/1?password=pw-1234&ssl_cert_reqs=none", False,
         "rediss://host:6380/1?password=***&ssl_cert_reqs=none"),
        ("https://hooks.example.com/T000/B000/XXXX", True, "https://hooks.example.com/***"),
        ("https://hooks.example.com:8443/x?token=1#f", True, "https://hooks.example.com:8443/***"),
        ("https://hooks.example.com/", True, "https://hooks.example.com/"),
        ("user:pw-1234@host:587", False, "***@host:587"),
        ("hooks.example.com/T000/B000", True, "hooks.example.com/***"),
        ("smtp://user:pw-1234@[::1", False, "***@[::1"),  # no URL: urlsplit refuses it
    ],
)  # fmt: skip
def test_redact_url(url: str, hide_path: bool, shown: str) -> None:
    assert redact_url(url, hide_path=hide_path) == shown


def test_environment_secrets_are_hidden_too(
    tmp_path: Path, store_with_password: str, sink: SmtpSink, hook: WebhookReceiver
) -> None:
    """``${VAR}`` values (secrets never live in the file) are hidden once substituted."""
    text = secret_config(store_with_password, sink, hook).replace(SMTP_PASSWORD, "${SMTP_PASSWORD}")
    write_yaml(tmp_path, text.replace("smtp: smtp://", "smtp: smtpx://"))
    os.environ["SMTP_PASSWORD"] = SMTP_PASSWORD
    try:
        result = run_newswatch("check", cwd=tmp_path)
    finally:
        del os.environ["SMTP_PASSWORD"]
    assert result.code == 2 and f"smtpx://{SMTP_USER}:***@127.0.0.1:{sink.port}" in result.stderr
    assert_no_secret(result)
