"""The store's promises, checked alike on Redis and on the embedded store."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from newswatch.errors import StoreError
from newswatch.store import POLL_HISTORY, POLL_HISTORY_LIMIT, Store, open_store
from newswatch.store.consumers import is_abandoned, outbox_consumer
from newswatch.store.redis import SWEEP_ONE_IN, RedisStore
from newswatch.store.seen import url_digest

URL = "https://www.presstv.ir/Detail/2016/03/18/1.html"
OUTLET = "presstv"


def alert(alert_id: str = "a1") -> dict[str, object]:
    return {"id": alert_id, "watch": "palmyra", "article": {"url": URL}}


@pytest.fixture(params=["redis", "embedded"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    opened: list[Store] = []

    def make(retention: timedelta = timedelta(days=30)) -> Store:
        url = request.getfixturevalue("redis_clean_url") if request.param == "redis" else None
        store = open_store(url, retention, tmp_path / "state")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_seen_is_remembered(make_store) -> None:
    store = make_store()
    assert store.seen_version(OUTLET, URL) is None
    store.mark_seen(OUTLET, URL)
    assert store.seen_version(OUTLET, URL) == ""
    assert store.seen_version("other-outlet", URL) is None  # remembered per outlet
    assert store.seen_version(OUTLET, URL + "?page=2") is None


def test_versions_round_trip_and_the_newest_one_is_kept(make_store) -> None:
    store = make_store()
    versions = ["", "2026-11-27T10:00:00Z", "1969-07-20T20:17:40Z", "9999-12-31T23:59:59Z"]
    for n, version in enumerate(versions):
        store.mark_seen(OUTLET, f"{URL}?v={n}", version)
    assert [store.seen_version(OUTLET, f"{URL}?v={n}") for n in range(4)] == versions
    store.mark_seen(OUTLET, URL, "2026-11-27T10:00:00Z")
    store.mark_seen(OUTLET, URL, "2026-11-28T08:30:00Z")  # edited since: fetched again
    assert store.seen_version(OUTLET, URL) == "2026-11-28T08:30:00Z"


def test_many_urls_are_looked_up_at_once_as_each_alone(make_store) -> None:
    store = make_store()
    versions = ["", "2026-11-27T10:00:00Z", None, "2026-11-28T08:30:00Z", None]
    urls = [f"{URL}?n={n}" for n in range(len(versions))]
    for url, version in zip(urls, versions, strict=True):
        if version is not None:
            store.mark_seen(OUTLET, url, version)
    assert store.seen_versions(OUTLET, urls) == versions
    assert store.seen_versions(OUTLET, urls) == [store.seen_version(OUTLET, u) for u in urls]
    assert store.seen_versions("other-outlet", urls) == [None] * len(urls)
    assert store.seen_versions(OUTLET, []) == []


def test_many_articles_are_marked_at_once_as_each_alone(make_store) -> None:
    store = make_store()
    marks = [(OUTLET, f"{URL}?n={n}", "2026-11-27T10:00:00Z" if n % 2 else "") for n in range(7)]
    marks.append(("other-outlet", URL, ""))
    store.mark_all_seen(marks)
    store.mark_all_seen([])
    assert [store.seen_version(o, u) for o, u, _ in marks] == [v for _, _, v in marks]
    with pytest.raises(ValueError):  # nothing written when one of them is not a version
        store.mark_all_seen([(OUTLET, URL + "?bad", ""), (OUTLET, URL, "yesterday")])
    assert store.seen_version(OUTLET, URL + "?bad") is None


def test_a_version_version_of_never_writes_is_refused(make_store) -> None:
    with pytest.raises(ValueError, match="not an article version"):
        make_store().mark_seen(OUTLET, URL, "yesterday")


def test_hundreds_of_one_outlets_articles_are_each_remembered(make_store) -> None:
    """Past 128 articles the Redis layout splits nodes; no article may get lost doing it."""
    store = make_store()
    urls = [
        f"https://www.presstv.ir/Detail/2026/11/{n % 28 + 1}/{n}/story.html" for n in range(800)
    ]
    for n, url in enumerate(urls):
        store.mark_seen(OUTLET, url, f"2026-11-27T10:{n % 60:02d}:00Z" if n % 2 else "")
    for n, url in enumerate(urls):
        assert store.seen_version(OUTLET, url) == (
            f"2026-11-27T10:{n % 60:02d}:00Z" if n % 2 else ""
        )
    assert store.seen_version(OUTLET, urls[0] + "?later") is None


def test_concurrent_writers_of_one_outlet_lose_no_article(make_store) -> None:
    stores = [make_store() for _ in range(4)]  # separate connections, as separate workers have
    barrier = threading.Barrier(len(stores))

    def remember(store: Store, worker: int) -> None:
        barrier.wait()
        for n in range(150):
            store.mark_seen(OUTLET, f"{URL}?worker={worker}&n={n}")

    threads = [threading.Thread(target=remember, args=(s, w)) for w, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = [
        (w, n)
        for w in range(len(stores))
        for n in range(150)
        if stores[0].seen_version(OUTLET, f"{URL}?worker={w}&n={n}") is None
    ]
    assert missing == []


def test_seen_is_forgotten_after_retention(make_store) -> None:
    store = make_store(timedelta(seconds=1))
    store.mark_seen(OUTLET, URL)
    time.sleep(1.5)
    assert store.seen_version(OUTLET, URL) is None


def test_a_pair_is_claimed_once_and_its_alert_queued_for_each_channel(make_store) -> None:
    store = make_store()
    assert store.claim("palmyra", URL, alert(), ["mail", "hook"])
    assert not store.claim("palmyra", URL, alert(), ["mail", "hook"])
    assert store.is_claimed("palmyra", URL)
    assert not store.is_claimed("other-watch", URL)
    assert [e.id for e in store.take_due("mail", "w1", time.time(), 300)] == ["a1"]
    assert [e.payload for e in store.take_due("hook", "w1", time.time(), 300)] == [alert()]


def test_concurrent_claims_of_one_pair_succeed_exactly_once(make_store) -> None:
    stores = [make_store() for _ in range(8)]  # separate connections, as separate workers have
    results: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def claim(store: Store) -> None:
        barrier.wait()
        results.append(store.claim("palmyra", URL, alert(), ["mail"]))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(stores[0].take_due("mail", "w1", time.time(), 300)) == 1


def test_outbox_acks_per_channel_and_schedules_retries(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert(), ["mail", "hook"])
    now = time.time()
    [entry] = store.take_due("mail", "w1", now, 300)
    store.retry_later(entry, now + 60, "SMTP 451", now)
    assert store.take_due("mail", "w1", now + 30, 300) == []  # waiting out its backoff
    [again] = store.take_due("mail", "w1", now + 30, 300, ignore_schedule=True)
    assert again.attempts == 1 and again.first_failure == pytest.approx(now)
    [due] = store.take_due("mail", "w1", now + 61, 300)
    assert store.pending_count("mail") == (1, 1)
    store.ack(due)
    assert store.take_due("mail", "w1", now + 62, 300) == []
    assert store.pending_count("mail") == (0, 0)
    assert [e.id for e in store.take_due("hook", "w1", now, 300)] == ["a1"]


def test_unacknowledged_entries_return_to_their_consumer_at_once_and_to_others_when_stale(
    make_store,
) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert(), ["mail"])
    now = time.time()
    assert [e.id for e in store.take_due("mail", "crashed", now, 300)] == ["a1"]
    # the same consumer (restarted after a crash) gets it again at once
    assert [e.id for e in store.take_due("mail", "crashed", time.time(), 300)] == ["a1"]
    # another consumer only once it has been idle for stale_after
    assert store.take_due("mail", "other", time.time(), 300) == []
    time.sleep(1.2)
    assert [e.id for e in store.take_due("mail", "other", time.time(), 1.0)] == ["a1"]


def test_a_dead_process_leases_go_at_once_and_a_live_one_keeps_its_own(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert("a1"), ["mail"])
    store.claim("palmyra", URL + "?2", alert("a2"), ["mail"])
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}"
    now = time.time()
    assert {e.id for e in store.take_due("mail", dead, now, 300)} == {"a1", "a2"}
    # a live process (this one) is not robbed: its lease holds until stale
    live = outbox_consumer()
    assert is_abandoned(dead) and not is_abandoned(live)
    assert {e.id for e in store.take_due("mail", live, now, 300)} == {"a1", "a2"}
    assert store.take_due("mail", f"{socket.gethostname()}:{os.getpid() + 10**7}", now, 300) == []
    assert store.take_due("mail", "other-host:1", now, 300) == []


def test_two_consumers_taking_at_once_never_share_an_entry(make_store) -> None:
    store = make_store()
    for n in range(40):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), ["mail"])
    other = make_store()
    taken: dict[str, list[str]] = {}

    def take(name: str, target: Store) -> None:
        taken[name] = [e.id for e in target.take_due("mail", name, time.time(), 300, True)]

    threads = [
        threading.Thread(target=take, args=(f"host-{n}:1", s)) for n, s in enumerate([store, other])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    both = taken["host-0:1"] + taken["host-1:1"]
    assert sorted(both) == sorted(f"a{n}" for n in range(40))  # each entry exactly once


def test_dead_letters_leave_the_outbox_and_are_listed(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert(), ["hook"])
    now = time.time()
    [entry] = store.take_due("hook", "w1", now, 300)
    store.dead_letter(entry, "webhook answered HTTP 410", now)
    assert store.take_due("hook", "w1", now, 300, ignore_schedule=True) == []
    [letter] = store.dead_letters("hook")
    assert (letter.id, letter.error, letter.attempts) == ("a1", "webhook answered HTTP 410", 1)
    assert letter.payload == alert()


def test_digest_buckets_collect_then_close_into_one_outbox_entry(make_store) -> None:
    store = make_store()
    due = time.time() + 3600
    for n in range(3):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), ["mail"], digest_due=due)
    assert store.take_due("mail", "w1", time.time(), 300, ignore_schedule=True) == []
    assert store.due_digests(time.time()) == []
    assert store.due_digests(due + 1) == [("palmyra", pytest.approx(due, abs=1))]
    [(watch, bucket)] = store.due_digests(due + 1)
    assert [a["id"] for a in store.digest_alerts(watch, bucket)] == ["a0", "a1", "a2"]
    digest = {"id": "d1", "watch": "palmyra", "alerts": store.digest_alerts(watch, bucket)}
    store.close_digest(watch, bucket, digest, ["mail"])
    store.close_digest(watch, bucket, digest, ["mail"])  # closing twice queues it once
    assert store.due_digests(due + 1) == []
    [entry] = store.take_due("mail", "w1", time.time(), 300)
    assert entry.id == "d1" and len(entry.payload["alerts"]) == 3


def test_state_survives_reopening(make_store) -> None:
    first = make_store()
    first.mark_seen(OUTLET, URL)
    first.claim("palmyra", URL, alert(), ["mail"])
    first.close()
    second = make_store()
    assert second.seen_version(OUTLET, URL) == ""
    assert not second.claim("palmyra", URL, alert(), ["mail"])
    assert [e.id for e in second.take_due("mail", "w1", time.time(), 300)] == ["a1"]


def test_unreachable_redis_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot reach the Redis store"):
        open_store("redis://127.0.0.1:9/0", timedelta(days=1))


def test_unusable_state_folder_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(StoreError, match="cannot open the embedded store"):
        open_store(None, timedelta(days=1), blocker)


def test_fingerprints_are_kept_per_scope_for_retention(make_store) -> None:
    store = make_store(timedelta(seconds=2))
    store.remember_fingerprint("palmyra:presstv", "00ff" * 128)
    store.remember_fingerprint("palmyra:presstv", "a1b2" * 128)
    assert sorted(store.fingerprints("palmyra:presstv")) == ["00ff" * 128, "a1b2" * 128]
    assert store.fingerprints("palmyra:other") == []
    time.sleep(2.5)
    assert store.fingerprints("palmyra:presstv") == []


def test_validators_and_outlet_status_round_trip(make_store) -> None:
    store = make_store()
    assert store.validators("o /rss.xml") == (None, None)
    store.save_validators("o /rss.xml", '"abc"', "Fri, 27 Nov 2026 10:00:00 GMT")
    assert store.validators("o /rss.xml") == ('"abc"', "Fri, 27 Nov 2026 10:00:00 GMT")
    store.save_validators("o /rss.xml", None, None)
    assert store.validators("o /rss.xml") == (None, None)
    assert store.outlet_status("o") is None
    store.save_outlet_status("o", {"live_domain": "b.example"})
    assert store.outlet_status("o") == {"live_domain": "b.example"}


def test_poll_history_is_kept_per_outlet_oldest_first_and_bounded(make_store) -> None:
    store = make_store()
    now = time.time()
    store.record_poll("o", now - POLL_HISTORY.total_seconds() - 60, "ok")  # too old: dropped
    store.record_poll("o", now - 120, "mirror")
    store.record_poll("o", now - 60, "unreachable")
    store.record_poll("other", now - 30, "ok")
    assert store.poll_history("o", 0) == [(now - 120, "mirror"), (now - 60, "unreachable")]
    assert store.poll_history("o", now - 90) == [(now - 60, "unreachable")]
    assert store.poll_history("never", 0) == []
    for n in range(POLL_HISTORY_LIMIT + 5):
        store.record_poll("busy", now - 10_000 + n, "ok")
    history = store.poll_history("busy", 0)
    assert len(history) == POLL_HISTORY_LIMIT  # the newest are kept
    assert history[-1][0] == now - 10_000 + POLL_HISTORY_LIMIT + 4


def test_seen_versions_and_recent_alerts(make_store) -> None:
    store = make_store()
    store.mark_seen(OUTLET, URL, "2026-11-27T10:00:00Z")
    assert store.seen_version(OUTLET, URL) == "2026-11-27T10:00:00Z"
    for n in range(3):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), ["mail"])
    assert [a["id"] for a in store.recent_alerts(2)] == ["a2", "a1"]
    assert store.pending_count("mail") == (3, 0)


# --- listing, resending and discarding (newswatch alerts / resend / discard) --------------------


def _dead(store: Store, channel: str, alert_id: str, error: str) -> None:
    """Take the channel's entries and dead-letter the one named, as a permanent refusal does."""
    now = time.time()
    for entry in store.take_due(channel, "w1", now, 300, ignore_schedule=True):
        if entry.id == alert_id:
            store.dead_letter(entry, error, now)


