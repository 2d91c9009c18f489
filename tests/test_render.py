"""Alert rendering: the exact subject, escaped article text, the webhook body of SPEC §5."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from alerts.delivery import sample_alert
from alerts.email import build_message
from alerts.render import Renderer
from alerts.webhook import sign, webhook_body
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
