"""Several ``newswatch run`` processes on one Redis: spread polls, schedule takeover, requeue.

Three real processes share a local site of 50 outlets polled every 3 seconds. What is checked
is what an operator relies on: every process polls; when the process holding the schedule is
killed (-9) another takes the schedule over within the lease and the ticks go on; every matching
article, published before or after the kill, arrives exactly once at the SMTP server and the
webhook receiver; a process killed in the middle of a poll leaves that very poll (same message)
to another process. The per-process counts are printed (``pytest -s``) for the record.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e import run_newswatch
from tests.support.outlet_site import OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver
from tests.workers_site import (
    build_site,
    free_port,
    matching_article,
    start_worker,
    workers_config,
)

pytestmark = pytest.mark.e2e

OUTLETS = 50
LEASE = 2.0  # seconds (workers.lease in the config)
SLOW = "www.slow-outlet.test"


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def kill(process: subprocess.Popen[bytes]) -> None:
    """kill -9, and reaped as its supervisor (systemd, docker) would: a zombie still looks alive."""
    process.send_signal(signal.SIGKILL)
    process.wait()


def pid_of(worker: str) -> int:
    return int(worker.rpartition(":")[2])


def poll_counts(client: redis.Redis) -> dict[str, int]:
    counts = {}
    for key in client.scan_iter("newswatch:worker:*"):
        name = key.removeprefix("newswatch:worker:")
        counts[name] = int(client.hget(key, "polls") or 0)
    return counts


def delivered(smtp: SmtpSink, webhook: WebhookReceiver, count: int, client: redis.Redis) -> None:
    """Every alert so far received and acknowledged: the outbox streams are empty (a server
    counts an alert before the sender has acknowledged it)."""
    wait_until(lambda: len(smtp.messages) >= count, 60, f"{count} alerts by email")
    wait_until(lambda: len(webhook.posts) >= count, 60, f"{count} alerts by webhook")
    wait_until(
        lambda: (
            client.xlen("newswatch:outbox:analysts") + client.xlen("newswatch:outbox:siem") == 0
        ),
        60,
        "an empty outbox",
    )


def holder(client: redis.Redis) -> str | None:
    value = client.get("newswatch:schedule")
    return value.rpartition(" ")[0] if value else None


def shown_by_status_healthz_and_metrics(folder: Path, ports: list[int], names: list[str]) -> None:
    """Each process by name, its last heartbeat and polls, and which one holds the schedule."""
    status = run_newswatch("status", cwd=folder)
    assert status.code == 0, status.stderr
    listed = status.stdout.splitlines()
    for name in names:
        line = next(line for line in listed if line.strip().startswith(f"{name}:"))
        assert "last heartbeat" in line and "polls done" in line
    assert status.stdout.count("holds the schedule") == 1
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    holders = set()
    for port in ports:
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
                health = json.load(answer)
        except urllib.error.HTTPError as error:  # 503 while an outlet is not polled yet
            health = json.load(error)
        assert sorted(w["name"] for w in health["workers"]) == sorted(names)
        assert all("last_heartbeat_s_ago" in w and "polls" in w for w in health["workers"])
        holders.add(health["schedule_holder"])
        with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        me = health["worker"]
        assert f'newswatch_worker_polls_total{{worker="{me}"}}' in metrics
        assert f'newswatch_schedule_holder{{worker="{me}"}}' in metrics
        assert "newswatch_poll_queue " in metrics
    assert len(holders) == 1 and None not in holders
    print(status.stdout.split("outlets:")[0].rstrip())


@pytest.fixture
def workers(tmp_path: Path, web: MultiHostServer) -> Iterator[dict[int, subprocess.Popen[bytes]]]:
    started: dict[int, subprocess.Popen[bytes]] = {}
    yield started
    for process in started.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started.values():
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_three_processes_share_polls_survive_kills_and_alert_each_article_once(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    redis_clean_url: str,
    workers: dict[int, subprocess.Popen[bytes]],
) -> None:
    sites = build_site(web, OUTLETS)
    slow = OutletSite(web, [SLOW])
    slow.add_article(matching_article(99, 0))
    slow_outlet = f"""  slow:
    domains: [{SLOW}]
    scheme: http
    feeds: [/rss.xml]
    articles: '^/Detail/'
    every: 8s