def test_alerts_since_lists_every_retained_alert_newest_first_beyond_the_recent_100(
    make_store,
) -> None:
    store = make_store()
    before = time.time() - 1
    for n in range(105):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), ["mail"])
    listed = store.alerts_since(before, 1000)
    assert len(listed) == 105
    assert {a["id"] for a in listed} == {f"a{n}" for n in range(105)}
    assert [a["id"] for a in listed[:2]] == ["a104", "a103"]
    assert [a["id"] for a in store.alerts_since(before, 3)] == [a["id"] for a in listed[:3]]
    assert store.alerts_since(time.time() + 60, 1000) == []
    assert store.alert("a7") == alert("a7")
    assert store.alert("nosuch") is None


def test_a_closed_digest_is_listed_as_an_alert(make_store) -> None:
    store = make_store()
    due = time.time() - 1
    store.claim("palmyra", URL, alert("a1"), ["mail"], digest_due=due)
    digest = {"id": "d1", "watch": "palmyra", "alerts": store.digest_alerts("palmyra", due)}
    store.close_digest("palmyra", due, digest, ["mail"])
    assert {a["id"] for a in store.alerts_since(due - 60, 10)} == {"a1", "d1"}


def test_pending_entries_show_their_retry_state(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert("a1"), ["mail"])
    store.claim("palmyra", URL + "?2", alert("a2"), ["mail"])
    now = time.time()
    first = store.take_due("mail", "w1", now, 300)[0]
    store.retry_later(first, now + 60, "SMTP 451 try later", now)
    entries = {e.id: e for e in store.pending_entries("mail")}
    assert set(entries) == {"a1", "a2"}
    failed, fresh = entries[first.id], entries[({"a1", "a2"} - {first.id}).pop()]
    assert (failed.attempts, failed.last_error) == (1, "SMTP 451 try later")
    assert failed.next_attempt == pytest.approx(now + 60)
    assert (fresh.attempts, fresh.next_attempt, fresh.last_error) == (0, None, None)
    assert store.pending_entries("hook") == []


