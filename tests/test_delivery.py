"""Delivery you can trust: every alert arrives exactly once per channel, whatever fails.

Real aiosmtpd and HTTP receivers, real Redis and the embedded store. Crawls run through the real
``newswatch`` command; the scenarios that need time to pass (backoff, 24 h, digests) drive the
delivery worker in-process with a clock handed in, against the same store the command used.
"""

from __future__ import annotations

import os
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.alerts.delivery import RETRY_WINDOW, ChannelSender, DeliveryWorker
from newswatch.alerts.render import Renderer
from newswatch.config import load_config
from newswatch.store import open_store
from tests.e2e import MIRROR, PALMYRA, PRIMARY, config_text, run_newswatch, write_config
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

TADMUR = FixtureArticle(
    path="/Detail/2026/11/27/tadmur.html",
    title="Museum staff return to Tadmur",
    paragraphs=["Staff of the museum in Tadmur returned this week to catalogue the collection."],
)


@pytest.fixture
def outlet(web: MultiHostServer) -> OutletSite:
    site = OutletSite(web, [PRIMARY, MIRROR])
    site.add_article(PALMYRA)
    site.add_article(TADMUR)
    return site


def worker_for(folder: Path, clock: list[float], consumer: str = "in-process") -> DeliveryWorker:
    config = load_config(folder / "newswatch.yaml").config
    store = open_store(config.store, config.retention, folder / "newswatch-state")
    sender = ChannelSender(config, Renderer.for_config(config))
    return DeliveryWorker(store, sender, consumer, clock=lambda: clock[0], rng=lambda: 0.5)