"""
    (tmp_path / "newswatch.yaml").write_text(
        workers_config(redis_clean_url, OUTLETS, "3s", smtp, webhook, extra_outlets=slow_outlet)
    )
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    by_pid: dict[int, int] = {}
    ports = [free_port() for _ in range(3)]
    for index in range(3):
        process = start_worker(tmp_path, web, index, ports[index])
        workers[index] = process
        by_pid[process.pid] = index

    def log(pid: int) -> str:
        return (tmp_path / f"worker-{by_pid[pid]}.log").read_text(errors="replace")

    expected = {site.articles[0].title for site in sites} | {slow.articles[0].title}

    # 1. the polls spread over all three processes
    wait_until(lambda: len(poll_counts(client)) == 3, 60, "three processes registered")
    wait_until(
        lambda: min(poll_counts(client).values()) >= 10, 60, "each process polled 10 outlets"
    )
    spread = poll_counts(client)
    print(f"\npolls per process before any kill: {spread}")
    assert all(count >= 10 for count in spread.values()), spread
    shown_by_status_healthz_and_metrics(tmp_path, ports, list(spread))

    # 2. kill -9 of the schedule holder: another one ticks within the lease. Delivery is
    # at-least-once: a kill between a server's acceptance and the outbox's ack sends that alert
    # again, with the same id. The kills fall between deliveries, so the servers' counts are exact.
    delivered(smtp, webhook, len(expected), client)
    first = holder(client)
    assert first is not None
    kill(workers[by_pid[pid_of(first)]])
    killed_at = time.monotonic()
    for number in range(0, OUTLETS, 5):  # published while nobody holds the schedule
        sites[number].add_article(matching_article(number, 1))
        expected.add(sites[number].articles[-1].title)
    wait_until(lambda: holder(client) not in (None, first), 3 * LEASE, "a new schedule holder")
    takeover = time.monotonic() - killed_at
    second = holder(client)
    print(f"schedule taken over by {second} {takeover:.2f}s after kill -9 of {first}")
    # the lease lapses at most LEASE after its last renewal; the others try every LEASE / 3
    assert takeover <= LEASE + LEASE / 3 + 0.5
    for number in range(2, OUTLETS, 5):  # published after the takeover
        sites[number].add_article(matching_article(number, 2))
        expected.add(sites[number].articles[-1].title)
    after = poll_counts(client)
    wait_until(
        lambda: sum(poll_counts(client).values()) >= sum(after.values()) + 2 * OUTLETS,
        30,
        "the ticks to go on after the takeover",
    )

    # 3. kill -9 of a process in the middle of a poll: that poll is done by another process
    delivered(smtp, webhook, len(expected), client)
    web.site(SLOW).delay = 3.0
    running: list[str] = []  # "<process> <poll id>" of the slow poll being done

    def slow_poll_running() -> bool:
        value = client.get("newswatch:polling:slow")  # the outlet's lock: who, which poll
        if value is None or holder(client) is None or value.startswith(f"{first} "):
            return False
        running.append(value)
        return True

    wait_until(slow_poll_running, 30, "a poll of the slow outlet, slowed down")
    poller, taken = running[-1].rsplit(" ", 1)
    kill(workers[by_pid[pid_of(poller)]])
    survivors = [pid for pid in by_pid if pid not in (pid_of(first), pid_of(poller))]
    print(f"killed {poller} while it polled the slow outlet (poll {taken})")

    def redone() -> bool:
        """The same message taken by another process after the visibility timeout, and the
        outlet polled there (by it, or by a tick's poll already running when it came back)."""
        return any(
            re.search(rf"slow: poll {taken} (taken again|\(queued)", log(pid))
            and re.search(rf"slow: poll {taken} [\s\S]*slow: polled in", log(pid))
            for pid in survivors
        )

    wait_until(redone, 30, f"poll {taken} of the slow outlet to be done by another process")
    web.site(SLOW).delay = 0

    # every matching article alerted exactly once, at the SMTP server and the webhook receiver
    delivered(smtp, webhook, len(expected), client)
    time.sleep(2 * LEASE)  # a duplicate would come now: redelivered polls, late deliveries
    subjects = Counter(mail.subject.split(": ", 1)[1] for mail in smtp.messages)
    posts = Counter(post.json()["article"]["title"] for post in webhook.posts)
    assert set(subjects) == expected and set(subjects.values()) == {1}, subjects
    assert set(posts) == expected and set(posts.values()) == {1}, posts
    ids = {post.headers["x-newswatch-id"] for post in webhook.posts}
    assert len(ids) == len(expected)  # one alert per article, whichever process found it
    final = poll_counts(client)
    print(f"polls per process at the end: {final}; {len(expected)} alerts, each once")

    # the dead are listed as silent until forgotten; a clean stop leaves the list and the lease
    status = run_newswatch("status", cwd=tmp_path).stdout
    for dead in (first, poller):
        assert "SILENT" in next(line for line in status.splitlines() if f"  {dead}:" in line)
    last = next(workers[by_pid[pid]] for pid in survivors)
    last.send_signal(signal.SIGTERM)
    assert last.wait(timeout=40) == 0
    assert holder(client) is None
    assert sorted(poll_counts(client)) == sorted([first, poller])
