"""The edges of delivery where an alert used to be lost, sent twice or held up.

Each test runs the real ``newswatch`` command against the local SMTP server and webhook receiver
and checks both what they received and what the store still holds.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.alerts.delivery import ChannelSender, DeliveryWorker
from newswatch.alerts.render import Renderer
from newswatch.config import load_config
from newswatch.store import open_store
from tests.e2e import (
    MIRROR,
    PRIMARY,
    Result,
    config_text,
    newswatch_command,
    run_newswatch,
    write_config,
)
from tests.support.outlet_site import FixtureArticle, OutletSite
from tests.support.smtp import SmtpSink
from tests.support.web import MultiHostServer
from tests.support.webhook import WebhookReceiver
from tests.test_render import discord_embeds_size

pytestmark = pytest.mark.e2e

ANALYST, DESK = "analyst@example.org", "desk@example.org"
WORDS = [
    "harbour",
    "cargo",
    "ledger",
    "orchard",
    "violin",
    "glacier",
    "lantern",
    "meadow",
    "quarry",
    "saddle",
    "tunnel",
    "walnut",
    "beacon",
    "canyon",
    "dune",
    "ember",
    "falcon",
    "garnet",
    "hazel",
    "iris",
    "jasper",
    "kettle",
    "lotus",
    "marble",
    "nectar",
    "opal",
]


def stories(count: int) -> list[FixtureArticle]:
    """Distinct Palmyra stories (near-copies of one story alert once per watch and outlet)."""
    found = []
    for n in range(count):
        words = " ".join(random.Random(n).choices(WORDS, k=24))
        found.append(
            FixtureArticle(
                path=f"/Detail/2026/11/28/story-{n}.html",
                title=f"Palmyra dispatch {n}: {words.split()[0]} and {words.split()[1]}",
                paragraphs=[
                    f"Reporting from Palmyra, number {n}: {words}.",
                    f"The {WORDS[n % len(WORDS)]} {words} was seen near Tadmur, the ancient city.",
                ],
            )
        )
    return found


def publish_stories(web: MultiHostServer, count: int) -> None:
    site = OutletSite(web, [PRIMARY, MIRROR])
    for story in stories(count):
        site.add_article(story)


def edge_config(
    store_url: str | None,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    *,
    smtp_url: str | None = None,
    timeout: str = "60s",
    run_timeout: str = "4m",
) -> str:
    text = config_text(store_url, smtp, webhook)
    text = text.replace(f"to: [{ANALYST}]", f"to: [{ANALYST}, {DESK}]")
    if smtp_url:
        text = text.replace(f"smtp: {smtp.url}", f"smtp: {smtp_url}")
    return text.replace(
        "        crawl:\n",
        f"        delivery:\n          timeout: {timeout}\n          run_timeout: {run_timeout}\n"
        "        crawl:\n",
    )


def pending(folder: Path, channel: str) -> int:
    config = load_config(folder / "newswatch.yaml").config
    store = open_store(config.store, config.retention, folder / "newswatch-state")
    try:
        return store.pending_count(channel)[0]
    finally:
        store.close()


def timed_run(folder: Path, web: MultiHostServer) -> tuple[Result, float]:
    started = time.monotonic()
    result = run_newswatch("run", "--once", cwd=folder, web=web)
    return result, time.monotonic() - started


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung mail server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_recipients_a_server_refuses_for_now_get_the_alert_later_and_only_they(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    publish_stories(web, 1)
    write_config(tmp_path, edge_config(store_url, smtp, webhook))
    smtp.refuse_recipients = {DESK: (450, "4.2.2 mailbox full")}
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    [to_analyst] = smtp.wait_for(1)
    assert to_analyst.rcpt_tos == [ANALYST]
    assert f"refused 1 of 2 recipients: {DESK}: 450" in first.stderr
    assert pending(tmp_path, "analysts") == 1  # kept: the desk has not got it

    smtp.refuse_recipients = {}
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    to_analyst, to_desk = smtp.wait_for(2)
    assert to_desk.rcpt_tos == [DESK]  # not sent to the analyst a second time
    assert to_desk.message["Message-ID"] == to_analyst.message["Message-ID"]
    assert pending(tmp_path, "analysts") == 0
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert len(smtp.messages) == 2


def test_a_recipient_refused_for_good_is_a_dead_letter_naming_it_and_the_others_got_it_once(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    publish_stories(web, 1)
    write_config(tmp_path, edge_config(None, smtp, webhook))
    smtp.refuse_recipients = {DESK: (550, "5.1.1 no such user")}
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    assert f"dead-lettered after 1 attempts: SMTP 127.0.0.1:{smtp.port} refused 1 of 2" in (
        first.stderr
    )
    assert [m.rcpt_tos for m in smtp.messages] == [[ANALYST]]
    status = run_newswatch("status", cwd=tmp_path)
    assert f"{DESK}: 550 5.1.1 no such user" in status.stdout
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert len(smtp.messages) == 1 and pending(tmp_path, "analysts") == 0


def test_two_runs_started_together_on_one_store_send_each_alert_once(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    publish_stories(web, 30)
    write_config(tmp_path, edge_config(store_url, smtp, webhook))
    smtp.delay = 0.05  # a real server's pace: both runs are delivering at the same time
    env = {**web.proxy_env(), "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
    runs = [
        subprocess.Popen(
            [*newswatch_command(), "run", "--once"],
            cwd=tmp_path,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=180)
        assert run.returncode == 0, stderr
    mails, posts = smtp.messages, webhook.posts
    assert len({m.message["Message-ID"] for m in mails}) == 30 and len(mails) == 30
    assert len({p.headers["x-newswatch-id"] for p in posts}) == 30 and len(posts) == 30
    assert pending(tmp_path, "analysts") == pending(tmp_path, "siem") == 0


def test_a_silent_mail_server_holds_back_neither_the_webhook_nor_the_run(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    silent_server: int,
) -> None:
    publish_stories(web, 3)
    config = edge_config(
        None, smtp, webhook, smtp_url=f"smtp://127.0.0.1:{silent_server}", timeout="2s"
    )
    write_config(tmp_path, config)
    result, took = timed_run(tmp_path, web)
    assert result.code == 0, result.stderr
    assert len(webhook.wait_for(3)) == 3
    assert "channel analysts: no answer within 2s" in result.stderr
    # one deadline, not one per alert (3 x 30 s before): the channel's other alerts wait for
    # the next run instead of each waiting out the same silence
    assert took < 30, took
    assert pending(tmp_path, "analysts") == 3 and pending(tmp_path, "siem") == 0


def test_a_dripping_webhook_is_given_up_on_at_the_deadline_and_its_alerts_kept(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    publish_stories(web, 3)
    write_config(tmp_path, edge_config(None, smtp, webhook, timeout="2s"))
    webhook.drip = 1.0  # the answer would take 36 s, each byte inside any per-read timeout
    result, took = timed_run(tmp_path, web)
    assert result.code == 0, result.stderr
    assert "channel siem: no answer within 2s" in result.stderr
    assert took < 30, took
    assert len(smtp.wait_for(3)) == 3
    assert pending(tmp_path, "siem") == 3

    webhook.drip = 0.0
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    assert pending(tmp_path, "siem") == 0
    delivered = [p for p in webhook.posts if p.status == 200]
    assert len({p.headers["x-newswatch-id"] for p in delivered}) == 3


def test_a_run_out_of_time_leaves_the_rest_pending_for_the_next_run(
    tmp_path: Path, web: MultiHostServer, smtp: SmtpSink, webhook: WebhookReceiver
) -> None:
    publish_stories(web, 6)
    write_config(tmp_path, edge_config(None, smtp, webhook, run_timeout="3s"))
    smtp.delay = 1.0  # slow but answering: every send is within its own deadline
    first = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert first.code == 0, first.stderr
    assert "alerts left pending for the next run" in first.stderr
    assert len(smtp.messages) >= 1  # some went out in time
    assert pending(tmp_path, "analysts") >= 1  # the rest did not, and are kept

    smtp.delay = 0.0
    assert run_newswatch("run", "--once", cwd=tmp_path, web=web).code == 0
    mails = smtp.messages
    assert len({m.message["Message-ID"] for m in mails}) == 6
    assert len(mails) <= 7  # at most the one cut short mid-send is sent again
    assert pending(tmp_path, "analysts") == 0


def test_chat_digests_fit_slack_and_discord_and_say_how_many_are_not_shown(
    tmp_path: Path,
    web: MultiHostServer,
    smtp: SmtpSink,
    webhook: WebhookReceiver,
    store_url: str | None,
) -> None:
    publish_stories(web, 45)
    watch = "palmyra-" + "and-the-desert-cities-of-the-silk-road-" * 5  # 203 characters
    config = edge_config(store_url, smtp, webhook).replace(
        "          palmyra:\n            query: 'Palmyra OR Tadmur OR \"تدمر\"'\n"
        "            notify: [analysts, siem]\n",
        f"          {watch}:\n            query: 'Palmyra OR Tadmur OR \"تدمر\"'\n"
        "            notify: [slack, discord]\n            digest: hourly\n",
    )
    config = config.replace(
        "        channels:\n",
        f"        channels:\n"
        f"          slack:\n            type: webhook\n            url: {webhook.url}?to=slack\n"
        f"            format: slack\n"
        f"          discord:\n            type: webhook\n            url: {webhook.url}?to=discord\n"
        f"            format: discord\n",
    )
    assert watch in config and "format: discord" in config
    write_config(tmp_path, config)
    crawled = run_newswatch("run", "--once", cwd=tmp_path, web=web)
    assert crawled.code == 0, crawled.stderr
    assert webhook.posts == []  # collected into the hourly digest

    next_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    config_model = load_config(tmp_path / "newswatch.yaml").config
    store = open_store(config_model.store, config_model.retention, tmp_path / "newswatch-state")
    sender = ChannelSender(config_model, Renderer.for_config(config_model))
    worker = DeliveryWorker(store, sender, "in-process", clock=lambda: next_hour.timestamp() + 1)
    try:
        report = worker.run_once()
        assert (report.sent, report.dead) == (2, 0)
        posts = {p.path.rpartition("=")[2]: p.json() for p in webhook.wait_for(2)}
        slack, discord = posts["slack"], posts["discord"]

        header, *blocks = slack["blocks"]
        assert len(header["text"]["text"]) <= 150 and len(slack["blocks"]) <= 50
        assert sum(b["type"] == "section" for b in blocks) == 40
        assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
        [more] = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
        assert more.startswith("and 5 more")
        assert len(discord["embeds"]) == 10 and discord_embeds_size(discord) <= 6000
        assert len(discord["content"]) <= 2000 and "35 more" in discord["content"]
        assert store.pending_count("slack") == store.pending_count("discord") == (0, 0)
    finally:
        store.close()
