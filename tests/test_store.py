"""The store's promises (SPEC §4), checked alike on Redis and on the embedded store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from newswatch.errors import StoreError
from newswatch.store import Store, open_store

URL = "https://www.presstv.ir/Detail/2016/03/18/1.html"


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
    assert store.seen_version(URL) is None
    store.mark_seen(URL)
    assert store.seen_version(URL) == ""


def test_seen_is_forgotten_after_retention(make_store) -> None:
    store = make_store(timedelta(seconds=1))
    store.mark_seen(URL)
    time.sleep(1.5)
    assert store.seen_version(URL) is None


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
    first.mark_seen(URL)
    first.claim("palmyra", URL, alert(), ["mail"])
    first.close()
    second = make_store()
    assert second.seen_version(URL) == ""
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


def test_seen_versions_and_recent_alerts(make_store) -> None:
    store = make_store()
    store.mark_seen(URL, "2026-11-27T10:00:00Z")
    assert store.seen_version(URL) == "2026-11-27T10:00:00Z"
    for n in range(3):
        store.claim("palmyra", f"{URL}?n={n}", alert(f"a{n}"), ["mail"])
    assert [a["id"] for a in store.recent_alerts(2)] == ["a2", "a1"]
    assert store.pending_count("mail") == (3, 0)