def test_all_dead_letters_of_a_channel_are_listed_when_asked(make_store) -> None:
    store = make_store()
    for n in range(25):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), ["hook"])
        _dead(store, "hook", f"a{n}", "HTTP 410")
    assert len(store.dead_letters("hook")) == 20  # the default, as status shows
    assert len(store.dead_letters("hook", None)) == 25


def test_requeue_puts_a_dead_letter_back_as_new_with_the_same_id(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert("a1"), ["mail", "hook"])
    now = time.time()
    [entry] = store.take_due("hook", "w1", now, 300)
    store.retry_later(entry, now + 60, "HTTP 500", now)
    [entry] = store.take_due("hook", "w1", now, 300, ignore_schedule=True)
    store.dead_letter(entry, "HTTP 410", now)
    assert store.requeue("a1", "hook")
    assert store.dead_letters("hook") == []
    [again] = store.take_due("hook", "w1", time.time(), 300)  # due at once: no backoff left
    assert (again.id, again.attempts, again.first_failure) == ("a1", 0, None)
    assert again.payload == alert("a1")
    [pending] = store.pending_entries("hook")
    assert (pending.attempts, pending.last_error) == (0, None)
    # requeueing an entry that is still pending resets it and never doubles it
    store.retry_later(again, time.time() + 3600, "HTTP 500", time.time())
    assert store.requeue("a1", "hook")
    assert [e.id for e in store.take_due("hook", "w1", time.time(), 300)] == ["a1"]
    assert len(store.pending_entries("hook")) == 1
    assert [e.id for e in store.take_due("mail", "w1", time.time(), 300)] == ["a1"]


