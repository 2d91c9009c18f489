"""Notices: one per event, through the outbox, on both stores; the dark / recovered states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from newswatch.alerts.notices import Notices, outlet_dark, outlet_recovered, sample_notice
from newswatch.alerts.render import Renderer
from newswatch.alerts.webhook import webhook_body
from newswatch.config import load_config
from newswatch.health import OutletStatus
from newswatch.scheduler import alerts_view
from newswatch.scheduler.resend import resend_ids
from newswatch.scheduler.status import render_status
from newswatch.store import open_store

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_an_outlet_goes_dark_after_n_unreachable_polls_and_recovers_once() -> None:
    status = OutletStatus()
    events = [status.record_reachability(False, 3, T0 + timedelta(minutes=i)) for i in range(5)]
    assert events == [None, None, "dark", None, None]
    assert status.dark_since == T0 + timedelta(minutes=2)
    assert status.record_reachability(True, 3, T0) == "recovered"
    assert status.record_reachability(True, 3, T0) is None
    assert status.dark_since is None and status.unreachable_polls == 0
    again = OutletStatus.from_json({**status.to_json(), "dark_since": T0.isoformat()})
    assert again.dark_since == T0  # survives a restart


def test_each_event_is_queued_once_on_either_store(store_url: str | None, tmp_path: Path) -> None:
    store = open_store(store_url, timedelta(days=1), tmp_path / "state")
    try:
        notices = Notices(store, ["ops"])
        status = OutletStatus(unreachable_polls=3, last_success=T0)
        status.health("a.example").last_error = "HTTP 403"
        first = outlet_dark("presstv", ["a.example"], status)
        assert notices.send(first)
        status.unreachable_polls = 4  # seen again by a later poll, after a restart: same event
        assert not notices.send(outlet_dark("presstv", ["a.example"], status))
        recovered = outlet_recovered("presstv", T0 + timedelta(hours=1), "a.example")
        assert recovered["id"] != first["id"] and notices.send(recovered)
        taken = store.take_due("ops", "test-consumer", now=10**10, stale_after=60)
        assert [entry.payload["notice"]["kind"] for entry in taken] == [
            "outlet_dark",
            "outlet_recovered",
        ]
        assert not Notices(store, []).send(first)  # nobody listens: nothing queued
    finally:
        store.close()


def test_a_notice_renders_for_every_channel_kind() -> None:
    status = OutletStatus(unreachable_polls=3)
    notice = outlet_dark("presstv", ["a.example", "b.example"], status)
    renderer = Renderer()
    assert renderer.subject(notice) == "[newswatch] outlet presstv is unreachable on every domain"
    assert "a.example: no answer" in renderer.text(notice)
    assert "<h2" in renderer.html(notice)
    assert b'"kind":"outlet_dark"' in webhook_body(notice)
    for template in ("notice_slack.json", "notice_discord.json"):
        assert "presstv" in renderer.render(template, notice)


def test_status_and_alerts_show_a_notice_as_one(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        "outlets:\n  presstv: {domains: [a.example], feeds: [/rss]}\n"
        "channels:\n  ops: {type: console}\nnotices: [ops]\n"
    )
    config = load_config(tmp_path / "c.yaml").config
    store = open_store(None, timedelta(days=1), tmp_path / "state")
    try:
        Notices(store, ["ops"]).send(sample_notice())
        rows = alerts_view.collect_alerts(
            config, store, watch=None, channel=None, since=None, dead_only=False, limit=10
        )
        text = alerts_view.render_text(rows, config)
        assert "(notice) [presstv] outlet presstv is unreachable on every domain" in text
        assert "(notice) outlet presstv is unreachable on every domain" in render_status(
            config, store
        )
    finally:
        store.close()


def test_a_delivered_notice_is_resent_by_id_to_the_notices_channels(
    store_url: str | None, tmp_path: Path
) -> None:
    (tmp_path / "c.yaml").write_text(
        "outlets:\n  presstv: {domains: [a.example], feeds: [/rss]}\n"
        "channels:\n  ops: {type: console}\n  desk: {type: console}\nnotices: [desk]\n"
    )
    config = load_config(tmp_path / "c.yaml").config
    store = open_store(store_url, timedelta(days=1), tmp_path / "state")
    try:
        notice = sample_notice()
        assert Notices(store, ["ops"]).send(notice)
        [entry] = store.take_due("ops", "test-consumer", now=10**10, stale_after=60)
        store.ack(entry)  # delivered
        report = resend_ids(config, store, [notice["id"]])
        assert report.problems == []
        assert report.queued == [(notice["id"], "desk")]  # the notices channels of now
        [again] = store.take_due("desk", "test-consumer", now=10**10, stale_after=60)
        assert again.payload["notice"]["kind"] == notice["notice"]["kind"]
    finally:
        store.close()
