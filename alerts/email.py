"""Email alerts: a multipart text + HTML message (SPEC §5) sent over SMTP.

The Message-ID derives from the alert id, so a re-sent alert is recognisably the same message
to the mail client; the subject is one line whatever the article's title holds.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from alerts.render import Renderer
from newswatch.config import EmailChannel
from newswatch.errors import DeliveryError, PermanentDeliveryError

__all__ = ["build_message", "message_id", "send_email"]


def message_id(alert: dict[str, Any]) -> str:
    return f"<{alert['id']}@newswatch>"


def build_message(alert: dict[str, Any], channel: EmailChannel, renderer: Renderer) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = renderer.subject(alert)
    message["From"] = channel.from_
    message["To"] = ", ".join(channel.to)
    message["Message-ID"] = message_id(alert)
    message["X-Newswatch-Id"] = alert["id"]
    detected = alert.get("detected_at")
    if detected:
        message["Date"] = format_datetime(datetime.fromisoformat(detected.replace("Z", "+00:00")))
    message.set_content(renderer.text(alert))
    message.add_alternative(renderer.html(alert), subtype="html")
    return message


def send_email(message: EmailMessage, channel: EmailChannel, timeout: float = 30.0) -> None:
    """Raise DeliveryError (retry later) or PermanentDeliveryError (the server refused for good)."""
    url = urlsplit(channel.smtp)
    host = url.hostname or "localhost"
    implicit_tls = url.scheme == "smtps"
    port = url.port or (465 if implicit_tls else 25)
    try:
        smtp: smtplib.SMTP
        if implicit_tls:
            smtp = smtplib.SMTP_SSL(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            encrypted = implicit_tls
            if not implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                encrypted = True
            if url.username and not encrypted and not _plaintext_auth_allowed(url.query):
                raise DeliveryError(
                    f"SMTP {host}:{port} offers no STARTTLS: the password of "
                    f"{unquote(url.username)!r} is not sent in clear (use smtps://, or add "
                    "?plaintext_auth=yes to the smtp URL for a relay on a trusted network)"
                )
            if url.username:
                smtp.login(unquote(url.username), unquote(url.password or ""))
            smtp.send_message(message, from_addr=channel.from_, to_addrs=channel.to)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {code for code, _ in exc.recipients.values()}
        error = f"SMTP {host}:{port} refused every recipient: {_first_reply(exc.recipients)}"
        if all(500 <= code < 600 for code in codes):
            raise PermanentDeliveryError(error) from None
        raise DeliveryError(error) from None
    except smtplib.SMTPResponseException as exc:
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        raise DeliveryError(f"SMTP {host}:{port} answered {exc.smtp_code} {reply}") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {host}:{port} failed: {exc or type(exc).__name__}") from None


def _plaintext_auth_allowed(query: str) -> bool:
    """The user's explicit opt-out, for a local relay that speaks no TLS."""
    values = parse_qs(query).get("plaintext_auth", [""])
    return values[-1].lower() in ("yes", "true", "1")


def _first_reply(recipients: dict[str, tuple[int, bytes]]) -> str:
    for address, (code, reply) in recipients.items():
        return f"{address}: {code} {reply.decode('utf-8', 'replace')}"
    return "no reply"
