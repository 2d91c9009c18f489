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
    assert not store.is_seen(URL)
    store.mark_seen(URL)
    assert store.is_seen(URL)


def test_seen_is_forgotten_after_retention(make_store) -> None:
    store = make_store(timedelta(seconds=1))
    store.mark_seen(URL)
    time.sleep(1.5)
    assert not store.is_seen(URL)


def test_a_pair_is_claimed_once_and_its_alert_queued_for_each_channel(make_store) -> None:
    store = make_store()
    assert store.claim("palmyra", URL, alert(), ["mail", "hook"])
    assert not store.claim("palmyra", URL, alert(), ["mail", "hook"])
    assert store.is_claimed("palmyra", URL)
    assert not store.is_claimed("other-watch", URL)
    assert [p.id for p in store.pending("mail")] == ["a1"]
    assert [p.payload for p in store.pending("hook")] == [alert()]


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
    assert len(stores[0].pending("mail")) == 1


def test_delivery_is_acknowledged_per_channel_and_failures_counted(make_store) -> None:
    store = make_store()
    store.claim("palmyra", URL, alert(), ["mail", "hook"])
    store.failed("a1", "mail", "SMTP 451")
    store.failed("a1", "mail", "SMTP 451")
    [pending] = store.pending("mail")
    assert pending.attempts == 2
    store.delivered("a1", "mail")
    assert store.pending("mail") == []
    assert [p.id for p in store.pending("hook")] == ["a1"]


def test_state_survives_reopening(make_store) -> None:
    first = make_store()
    first.mark_seen(URL)
    first.claim("palmyra", URL, alert(), ["mail"])
    first.close()
    second = make_store()
    assert second.is_seen(URL)
    assert not second.claim("palmyra", URL, alert(), ["mail"])
    assert [p.id for p in second.pending("mail")] == ["a1"]


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
    store.remember_fingerprint("palmyra:presstv", 2**63 + 5)
    store.remember_fingerprint("palmyra:presstv", 7)
    assert sorted(store.fingerprints("palmyra:presstv")) == [7, 2**63 + 5]
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
