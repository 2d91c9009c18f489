"""Domain health: which domain a poll tries first, and how failed domains rest and return."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from newswatch.health import OutletStatus

DOMAINS = ["primary.test", "mirror1.test", "mirror2.test"]
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
REST = timedelta(minutes=10)


def test_new_outlet_starts_on_the_primary() -> None:
    assert OutletStatus().domain_order(DOMAINS, T0) == DOMAINS


def test_failed_domains_rest_and_the_live_mirror_goes_first() -> None:
    status = OutletStatus()
    status.record_crawl(
        {"mirror2.test"}, {"primary.test": "refused", "mirror1.test": "HTTP 403"}, REST, T0
    )
    status.live_domain = "mirror2.test"
    assert status.domain_order(DOMAINS, T0 + timedelta(minutes=1)) == [
        "mirror2.test",
        "primary.test",
        "mirror1.test",
    ]
    # rest over: the primary is probed first again
    assert status.domain_order(DOMAINS, T0 + REST + timedelta(seconds=1))[0] == "primary.test"


def test_rest_doubles_with_each_failed_crawl_up_to_six_hours() -> None:
    status = OutletStatus()
    for n in range(1, 12):
        status.record_crawl(set(), {"primary.test": "refused"}, REST, T0)
        expected = min(REST * 2 ** (n - 1), timedelta(hours=6))
        assert status.health("primary.test").cooldown_until == T0 + expected
    status.record_crawl({"primary.test"}, {}, REST, T0)
    assert status.health("primary.test").consecutive_failures == 0
    assert status.health("primary.test").state == "up"


def test_status_survives_json() -> None:
    status = OutletStatus(live_domain="mirror1.test", errors={"HTTP 503": 2}, last_crawl=T0)
    status.record_crawl({"mirror1.test"}, {"primary.test": "HTTP 503"}, REST, T0)
    again = OutletStatus.from_json(status.to_json())
    assert again == status