def test_requeue_of_a_partly_refused_email_goes_to_the_refused_recipients_only(
    make_store,
) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert("a1"), ["mail"])
    now = time.time()
    [entry] = store.take_due("mail", "w1", now, 300)
    store.dead_letter(replace(entry, recipients=("b@example.org",)), "550 no such user", now)
    assert store.requeue("a1", "mail")
    [again] = store.take_due("mail", "w1", time.time(), 300)
    assert (again.recipients, again.attempts, again.first_failure) == (("b@example.org",), 0, None)
    store.ack(again)
    store.claim("palmyra", URL + "?2", alert("a2"), ["mail"])
    [whole] = store.take_due("mail", "w1", time.time(), 300)
    store.dead_letter(whole, "554 refused", time.time())
    assert store.requeue("a2", "mail")
    assert store.take_due("mail", "w1", time.time(), 300)[0].recipients == ()


def test_requeue_of_an_expired_alert_changes_nothing(make_store) -> None:
    store = make_store(retention=timedelta(seconds=1))
    store.claim("palmyra", URL, alert("a1"), ["hook"])
    _dead(store, "hook", "a1", "HTTP 410")
    time.sleep(2.2)
    assert store.alert("a1") is None
    assert not store.requeue("a1", "hook")
    [letter] = store.dead_letters("hook")
    assert letter.id == "a1" and letter.payload is None
    assert store.pending_entries("hook") == []


