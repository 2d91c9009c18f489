"""Alert rendering: the exact subject, escaped article text, the documented webhook body."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from newswatch.alerts.delivery import sample_alert
from newswatch.alerts.digest import build_digest
from newswatch.alerts.email import build_message
from newswatch.alerts.render import Renderer
from newswatch.alerts.webhook import sign, webhook_body
from newswatch.config import EmailChannel
from newswatch.errors import TemplateError

CHANNEL = EmailChannel.model_validate(
    {"type": "email", "to": ["a@example.org"], "from": "n@example.org", "smtp": "smtp://localhost"}
)


def hostile_alert() -> dict:
    alert = sample_alert()
    alert["article"]["title"] = 'Palmyra <script>alert(1)</script>\r\nBcc: victim@example.org\n"&'
    alert["matches"][0]["snippet"] = "<img src=x onerror=alert(1)> Palmyra & co"
    alert["matches"][0]["mark"] = [29, 36]
    return alert


def test_subject_is_one_line_whatever_the_title_holds() -> None:
    message = build_message(hostile_alert(), CHANNEL, Renderer())
    subject = message["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("[newswatch] test-alert: Palmyra <script>")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == subject


def test_html_escapes_article_text_and_marks_the_term() -> None:
    html = Renderer().html(hostile_alert())
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert ">Palmyra</mark>" in html


def test_long_and_non_ascii_titles() -> None:
    alert = sample_alert()
    alert["article"]["title"] = "تدمر " * 100
    message = build_message(alert, CHANNEL, Renderer())
    raw = message.as_bytes()
    assert b"=?utf-8?" in raw.lower()  # RFC 2047 encoded words
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"].startswith("[newswatch] test-alert: تدمر")
    assert len(parsed["Subject"]) <= 200 and parsed["Subject"].endswith("…")


def test_message_id_is_derived_from_the_alert_id() -> None:
    alert = sample_alert()
    first = build_message(alert, CHANNEL, Renderer())
    again = build_message(alert, CHANNEL, Renderer())
    assert first["Message-ID"] == again["Message-ID"] == f"<{alert['id']}@newswatch>"


def test_webhook_body_is_exactly_the_spec_shape_and_signed() -> None:
    alert = sample_alert()
    body = webhook_body(alert)
    data = json.loads(body)
    assert list(data) == ["id", "watch", "outlet", "article", "matches", "detected_at"]
    assert list(data["article"]) == ["url", "fetched_from", "title", "published", "language"]
    assert list(data["matches"][0]) == ["term", "field", "snippet"]
    assert sign(body, "k") == sign(body, "k") != sign(body + b" ", "k")
    assert sign(body, "k").startswith("sha256=")


def test_user_templates_override_by_file_name_and_typos_fail(tmp_path: Path) -> None:
    (tmp_path / "email_subject.txt").write_text("ALERT {{ alert.watch }}")
    assert Renderer(tmp_path).subject(sample_alert()) == "ALERT test-alert"
    (tmp_path / "email_subject.txt").write_text("ALERT {{ alert.wach }}")
    with pytest.raises(TemplateError, match=r"email_subject\.txt"):
        Renderer(tmp_path).subject(sample_alert())


def _long_alert(n: int) -> dict[str, object]:
    alert = sample_alert()
    article = dict(alert["article"])  # type: ignore[call-overload]
    article["title"] = f"Story {n} " + "about the ancient city of Palmyra " * 12
    alert["article"] = article
    alert["outlet"] = "outlet-with-a-long-name-" * 6
    alert["watch"] = "w" * 180  # watch names are the user's: long ones happen
    snippet = "…forces entered Palmyra " + "and the museum, " * 60 + "…"
    alert["matches"] = [
        {"term": "Palmyra", "field": "body", "snippet": snippet, "mark": [16, 23]},
        {"term": "Tadmur", "field": "body", "snippet": snippet, "mark": [16, 23]},
    ]
    return alert


def discord_embeds_size(message: dict[str, Any]) -> int:
    """Characters Discord counts against its 6,000 over all embeds."""
    total = 0
    for embed in message["embeds"]:
        total += len(embed.get("title", "")) + len(embed.get("description", ""))
        total += len(embed.get("footer", {}).get("text", ""))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return total


@pytest.mark.parametrize("count", [3, 10, 11, 50])
def test_chat_digests_fit_the_platforms_limits_and_say_how_many_are_left_out(count: int) -> None:
    renderer = Renderer(None)
    digest = build_digest("w" * 180, datetime.now(UTC), [_long_alert(n) for n in range(count)])

    slack = json.loads(renderer.render("slack.json", digest))
    header, *sections = slack["blocks"]
    assert len(header["text"]["text"]) <= 150
    assert len(slack["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in sections if b["type"] == "section")
    shown = sum(1 for b in sections if b["type"] == "section")
    assert shown == min(count, 40)
    more = [b for b in sections if b["type"] == "context"]
    if count > 40:
        assert more[0]["elements"][0]["text"].startswith(f"and {count - 40} more")
    else:
        assert more == []

    discord = json.loads(renderer.render("discord.json", digest))
    assert len(discord["embeds"]) == min(count, 10)
    assert discord_embeds_size(discord) <= 6000
    assert len(discord["content"]) <= 2000
    assert (f"{count - 10} more" in discord["content"]) == (count > 10)
    assert all(len(e["title"]) <= 256 for e in discord["embeds"])


def test_one_chat_alert_fits_the_platforms_limits_however_long_its_parts() -> None:
    renderer = Renderer(None)
    alert = _long_alert(1)
    alert["matches"] = alert["matches"] * 20  # type: ignore[operator]
    discord = json.loads(renderer.render("discord.json", alert))
    assert discord_embeds_size(discord) <= 6000
    slack = json.loads(renderer.render("slack.json", alert))
    assert len(slack["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in slack["blocks"] if b["type"] == "section")
