"""The schedule's lease, the outlet locks and the embedded store's one-process rule, on their own.

The three-process test (tests/test_workers.py) kills processes of this host, whose lease is taken
over at once (a dead pid is known dead). Here the holder is on "another host": only the lease's
time-to-live can tell, and the fencing token stops a holder that was paused past its lease.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from newswatch.errors import StoreError
from newswatch.store.lease import Lease
from newswatch.store.redis import RedisStore
from newswatch.store.single import hold_single_process
from newswatch.store.workers import OutletLocks, TickMarks, WorkerRegistry
from tests.e2e import newswatch_command, run_newswatch, write_config
from tests.support.web import MultiHostServer
from tests.workers_site import free_port


def test_a_lease_lapses_within_its_time_and_the_old_holder_is_fenced_off(
    redis_clean_url: str,
) -> None:
    client = redis.Redis.from_url(redis_clean_url)
    ttl_ms = 600
    first = Lease(client, "newswatch:schedule", "elsewhere:101", ttl_ms)
    second = Lease(client, "newswatch:schedule", "elsewhere:202", ttl_ms)
    marks = TickMarks(client, "newswatch:schedule")
    assert first.keep() and first.token == 1
    assert not second.keep()
    assert first.keep()  # renewed
    assert marks.mark("outlet", first.value, 60) == 1
    assert marks.mark("outlet", first.value, 60) == 0  # queued already: the tick is skipped
    marks.taken("outlet")
    # the first holder stops renewing (killed, or paused): the lease lapses within its time
    started = time.monotonic()
    while not second.keep():
        time.sleep(ttl_ms / 3000)
        assert time.monotonic() - started < 2 * ttl_ms / 1000
    assert time.monotonic() - started <= ttl_ms / 1000 + ttl_ms / 3000 + 0.1
    assert second.token == 2  # a new fencing token
    # the old holder wakes up: its ticks are refused, and its next renewal tells it
    assert marks.mark("outlet", first.value, 60) == -1
    assert not first.keep() and not first.held
    second.release()
    assert first.keep() and first.token == 3  # a clean stop hands the lease on at once


def test_an_outlet_is_locked_by_one_process_and_processes_are_listed(
    redis_clean_url: str,
) -> None:
    client = redis.Redis.from_url(redis_clean_url)
    mine = OutletLocks(client, "host:1", 500)
    theirs = OutletLocks(client, "host:2", 500)
    assert mine.take("presstv", "poll-1") and not theirs.take("presstv", "poll-2")
    assert theirs.renew(["presstv"]) == 0 and mine.renew(["presstv"]) == 1
    theirs.release("presstv")  # not theirs to release
    assert mine.holder("presstv") == ("host:1", "poll-1")
    mine.release("presstv")
    assert theirs.take("presstv", "poll-2")
    registry = WorkerRegistry(client, forget_after=60)
    registry.beat("host:1", time.time(), True, 2)
    registry.beat("host:2", time.time(), False, 0)
    registry.count_poll("host:2")
    found = {w.name: w for w in registry.workers()}
    assert found["host:1"].holds_schedule and not found["host:2"].holds_schedule
    assert found["host:2"].polls == 1 and found["host:1"].polling == 2
    registry.forget("host:1")
    assert [w.name for w in registry.workers()] == ["host:2"]


def test_the_embedded_store_refuses_a_second_process(tmp_path: Path) -> None:
    held = hold_single_process(tmp_path / "state")
    try:
        with pytest.raises(StoreError, match=r"in use by another `newswatch run` \(pid \d+\)"):
            hold_single_process(tmp_path / "state")
    finally:
        held.close()
    hold_single_process(tmp_path / "state").close()  # free again once the holder is gone


@pytest.mark.e2e
def test_a_second_newswatch_run_on_one_embedded_store_is_refused_with_a_clear_message(
    tmp_path: Path, web: MultiHostServer
) -> None:
    web.site("www.pressdesk.test").add("/rss.xml", "<rss><channel></channel></rss>")
    port = [free_port(), free_port()]
    config = f"""
        outlets:
          pressdesk:
            domains: [www.pressdesk.test]
            scheme: http
            feeds: [/rss.xml]
            every: 1h
        service:
          listen: 127.0.0.1:{port[0]}
    """
    write_config(tmp_path, config)
    first = subprocess.Popen(
        [*newswatch_command(), "run"],
        cwd=tmp_path,
        env={**os.environ, **web.proxy_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "newswatch-state" / "run.lock").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
        write_config(tmp_path, config.replace(str(port[0]), str(port[1])))
        second = run_newswatch("run", cwd=tmp_path, web=web, timeout=60)
        assert second.code == 1
        assert f"in use by another `newswatch run` (pid {first.pid})" in second.stderr
        assert "point them all at one Redis" in second.stderr
        assert first.poll() is None  # the first one runs on
    finally:
        first.terminate()
        first.wait(timeout=40)


def test_outbox_leases_of_a_silent_process_of_another_host_go_to_the_others_early(
    redis_clean_url: str,
) -> None:
    """A dead pid of this host is known dead; one of another host was only known by its leases
    going stale (5 minutes or more): its heartbeat in the list of processes tells sooner."""
    store = RedisStore.from_url(redis_clean_url, timedelta(days=1))
    url = "https://www.presstv.ir/Detail/2016/03/18/1.html"
    store.claim("palmyra", url, {"id": "a1", "watch": "palmyra", "article": {"url": url}}, ["mail"])
    assert [e.id for e in store.take_due("mail", "elsewhere:7", time.time(), 300)] == ["a1"]
    registry = WorkerRegistry(redis.Redis.from_url(redis_clean_url), 600, silent_after=1.0)
    registry.beat("elsewhere:7", time.time(), False, 0)
    assert store.take_due("mail", "here:1", time.time(), 300) == []  # alive: its lease holds
    time.sleep(1.2)  # no heartbeat for longer than it promised
    assert [e.id for e in store.take_due("mail", "here:1", time.time(), 300)] == ["a1"]
    store.close()
