"""Dead letters sent again, and what a removed channel or watch leaves behind.

Through the real ``newswatch`` command against the local SMTP sink and webhook receiver, on both
stores: ``alerts`` shows what happened, ``resend`` puts an alert back with the same id (one more
delivery, same ``X-Newswatch-Id`` / ``Message-ID``), ``status`` and ``check`` report the entries
of a channel or the digest of a watch the config no longer names, ``discard`` drops them. The
digest scenarios need an hour to pass: they drive the delivery worker in-process with a clock
handed in, against the store the command used.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newswatch.alerts.delivery import RETRY_WINDOW
from tests.e2e import MIRROR, PALMYRA, PRIMARY, Result, config_text, run_newswatch, write_config
from tests.support.outlet_site import OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver
from tests.test_delivery import worker_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def outlet(web: MultiHostServer) -> OutletSite:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    return site


def ok(result: Result) -> Result:
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def alerts_json(folder: Path, *args: str) -> list[dict[str, Any]]:
    listed = json.loads(ok(run_newswatch("alerts", "--json", *args, cwd=folder)).stdout)
    assert isinstance(listed, list)
    return listed


def without_analysts(text: str) -> str:
    """The config with the email channel removed (and the watches notifying the webhook only)."""
    text = re.sub(r"\n\s*analysts:\n\s*type: email\n(\s*(to|from|smtp): .*\n)+", "\n", text)
    return text.replace("notify: [analysts, siem]", "notify: [siem]").replace(
        "notify: [analysts]", "notify: [siem]"
    )


def without_palmyra(text: str) -> str:
    """The config with the palmyra watch removed."""
    return re.sub(r"\n\s*palmyra:\n\s*query: .*\n\s*notify: .*\n(\s*digest: .*\n)?", "\n", text)


# --- resend -------------------------------------------------------------------------------------


def test_a_webhook_dead_letter_is_resent_once_with_the_same_alert_id(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    write_config(tmp_path, config_text(store_url, smtp, webhook))
    webhook.responses = [410]  # a 4xx other than 408 / 429: dead-lettered at once
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    [refused] = webhook.wait_for(1)
    assert refused.status == 410
    alert_id = refused.headers["x-newswatch-id"]

    [row] = alerts_json(tmp_path, "--dead")
    assert row["id"] == alert_id and row["watch"] == "palmyra" and row["title"] == PALMYRA.title
    dead = row["channels"]["siem"]
    assert dead["state"] == "dead" and dead["attempts"] == 1 and "HTTP 410" in dead["error"]
    assert row["channels"]["analysts"] == {"state": "delivered"}
    text = ok(run_newswatch("alerts", "--dead", cwd=tmp_path)).stdout
    assert alert_id in text and "siem: DEAD" in text and "HTTP 410" in text

    # the receiver is fixed (it answers 200 from now on)
    resent = ok(run_newswatch("resend", "--dead-letters", "siem", cwd=tmp_path))
    assert f"siem: 1 alert queued again ({alert_id})" in resent.stdout
    assert alerts_json(tmp_path, "--dead") == []
    [row] = alerts_json(tmp_path, "--channel", "siem")
    assert row["channels"]["siem"] == {
        "state": "pending",
        "attempts": 0,
        "next_attempt": None,
        "last_error": None,
    }

    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    first, second = webhook.wait_for(2)
    assert second.status == 200
    assert second.headers["x-newswatch-id"] == alert_id
    assert second.body == first.body  # the same alert, so the same signature
    [row] = alerts_json(tmp_path)
    assert row["channels"] == {"analysts": {"state": "delivered"}, "siem": {"state": "delivered"}}

    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert len(webhook.posts) == 2 and len(smtp.messages) == 1


def test_an_email_dead_letter_is_resent_by_id_with_the_same_message_id(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    """The sink refuses at DATA, which is retried: a day of refusals (driven in-process with a
    clock a day ahead) makes the dead letter, as in production."""
    write_config(tmp_path, config_text(store_url, smtp, webhook))
    smtp.refuse_with = (554, "5.7.1 rejected for policy reasons")
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    [post] = webhook.wait_for(1)
    alert_id = post.headers["x-newswatch-id"]
    [row] = alerts_json(tmp_path, "--channel", "analysts")
    pending = row["channels"]["analysts"]
    assert pending["state"] == "pending" and pending["attempts"] == 1
    assert "554 5.7.1 rejected" in pending["last_error"] and pending["next_attempt"]
    worker = worker_for(tmp_path, [time.time() + RETRY_WINDOW + 60])
    assert worker.run_once().dead == 1
    worker.store.close()
    assert smtp.messages == []
    [row] = alerts_json(tmp_path, "--dead", "--channel", "analysts")
    assert row["id"] == alert_id
    assert row["channels"]["analysts"]["error"].startswith("still failing after 24 h: SMTP")
    assert row["channels"]["analysts"]["attempts"] == 2

    smtp.refuse_with = None
    resent = ok(run_newswatch("resend", alert_id, cwd=tmp_path))
    assert f"analysts: 1 alert queued again ({alert_id})" in resent.stdout
    assert "siem" not in resent.stdout  # only the channel it died on
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    [mail] = smtp.wait_for(1)
    assert mail.message["Message-ID"] == f"<{alert_id}@newswatch>"
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1


def test_resend_of_a_delivered_alert_goes_to_its_watchs_channels_and_unknown_ids_fail(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    write_config(tmp_path, config_text(None, smtp, webhook))
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    [post] = webhook.wait_for(1)
    alert_id = post.headers["x-newswatch-id"]

    unknown = run_newswatch("resend", alert_id, "no-such-alert", cwd=tmp_path)
    assert unknown.code == 1
    assert "newswatch: unknown alert id: no-such-alert" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert run_newswatch("resend", cwd=tmp_path).code == 2  # neither ids nor --dead-letters
    wrong = run_newswatch("resend", "--dead-letters", "pager", cwd=tmp_path)
    assert wrong.code == 2 and "channel 'pager' is not in the config" in wrong.stderr
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert len(webhook.posts) == 1  # nothing was resent by the refused commands

    again = ok(run_newswatch("resend", alert_id, cwd=tmp_path))
    assert "analysts: 1 alert queued again" in again.stdout
    assert "siem: 1 alert queued again" in again.stdout
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert [p.headers["x-newswatch-id"] for p in webhook.wait_for(2)] == [alert_id] * 2
    assert [m.message["Message-ID"] for m in smtp.wait_for(2)] == [f"<{alert_id}@newswatch>"] * 2


def test_alerts_filters_by_watch_channel_and_since(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    write_config(tmp_path, config_text(None, smtp, webhook))
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert [r["watch"] for r in alerts_json(tmp_path, "--watch", "palmyra")] == ["palmyra"]
    assert alerts_json(tmp_path, "--watch", "harvest-rye") == []
    assert len(alerts_json(tmp_path, "--channel", "siem", "--since", "1h")) == 1
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert alerts_json(tmp_path, "--since", later) == []
    assert alerts_json(tmp_path, "--limit", "0") == []
    bad = run_newswatch("alerts", "--since", "yesterday", cwd=tmp_path)
    assert bad.code == 2 and "--since 'yesterday' is neither a duration" in bad.stderr


# --- a channel removed from the config ----------------------------------------------------------


def test_a_removed_channels_pending_alert_is_reported_then_delivered_when_it_returns(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    full = config_text(store_url, smtp, webhook)
    write_config(tmp_path, full)
    smtp.stop()
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))  # the mail stays pending
    write_config(tmp_path, without_analysts(full))
    smtp.start()
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert smtp.messages == []  # not delivered while the channel is out of the config

    line = (
        "channel analysts (not in the config): 1 pending, 0 dead letters — kept until the"
        " channel returns; `newswatch discard analysts` drops them"
    )
    assert line in ok(run_newswatch("status", cwd=tmp_path)).stdout
    assert line in ok(run_newswatch("check", cwd=tmp_path)).stdout
    [row] = alerts_json(tmp_path, "--channel", "analysts")
    assert row["channels"]["analysts"]["state"] == "pending"
    assert (
        "analysts (not in the config): pending" in ok(run_newswatch("alerts", cwd=tmp_path)).stdout
    )
    refused = run_newswatch("discard", "siem", cwd=tmp_path)
    assert refused.code == 2 and "channel 'siem' is in the config" in refused.stderr

    write_config(tmp_path, full)
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    [mail] = smtp.wait_for(1)
    assert mail.message["Message-ID"] == f"<{webhook.posts[0].headers['x-newswatch-id']}@newswatch>"
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert len(smtp.messages) == 1 and len(webhook.posts) == 1
    assert "not in the config" not in ok(run_newswatch("status", cwd=tmp_path)).stdout


def test_discard_drops_a_removed_channels_entries_for_good(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    full = config_text(store_url, smtp, webhook)
    write_config(tmp_path, full)
    smtp.stop()
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    write_config(tmp_path, without_analysts(full))
    dropped = ok(run_newswatch("discard", "analysts", cwd=tmp_path))
    assert dropped.stdout.strip() == "channel analysts: dropped 1 pending, 0 dead letters"
    assert "not in the config" not in ok(run_newswatch("status", cwd=tmp_path)).stdout
    assert "not in the config" not in ok(run_newswatch("check", cwd=tmp_path)).stdout

    smtp.start()
    write_config(tmp_path, full)
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    assert smtp.messages == [] and len(webhook.posts) == 1


# --- a digest watch removed from the config -----------------------------------------------------


def _digest_config(store_url: str | None, smtp: SmtpSink, webhook: WebhookReceiver) -> str:
    return config_text(store_url, smtp, webhook).replace(
        "notify: [analysts, siem]", "notify: [analysts, siem]\n            digest: hourly"
    )


def _after_the_hour() -> list[float]:
    next_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return [next_hour.timestamp() + 1]


def test_a_removed_watchs_digest_stays_open_and_goes_out_when_the_watch_returns(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    full = _digest_config(store_url, smtp, webhook)
    write_config(tmp_path, full)
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    write_config(tmp_path, without_palmyra(full))
    clock = _after_the_hour()
    worker = worker_for(tmp_path, clock)
    assert worker.run_once().sent == 0  # due, but its watch is gone: kept open, not closed
    assert [(d.watch, d.alerts) for d in worker.store.open_digests()] == [("palmyra", 1)]
    worker.store.close()
    for command in ("status", "check"):
        out = ok(run_newswatch(command, cwd=tmp_path)).stdout
        assert "digest of watch palmyra (not in the config): 1 alerts, due " in out
        assert "`newswatch discard --digest palmyra` drops it" in out
    refused = run_newswatch("discard", "--digest", "harvest-rye", cwd=tmp_path)
    assert refused.code == 2 and "watch 'harvest-rye' is in the config" in refused.stderr

    write_config(tmp_path, full)
    worker = worker_for(tmp_path, clock)
    assert worker.run_once().sent == 2
    [mail] = smtp.wait_for(1)
    assert mail.message["Subject"] == "[newswatch] palmyra: 1 new article"
    [post] = webhook.wait_for(1)
    assert post.json()["digest"]["count"] == 1
    assert worker.run_once().sent == 0
    worker.store.close()


def test_discard_drops_a_removed_watchs_digest(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    full = _digest_config(None, smtp, webhook)
    write_config(tmp_path, full)
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    write_config(tmp_path, without_palmyra(full))
    dropped = ok(run_newswatch("discard", "--digest", "palmyra", cwd=tmp_path))
    assert dropped.stdout.strip() == "watch palmyra: dropped its open digest of 1 alerts"
    assert "not in the config" not in ok(run_newswatch("status", cwd=tmp_path)).stdout

    write_config(tmp_path, full)
    worker = worker_for(tmp_path, _after_the_hour())
    assert worker.run_once().sent == 0
    worker.store.close()
    assert smtp.messages == [] and webhook.posts == []


def test_a_dead_letter_whose_content_expired_is_listed_but_cannot_be_resent(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    write_config(
        tmp_path, "retention: 2s\n" + textwrap.dedent(config_text(store_url, smtp, webhook))
    )
    webhook.responses = [410]
    ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
    [refused] = webhook.wait_for(1)
    alert_id = refused.headers["x-newswatch-id"]
    time.sleep(3)  # past retention: the alert's content is gone, its dead letter is not

    [row] = alerts_json(tmp_path, "--dead")
    assert row["id"] == alert_id and row["expired"] is True and row["title"] is None
    assert row["channels"]["siem"]["state"] == "dead"
    text = ok(run_newswatch("alerts", "--dead", cwd=tmp_path)).stdout
    assert f"{alert_id}  (content expired: cannot be resent)" in text
    failed = run_newswatch("resend", "--dead-letters", "siem", cwd=tmp_path)
    assert failed.code == 1, failed.stderr
    assert (
        f"newswatch: alert {alert_id} on siem: its content has expired (kept 2 s);"
        " it cannot be resent" in failed.stderr
    )
    assert [r["id"] for r in alerts_json(tmp_path, "--dead")] == [alert_id]  # left as it was
    assert len(webhook.posts) == 1


def test_alerts_and_resend_never_print_a_webhooks_secret_path(
    tmp_path: Path, web: MultiHostServer, outlet: OutletSite, smtp: SmtpSink
) -> None:
    token = "T0k3n-in-the-path-9f8e7d"
    with WebhookReceiver(path=f"/hooks/{token}") as hook:
        write_config(tmp_path, config_text(None, smtp, hook))
        hook.responses = [410]
        ok(run_newswatch("run", "--once", cwd=tmp_path, web=web))
        [refused] = hook.wait_for(1)
        listed = ok(run_newswatch("alerts", "--dead", cwd=tmp_path)).stdout
        as_json = ok(run_newswatch("alerts", "--dead", "--json", cwd=tmp_path)).stdout
        assert refused.headers["x-newswatch-id"] in listed and "HTTP 410" in listed
        assert "HTTP 410" in json.loads(as_json)[0]["channels"]["siem"]["error"]
        resent = ok(run_newswatch("resend", "--dead-letters", cwd=tmp_path))
        for out in (listed, as_json, resent.stdout, resent.stderr):
            assert token not in out
