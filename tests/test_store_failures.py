"""Store failures during a run, through the real ``newswatch`` command.

The store failing in the middle of a crawl (the disk fills, Redis refuses writes) is said once,
in one line with the reason, never with the article's text; ``run --once`` exits 1; and the next
run, with the store healthy again, delivers every alert exactly once: what was written before
the failure is kept whole (claim, alert and outbox entries are one transaction), what was not is
retried because its article was not marked seen.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from newswatch.article import Article
from newswatch.errors import StoreError
from newswatch.spiders.news import ArticleItem
from newswatch.store.embedded import EmbeddedStore
from newswatch.store.redis import _store_error
from tests.e2e import (
    PRIMARY,
    Result,
    config_text,
    newswatch_command,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.redis_server import RedisServer
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

# In every article's text and nowhere else: it must never reach the log.
TELLTALE = "The quartermaster counted seventeen crates of dried apricots at the citadel gate."

# Eight different reports (not copies of one another, which would be alerted once).
_WORDS = [
    "convoy",
    "desert",
    "archive",
    "museum",
    "colonnade",
    "survey",
    "militia",
    "ministry",
    "refugees",
    "winter",
    "harvest",
    "engineers",
    "bridge",
    "airport",
    "drought",
    "council",
    "market",
    "school",
    "hospital",
    "railway",
    "tribe",
    "oasis",
    "cameras",
    "satellite",
    "tunnel",
    "governor",
    "embassy",
    "monument",
    "theatre",
    "temple",
    "caravan",
    "dates",
    "salt",
]


def _report(n: int) -> FixtureArticle:
    words = _WORDS[n * 3 :] + _WORDS[: n * 3]
    paragraphs = [
        f"Palmyra report {n}: " + " ".join(words[i : i + 9]) + "." for i in range(0, 27, 9)
    ]
    return FixtureArticle(
        path=f"/Detail/2026/11/27/palmyra-{n}.html",
        title=f"Palmyra {words[0]} {words[1]} {n}",
        paragraphs=[*paragraphs, TELLTALE],
    )


ARTICLES = [_report(n) for n in range(8)]
URLS = {f"http://{PRIMARY}{article.path}" for article in ARTICLES}


@pytest.fixture
def site(web: MultiHostServer) -> OutletSite:
    outlet = OutletSite(web, [PRIMARY])
    for article in ARTICLES:
        outlet.add_article(article)
    return outlet


def run_limited(folder: Path, web: MultiHostServer, max_file_size: int) -> Result:
    """``run --once`` whose process cannot write any file past ``max_file_size`` bytes: the
    kernel refuses the write (EFBIG, SIGXFSZ ignored), as a full disk would."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_size, max_file_size))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    env = dict(os.environ, **web.proxy_env())
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    done = subprocess.run(
        [*newswatch_command(), "run", "--once"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=limit,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_posted_once_each(webhook: WebhookReceiver) -> None:
    posts = webhook.wait_for(len(URLS))
    counted = Counter(post.json()["article"]["url"] for post in posts)
    assert set(counted) == URLS and set(counted.values()) == {1}, counted


def assert_one_clear_failure(result: Result, reason: str) -> None:
    log = result.stderr
    assert result.code == 1, log
    assert TELLTALE not in log and "quartermaster" not in log, log
    assert "cannot rollback" not in log and "Traceback" not in log, log
    assert "Error processing" not in log, log
    failures = [line for line in log.splitlines() if reason in line]
    assert 1 <= len(failures) <= 4, log  # the poll's first failure and the run's verdict
    assert "newswatch: the store failed during the run, nothing delivered: " in log, log


@pytest.mark.e2e
def test_disk_filling_during_a_run_is_one_clear_line_and_the_next_run_delivers_once(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    site: OutletSite,
) -> None:
    write_config(tmp_path, config_text(None, smtp, webhook, domains=[PRIMARY]))
    created = run_newswatch("status", cwd=tmp_path)  # makes the store: its schema, no rows
    assert created.code == 0, created.stderr
    state = tmp_path / "newswatch-state" / "state.sqlite3"
    assert state.exists(), sorted(p.name for p in tmp_path.iterdir())
    # Writes go to the write-ahead log (a new file, as large as the run's writes); the shared
    # memory index takes 32 KiB. Room for the index and a few transactions, not for 8 articles.
    limit = max(state.stat().st_size, 32768) + 8 * 4120

    full = run_limited(tmp_path, web, limit)

    assert_one_clear_failure(full, "disk full")
    assert not webhook.posts  # nothing delivered by a run whose store failed

    healthy = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert healthy.code == 0, healthy.stderr
    assert_posted_once_each(webhook)
    again = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert again.code == 0, again.stderr
    assert len(webhook.posts) == len(URLS)


@pytest.mark.e2e
def test_redis_refusing_writes_is_one_clear_line_and_the_next_run_delivers_once(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    site: OutletSite,
) -> None:
    with RedisServer() as server:  # private: its memory limit cannot affect other tests
        client = redis.Redis.from_url(server.url)
        write_config(tmp_path, config_text(server.url, smtp, webhook, domains=[PRIMARY]))
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)
        try:
            refused = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        finally:
            client.config_set("maxmemory", 0)

        assert_one_clear_failure(refused, "Redis refused the write: OOM")
        assert not webhook.posts

        healthy = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        assert healthy.code == 0, healthy.stderr
        assert_posted_once_each(webhook)
        again = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        assert again.code == 0, again.stderr
        assert len(webhook.posts) == len(URLS)
        client.close()


def test_a_transaction_sqlite_already_rolled_back_reports_the_first_error(tmp_path: Path) -> None:
    store = EmbeddedStore.open(tmp_path, timedelta(days=1))
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
    with pytest.raises(StoreError) as raised, store._transaction():
        store.db.execute("INSERT INTO outlets VALUES ('a', '{}')")
        store.db.execute("ROLLBACK")  # as SQLite does itself on SQLITE_FULL
        raise full
    assert "cannot rollback" not in str(raised.value)
    assert str(raised.value).startswith("the embedded store failed: disk full")
    assert not store.db.in_transaction
    with store._transaction():  # the store is usable again
        store.db.execute("INSERT INTO outlets VALUES ('b', '{}')")
    assert store.outlet_status("b") == {} and store.outlet_status("a") is None
    store.close()


def test_a_failed_transaction_rolls_back_all_of_it(tmp_path: Path) -> None:
    store = EmbeddedStore.open(tmp_path, timedelta(days=1))
    alert = {"id": "a1", "title": "t"}
    with pytest.raises(StoreError), store._transaction():
        store.db.execute("INSERT INTO claims VALUES ('w', 'u', 'a1', 1e12)")
        store._put_alert(alert, 0)
        raise sqlite3.OperationalError("disk I/O error")
    assert not store.is_claimed("w", "u") and store.alert("a1") is None
    assert store.claim("w", "u", alert, ["siem"])  # claimed once, when it can be stored
    store.close()


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            redis.OutOfMemoryError(
                "Command # 1 (DEL k) of pipeline caused error: command not allowed when used "
                "memory > 'maxmemory'."
            ),
            "Redis refused the write: OOM command not allowed when used memory > 'maxmemory'.",
        ),
        (
            redis.ResponseError(
                "MISCONF Redis is configured to save RDB snapshots, but it is\n"
                "currently not able to persist on disk."
            ),
            "Redis refused the write: MISCONF Redis is configured to save RDB snapshots, but it "
            "is currently not able to persist on disk.",
        ),
        (
            redis.ReadOnlyError("You can't write against a read only replica."),
            "Redis refused the write: READONLY You can't write against a read only replica.",
        ),
        (
            redis.ResponseError("Error running script (call to f_1): @user_script:3: OOM no"),
            "Redis refused the write: OOM no",
        ),
        (
            redis.ConnectionError("Error 111 connecting to 127.0.0.1:9. Connection refused."),
            "Redis refused the connection: Error 111 connecting to 127.0.0.1:9. Connection "
            "refused.",
        ),
    ],
)
def test_redis_refusals_are_said_in_one_line(error: Exception, said: str) -> None:
    assert str(_store_error(error)) == said  # type: ignore[arg-type]


def test_an_article_item_is_shown_by_outlet_and_url_never_its_text() -> None:
    article = Article(
        outlet="pressdesk",
        url=f"http://{PRIMARY}/a.html",
        fetched_from=f"http://{PRIMARY}/a.html",
        title="Palmyra",
        text=TELLTALE * 100,
        published=None,
        language="en",
    )
    assert repr(ArticleItem(article, "pressdesk#1")) == (
        f"ArticleItem(pressdesk http://{PRIMARY}/a.html)"
    )