def test_outbox_channels_and_discarding_a_channel(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert("a1"), ["mail", "gone"])
    store.claim("palmyra", URL + "?2", alert("a2"), ["gone"])
    _dead(store, "gone", "a2", "HTTP 410")
    store.claim("palmyra", URL + "?3", alert("a3"), ["hook"])
    [entry] = store.take_due("hook", "w1", time.time(), 300)
    store.ack(entry)  # a channel whose outbox was emptied has nothing left to report
    assert store.outbox_channels() == ["gone", "mail"]
    assert store.discard_channel("gone") == (1, 1)
    assert store.outbox_channels() == ["mail"]
    assert store.pending_entries("gone") == [] and store.dead_letters("gone") == []
    assert store.discard_channel("gone") == (0, 0)
    # the channel can come back and be used as before
    store.claim("palmyra", URL + "?4", alert("a4"), ["gone"])
    assert [e.id for e in store.take_due("gone", "w1", time.time(), 300)] == ["a4"]


def test_open_digests_are_listed_and_discarded_per_watch(make_store) -> None:
    store = make_store()
    due = float(int(time.time()) + 3600)
    for n in range(3):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), [], digest_due=due)
    store.claim("harvest", URL, alert("h1"), [], digest_due=due + 3600)
    found = store.open_digests()
    assert [(d.watch, d.alerts) for d in found] == [("palmyra", 3), ("harvest", 1)]
    assert found[0].due == pytest.approx(due)
    assert store.discard_digests("palmyra") == 3
    assert [d.watch for d in store.open_digests()] == ["harvest"]
    assert store.due_digests(due + 7200) == [("harvest", pytest.approx(due + 3600))]
    assert store.discard_digests("palmyra") == 0


