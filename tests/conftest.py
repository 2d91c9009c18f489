"""Shared fixtures: loopback stand-ins for the outside world newswatch talks to.

Every external dependency (news sites, Redis, SMTP, webhooks) is replaced by a
real server on 127.0.0.1 so tests exercise real protocols without network access.
The harness classes live in ``tests/support``; this file only wires their lifetimes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import INSTALL_HINT, RedisServer, find_redis_server
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

CORPUS_SKIP_REASON = (
    "NEWSWATCH_CORPUS not set: the shared corpus of real pages is not in this checkout "
    "(set NEWSWATCH_CORPUS=/path/to/corpus to run corpus tests)"
)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a Redis for the whole session.

    ``NEWSWATCH_TEST_REDIS_URL`` wins (CI service containers, developers with a
    Redis elsewhere); otherwise a private ``redis-server`` is started so the
    developer's own data is never touched.  A missing Redis fails loudly rather
    than skipping, because silently skipping the store tests would hide regressions.
    """
    configured = os.environ.get("NEWSWATCH_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    if find_redis_server() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with RedisServer() as server:
        yield server.url


@pytest.fixture
def redis_clean_url(redis_url: str) -> Iterator[str]:
    """Same server as ``redis_url``, with ``FLUSHDB`` first so tests cannot leak keys."""
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()
    yield redis_url


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared corpus of real saved pages, which is too large to live in git."""
    raw = os.environ.get("NEWSWATCH_CORPUS")
    if not raw:
        pytest.skip(CORPUS_SKIP_REASON)
    path = Path(raw).expanduser()
    if not path.is_dir():
        pytest.skip(f"{CORPUS_SKIP_REASON}; {raw!r} is not a directory")
    return path


@pytest.fixture
def web() -> Iterator[MultiHostServer]:
    """A fresh multi-host proxy per test: point ``http_proxy`` at ``web.proxy_url``."""
    with MultiHostServer() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A fresh webhook receiver per test: configure ``webhook.url``."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A fresh SMTP sink per test: configure ``smtp.url``."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(params=["redis", "embedded"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Run the test on each store: a ``redis://`` URL (flushed), or None for the embedded one."""
    if request.param == "redis":
        return str(request.getfixturevalue("redis_clean_url"))
    return None