def test_servers_down_for_a_run_then_up_deliver_every_alert_exactly_once(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    write_config(tmp_path, config_text(store_url, smtp, webhook))
    smtp.stop()
    webhook.stop()
    down = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert down.code == 0, down.stderr
    assert down.stderr.count("retrying in") == 4  # two alerts, two channels
    smtp.start()
    webhook.start()
    up = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert up.code == 0, up.stderr
    mails = smtp.wait_for(2)
    posts = webhook.wait_for(2)
    again = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert again.code == 0
    assert len(smtp.messages) == 2 and len(webhook.posts) == 2
    assert {m.message["Subject"] for m in mails} == {
        f"[newswatch] palmyra: {PALMYRA.title}",
        f"[newswatch] palmyra: {TADMUR.title}",
    }
    assert len({p.headers["x-newswatch-id"] for p in posts}) == 2


def test_receiver_failing_twice_gets_the_same_alert_id_each_time_and_one_delivery(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    write_config(tmp_path, config_text(None, smtp, webhook))
    webhook.responses = [500, 500]
    for _ in range(4):
        assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    posts = webhook.posts
    assert [p.status for p in posts] == [500, 500, 200]
    assert len({p.headers["x-newswatch-id"] for p in posts}) == 1
    assert len({p.body for p in posts}) == 1  # the very same body, so the same signature
    assert len(smtp.messages) == 1


def test_crash_between_send_and_acknowledgement_resends_once_with_the_same_ids(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    write_config(tmp_path, config_text(store_url, smtp, webhook))
    os.environ["NEWSWATCH_CRASH_POINT"] = "after-send"
    try:
        crashed = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    finally:
        del os.environ["NEWSWATCH_CRASH_POINT"]
    # killed right after the first send (the channels go out at once: either one), before its
    # acknowledgement; the other channel's send was cut short or had just been accepted
    assert crashed.code == -9
    before = len(smtp.messages) + len(webhook.posts)
    assert before >= 1

    resumed = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert resumed.code == 0, resumed.stderr
    assert "alerts left pending" not in resumed.stderr
    mails, posts = smtp.messages, webhook.posts
    assert len(mails) + len(posts) == before + 2  # each unacknowledged send made again, once
    ids = {m.message["Message-ID"] for m in mails} | {
        f"<{p.headers['x-newswatch-id']}@newswatch>" for p in posts
    }
    assert len(ids) == 1  # the same alert id and Message-ID every time
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert len(smtp.messages) + len(webhook.posts) == before + 2


def test_permanent_refusal_is_dead_lettered_at_once_and_shown(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    write_config(tmp_path, config_text(None, smtp, webhook))
    webhook.responses = [410]
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0
    assert "dead-lettered after 1 attempts: webhook http://127.0.0.1" in first.stderr
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert len(webhook.posts) == 1  # never retried
    assert len(smtp.messages) == 1  # the other channel is independent
    status = run_newswatch("status", cwd=tmp_path)
    assert "siem (webhook): 0 pending, 1 dead-lettered" in status.stdout
    assert "HTTP 410" in status.stdout


def test_a_template_that_fails_on_one_alert_dead_letters_that_alert_only(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    """A user template can fail on a real alert where the samples of ``check`` render: the
    failing entry is dead-lettered with the template, its line and the error; the run, the
    other channels and the next alerts go on."""
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "email_subject.txt").write_text(
        '{{ alert.watch }}: {{ alert.article.title }}\n{% if alert.outlet != "example" %}'
        "{{ alert.article.title[1000] }}{% endif %}\n",
        encoding="utf-8",
    )
    write_config(tmp_path, textwrap.dedent(config_text(None, smtp, webhook)) + "templates: tpl\n")
    assert run_newswatch("check", cwd=tmp_path).code == 0  # the samples' outlet is "example"
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert "Traceback" not in first.stderr, first.stderr
    assert first.code == 0, first.stderr
    [post] = webhook.wait_for(1)  # the webhook channel renders no user template
    assert post.json()["watch"] == "palmyra"
    assert smtp.messages == []
    reason = "template 'email_subject.txt' line 2 failed: UndefinedError"
    assert reason in first.stderr
    status = run_newswatch("status", cwd=tmp_path)
    assert "analysts (email): 0 pending, 1 dead-lettered" in status.stdout
    assert reason in status.stdout
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert smtp.messages == [] and len(webhook.posts) == 1  # dead means not retried


def test_check_renders_templates_for_alerts_without_title_date_or_language(
    tmp_path: Path, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "email_subject.txt").write_text(
        "{{ alert.article.published[:10] }} {{ alert.article.title }}\n", encoding="utf-8"
    )
    write_config(tmp_path, textwrap.dedent(config_text(None, smtp, webhook)) + "templates: tpl\n")
    check = run_newswatch("check", cwd=tmp_path)
    assert check.code == 2
    assert "Traceback" not in check.stderr
    assert "template 'email_subject.txt' line 1 failed: TypeError" in check.stderr


def test_backoff_retry_after_and_the_24_hour_limit(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    write_config(tmp_path, config_text(None, smtp, webhook))
    webhook.stop()
    assert (
        run_newswatch("crawl", "pressdesk", cwd=tmp_path, web=web).code == 0
    )  # queued, fails once
    webhook.start()
    now = [time.time() + 60]  # past the first backoff (15 to 30 s)
    worker = worker_for(tmp_path, now)

    webhook.responses = [429]
    webhook.error_headers = {"Retry-After": "600"}
    report = worker.run_once()
    assert report.failed == 1 and len(webhook.posts) == 1
    now[0] += 300  # the backoff alone (60 s at the second failure) would be over
    assert worker.run_once().failed == 0 and len(webhook.posts) == 1  # still honouring Retry-After
    now[0] += 301
    webhook.responses = [503] * 100
    worker.run_once()
    assert len(webhook.posts) == 2

    # failing for 24 h: dead letter
    while now[0] < time.time() + RETRY_WINDOW + 3600:
        now[0] += 3600
        worker.run_once()
    [letter] = worker.store.dead_letters("siem")
    assert "still failing after 24 h" in letter.error
    assert worker.store.pending_count("siem") == (0, 0)
    tries = len(webhook.posts)
    assert 20 < tries < 40  # hourly at most once the backoff reached its cap
    worker.store.close()


def test_digest_collects_across_runs_and_a_restart_then_sends_one_message(
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    config = config_text(store_url, smtp, webhook).replace(
        "notify: [analysts, siem]", "notify: [analysts, siem]\n            digest: hourly"
    )
    write_config(tmp_path, config)
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    outlet.add_article(
        FixtureArticle(
            path="/Detail/2026/11/27/palmyra-2.html",
            title="Palmyra theatre survey begins",
            paragraphs=["Engineers began a survey of the theatre of Palmyra on Friday morning."],
        )
    )
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)  # a new process: a restart
    assert second.code == 0, second.stderr
    assert smtp.messages == [] and webhook.posts == []

    next_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    now = [next_hour.timestamp() + 1]
    worker = worker_for(tmp_path, now)
    report = worker.run_once()
    assert report.sent == 2
    [mail] = smtp.wait_for(1)
    assert mail.message["Subject"] == "[newswatch] palmyra: 3 new articles"
    text = mail.message.get_body(("plain",)).get_content()
    for title in (PALMYRA.title, TADMUR.title, "Palmyra theatre survey begins"):
        assert title in text
    [post] = webhook.wait_for(1)
    body = post.json()
    assert body["digest"]["count"] == 3 and len(body["alerts"]) == 3
    assert {a["article"]["title"] for a in body["alerts"]} >= {PALMYRA.title}
    assert worker.run_once().sent == 0
    worker.store.close()


def test_hostile_title_escaped_one_line_subject_no_extra_header(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    hostile = FixtureArticle(
        path="/Detail/2026/11/27/hostile.html",
        title='Palmyra <script>alert("x")</script>\r\nBcc: victim@example.org',
        paragraphs=["Palmyra <img src=x onerror=alert(1)> was mentioned in a hostile page."],
    )
    OutletSite(web, [PRIMARY, MIRROR]).add_article(hostile)
    write_config(tmp_path, config_text(None, smtp, webhook))
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    [mail] = smtp.wait_for(1)
    message = mail.message
    assert "\n" not in message["Subject"] and message["Subject"].startswith(
        "[newswatch] palmyra: Palmyra"
    )
    assert message["Bcc"] is None and mail.rcpt_tos == ["analyst@example.org"]
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html or "&lt;img" in html


@pytest.mark.parametrize("fmt", ["slack", "discord"])
def test_slack_and_discord_payloads(
    fmt: str, tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    write_config(
        tmp_path, config_text(None, smtp, webhook).replace("format: json", f"format: {fmt}")
    )
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    [post] = webhook.wait_for(1)
    body = post.json()
    if fmt == "slack":
        assert body["text"] == f"[newswatch] palmyra: {PALMYRA.title}"
        section = body["blocks"][0]["text"]["text"]
        assert f"<http://{PRIMARY}{PALMYRA.path}|" in section
    else:
        [embed] = body["embeds"]
        assert embed["title"] == PALMYRA.title and embed["url"] == f"http://{PRIMARY}{PALMYRA.path}"
        assert "Palmyra" in embed["description"]


def test_smtp_auth_several_recipients_and_no_password_in_logs(
    tmp_path: Path, web: MultiHostServer, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    with SmtpSink(credentials=("newswatch", "hunter2-secret")) as sink:
        config = (
            config_text(None, sink, webhook)
            .replace(
                f"smtp: {sink.url}",
                # the sink offers no STARTTLS: this relay on loopback is trusted explicitly
                f"smtp: smtp://newswatch:${{SMTP_PASSWORD}}@127.0.0.1:{sink.port}"
                "?plaintext_auth=yes",
            )
            .replace("to: [analyst@example.org]", "to: [analyst@example.org, desk@example.org]")
        )
        write_config(tmp_path, config)
        os.environ["SMTP_PASSWORD"] = "wrong-password"
        try:
            refused = run_newswatch("run", "--once", cwd=tmp_path, web=web)
            assert refused.code == 0 and "retrying in" in refused.stderr
            assert "wrong-password" not in refused.stderr + refused.stdout
            os.environ["SMTP_PASSWORD"] = "hunter2-secret"
            accepted = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        finally:
            del os.environ["SMTP_PASSWORD"]
        assert accepted.code == 0, accepted.stderr
        [mail] = sink.wait_for(1)
        assert sorted(mail.rcpt_tos) == ["analyst@example.org", "desk@example.org"]
        assert "hunter2-secret" not in accepted.stderr


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_smtp_over_tls(
    implicit: bool, tmp_path: Path, web: MultiHostServer, webhook: WebhookReceiver
) -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    with SmtpSink(
        credentials=("nw", "tls-secret"), tls=server_context, implicit_tls=implicit
    ) as sink:
        scheme = "smtps" if implicit else "smtp"
        config = config_text(None, sink, webhook).replace(
            f"smtp: {sink.url}", f"smtp: {scheme}://nw:tls-secret@127.0.0.1:{sink.port}"
        )
        write_config(tmp_path, config)
        os.environ["SSL_CERT_FILE"] = str(ca_file)  # the default context trusts the test CA
        try:
            result = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        finally:
            del os.environ["SSL_CERT_FILE"]
        assert result.code == 0, result.stderr
        [mail] = sink.wait_for(1)
        assert mail.message["Subject"] == f"[newswatch] palmyra: {PALMYRA.title}"
        assert sink.logins == [("nw", "tls-secret")]


def test_a_password_is_never_sent_to_a_server_without_starttls(
    tmp_path: Path, web: MultiHostServer, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    with SmtpSink() as sink:  # offers AUTH, but no STARTTLS
        config = config_text(None, sink, webhook).replace(
            f"smtp: {sink.url}", f"smtp: smtp://nw:clear-secret@127.0.0.1:{sink.port}"
        )
        write_config(tmp_path, config)
        first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        assert first.code == 0, first.stderr
        assert "offers no STARTTLS: the password of 'nw' is not sent in clear" in first.stderr
        assert "clear-secret" not in first.stderr + first.stdout
        assert sink.logins == [] and sink.messages == []
        assert len(webhook.wait_for(1)) == 1  # the other channel is not held back
        status = run_newswatch("status", cwd=tmp_path)
        assert "analysts (email): 1 pending" in status.stdout

        write_config(
            tmp_path, config.replace(f"{sink.port}\n", f"{sink.port}?plaintext_auth=yes\n")
        )
        second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
        assert second.code == 0, second.stderr
        [mail] = sink.wait_for(1)
        assert sink.logins == [("nw", "clear-secret")]
        assert mail.message["Subject"] == f"[newswatch] palmyra: {PALMYRA.title}"


def test_webhook_redirect_keeps_the_post_body_and_signature(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    webhook.moved["/hook"] = f"http://127.0.0.1:{webhook.port}/hook/v2"
    write_config(tmp_path, config_text(None, smtp, webhook))
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    moved, post = webhook.wait_for(2)
    assert (moved.path, moved.status) == ("/hook", 308)
    assert post.path == "/hook/v2" and post.json()["watch"] == "palmyra"
    assert post.body == moved.body
    assert post.headers["x-newswatch-signature"].startswith("sha256=")
    assert post.headers["x-newswatch-signature"] == moved.headers["x-newswatch-signature"]


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_webhook_moved_for_good_is_an_error_naming_the_new_address_not_a_delivery(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver, status: int
) -> None:
    """301 / 302 / 303 would make any client re-send the POST as a GET without the alert."""
    OutletSite(web, [PRIMARY, MIRROR]).add_article(PALMYRA)
    webhook.moved["/hook"] = f"http://127.0.0.1:{webhook.port}/hook/v2"
    webhook.moved_status = status
    write_config(tmp_path, config_text(None, smtp, webhook))
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    [moved] = webhook.wait_for(1)
    assert (moved.path, moved.status) == ("/hook", status)
    assert f"answered HTTP {status}: moved to http://127.0.0.1:{webhook.port}/***" in first.stderr
    assert "update the channel's url" in first.stderr
    assert "/hook/v2" not in first.stderr  # the path of a webhook URL may hold its token
    assert len(smtp.wait_for(1)) == 1  # the other channel is not held back

    webhook.moved.clear()  # the receiver is back where the config says
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert second.code == 0, second.stderr
    posts = webhook.wait_for(2)
    assert (posts[1].path, posts[1].status) == ("/hook", 200)
    assert posts[1].body == moved.body  # the same alert, kept pending, now delivered
    assert len(webhook.posts) == 2 and len(smtp.messages) == 1


def test_smtp_sends_share_one_tls_context_made_again_after_its_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ssl

    from newswatch.alerts import email

    now = [1000.0]
    monkeypatch.setattr(email.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(email, "_tls", None)
    first = email.tls_context()
    now[0] += email.TLS_CONTEXT_LIFETIME - 1
    assert email.tls_context() is first
    now[0] += 2
    renewed = email.tls_context()
    assert renewed is not first
    assert renewed.verify_mode == ssl.CERT_REQUIRED and renewed.check_hostname


@pytest.mark.parametrize("ending", ["hang up", "421"])
def test_the_alerts_of_a_run_share_one_smtp_session_opened_again_when_the_server_ends_it(
    ending: str,
    tmp_path: Path,
    web: MultiHostServer,
    outlet: OutletSite,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
) -> None:
    write_config(tmp_path, config_text(None, smtp, webhook))
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    shared = smtp.wait_for(2)
    assert len({mail.peer for mail in shared}) == 1  # one session: one client port

    smtp.one_message_per_session = ending
    stories = {
        "temple": "Restorers in Palmyra lifted the last fallen column of the temple back up.",
        "museum": "The museum of Palmyra lent its busts to an exhibition abroad this winter.",
        "road": "Drivers on the desert road to Palmyra reported new checkpoints on Sunday.",
    }
    for name, paragraph in stories.items():
        outlet.add_article(
            FixtureArticle(
                path=f"/Detail/2026/11/28/palmyra-{name}.html",
                title=f"Palmyra news: the {name}",
                paragraphs=[paragraph],
            )
        )
    second = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert second.code == 0, second.stderr
    assert "retrying in" not in second.stderr
    mails = smtp.wait_for(5)[2:]
    assert sorted(m.subject for m in mails) == [
        f"[newswatch] palmyra: Palmyra news: the {name}" for name in sorted(stories)
    ]
    assert len({mail.peer for mail in mails}) == 3  # each a session of its own, none lost