# --- the compact layouts themselves ------------------------------------------------------------


def _seen_keys(client: redis.Redis) -> dict[str, str]:
    return {key: client.type(key) for key in client.scan_iter(match="newswatch:seen*")}


def test_redis_keeps_every_node_a_listpack_under_80_bytes_an_article(redis_clean_url: str) -> None:
    store = open_store(redis_clean_url, timedelta(days=30))
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    try:
        for n in range(3000):
            store.mark_seen(OUTLET, f"https://www.presstv.ir/Detail/2026/11/27/{n}/a-story.html")
        keys = _seen_keys(client)
        hashes = [key for key, kind in keys.items() if kind == "hash"]
        markers = [key for key, kind in keys.items() if kind == "string"]
        assert set(keys.values()) == {"hash", "string"} and len(hashes) == len(markers) + 1
        assert {client.object("encoding", key) for key in hashes} == {"listpack"}
        assert max(client.hlen(key) for key in hashes) <= 128
        assert sum(client.hlen(key) for key in hashes) == 3000
        assert all(client.get(key) == "" for key in markers)
        assert all(0 < client.pttl(key) <= 30 * 86400 * 1000 for key in keys)
        used = sum(client.memory_usage(key) or 0 for key in keys)
        assert used / 3000 <= 80
    finally:
        client.close()
        store.close()


def test_redis_nodes_split_as_deep_as_needed(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    store = RedisStore(client, timedelta(days=1), node_articles=4)
    try:
        for n in range(400):
            store.mark_seen(OUTLET, f"{URL}?n={n}", "2026-11-27T10:00:00Z")
        assert all(store.seen_version(OUTLET, f"{URL}?n={n}") for n in range(400))
        hashes = [key for key, kind in _seen_keys(client).items() if kind == "hash"]
        assert max(client.hlen(key) for key in hashes) <= 4
        assert max(len(key.rpartition(":")[2]) for key in hashes) >= 7  # 400 / 4 needs 2**7
    finally:
        store.close()


def _urls(count: int, sweeping: bool) -> list[str]:
    """URLs whose write does (or does not) sweep its node of articles past retention."""
    found = (f"{URL}?n={n}" for n in range(10_000))
    return [u for u in found if (url_digest(u)[-1] % SWEEP_ONE_IN == 0) == sweeping][:count]


def test_redis_sweeps_forgotten_articles_out_of_a_full_node_instead_of_splitting_it(
    redis_clean_url: str,
) -> None:
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    store = RedisStore(client, timedelta(seconds=1), node_articles=16)
    try:
        *old, new = _urls(17, sweeping=False)
        for url in old:
            store.mark_seen(OUTLET, url)
        time.sleep(1.2)
        store.mark_seen(OUTLET, new)
        assert _seen_keys(client) == {f"newswatch:seen:{OUTLET}:": "hash"}
        assert client.hlen(f"newswatch:seen:{OUTLET}:") == 1
        time.sleep(1.2)
        assert _seen_keys(client) == {}  # a node nobody writes to expires whole
    finally:
        store.close()


def test_redis_sweeps_a_node_on_a_sample_of_writes(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    store = RedisStore(client, timedelta(seconds=2))
    root = f"newswatch:seen:{OUTLET}:"
    try:
        *old, keeper, unsampled = _urls(12, sweeping=False)
        for url in old:
            store.mark_seen(OUTLET, url)
        time.sleep(1.2)
        store.mark_seen(OUTLET, keeper)  # keeps the node alive past the old ones' retention
        time.sleep(1.2)
        store.mark_seen(OUTLET, unsampled)
        assert client.hlen(root) == 12  # the old ones are still in memory, but no longer seen
        assert [store.seen_version(OUTLET, url) for url in old] == [None] * 10
        store.mark_seen(OUTLET, _urls(1, sweeping=True)[0])
        assert client.hlen(root) == 3
        assert store.seen_version(OUTLET, keeper) == ""
    finally:
        store.close()


def test_redis_takes_its_node_size_from_the_server(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    configured = client.config_get("hash-max-listpack-entries")["hash-max-listpack-entries"]
    try:
        client.config_set("hash-max-listpack-entries", 64)
        store = RedisStore.from_url(redis_clean_url, timedelta(days=1))
        assert store.node_articles == 64
        store.close()
        client.config_set("hash-max-listpack-entries", 4096)  # more saves little, scans longer
        store = RedisStore.from_url(redis_clean_url, timedelta(days=1))
        assert store.node_articles == 128
        store.close()
    finally:
        client.config_set("hash-max-listpack-entries", configured)
        client.close()


def test_redis_still_knows_articles_seen_in_the_previous_layout(redis_clean_url: str) -> None:
    client = redis.Redis.from_url(redis_clean_url, decode_responses=True)
    client.set(f"newswatch:seen:{URL}", "2026-11-27T10:00:00Z", ex=3600)  # one string per URL
    store = open_store(redis_clean_url, timedelta(days=30))
    try:
        assert store.seen_version(OUTLET, URL) == "2026-11-27T10:00:00Z"
        store.mark_seen(OUTLET, URL, "2026-11-28T08:30:00Z")
        assert store.seen_version(OUTLET, URL) == "2026-11-28T08:30:00Z"
    finally:
        client.close()
        store.close()


def test_redis_lists_alerts_stored_before_its_alert_index_existed(redis_clean_url: str) -> None:
    store = open_store(redis_clean_url, timedelta(days=30))
    try:
        old = {**alert("old"), "detected_at": "2026-11-27T10:00:00Z"}
        store.claim("palmyra", URL, old, ["mail"])
        store.client.delete("newswatch:alerts")  # as a store written by the version before
        store.claim("palmyra", URL + "?2", alert("new"), ["mail"])
        assert [a["id"] for a in store.alerts_since(0, 10)] == ["new", "old"]
        cutoff = datetime(2026, 11, 28, tzinfo=UTC).timestamp()
        assert [a["id"] for a in store.alerts_since(cutoff, 10)] == ["new"]
        assert [a["id"] for a in store.alerts_since(0, 1)] == ["new"]
    finally:
        store.close()


def test_embedded_still_knows_articles_seen_in_the_previous_layout(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    old = sqlite3.connect(folder / "state.sqlite3")
    old.execute("CREATE TABLE seen (url TEXT PRIMARY KEY, expires REAL NOT NULL, version TEXT)")
    old.execute(
        "INSERT INTO seen VALUES (?, ?, ?)", (URL, time.time() + 3600, "2026-11-27T10:00:00Z")
    )
    old.execute("INSERT INTO seen VALUES (?, ?, ?)", (URL + "?old", time.time() - 1, ""))
    old.commit()
    old.close()
    store = open_store(None, timedelta(days=30), folder)
    assert store.seen_version(OUTLET, URL) == "2026-11-27T10:00:00Z"
    assert store.seen_version(OUTLET, URL + "?old") is None
    store.close()
    old = sqlite3.connect(folder / "state.sqlite3")  # its rows expire: they go, then the table
    old.execute("UPDATE seen SET expires = 0")
    old.commit()
    old.close()
    store = open_store(None, timedelta(days=30), folder)
    assert store.seen_version(OUTLET, URL) is None
    store.close()
    old = sqlite3.connect(folder / "state.sqlite3")
    assert old.execute("SELECT name FROM sqlite_master WHERE name = 'seen'").fetchall() == []
    old.close()
