"""Email alerts: a multipart text + HTML message sent over SMTP.

The Message-ID derives from the alert id, so a re-sent alert is recognisably the same message
to the mail client; the subject is one line whatever the article's title holds.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from newswatch.alerts.render import Renderer
from newswatch.config import EmailChannel
from newswatch.errors import ChannelDown, DeliveryError, PartialRefusal, PermanentDeliveryError

__all__ = ["STEP_TIMEOUT", "build_message", "message_id", "send_email", "tls_context"]

STEP_TIMEOUT = 30.0  # one SMTP step; the whole exchange is bounded by the caller

# A TLS context reads the system's certificate store when it is made: about 20 ms of CPU, more
# than the rest of a local send. One is shared by every send and made again after this many
# seconds, so that a service running for months trusts a renewed store without a restart.
TLS_CONTEXT_LIFETIME = 3600.0
_tls_lock = threading.Lock()
_tls: tuple[float, ssl.SSLContext] | None = None


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


async def send_email(
    message: EmailMessage, channel: EmailChannel, recipients: Sequence[str] = ()
) -> None:
    """Send to ``recipients`` (default: the channel's ``to``), or raise.

    DeliveryError means retry later, ChannelDown that the server did not answer at all (so the
    channel's other alerts need not wait for it now), PartialRefusal that some recipients got
    the alert and the others are to be tried again, PermanentDeliveryError that the server
    refused for good. The caller bounds the whole exchange in time; each step has the deadline
    of ``channel_deadline`` too, so a server that stops answering is given up on.
    """
    url = urlsplit(channel.smtp)
    host = url.hostname or "localhost"
    implicit_tls = url.scheme == "smtps"
    port = url.port or (465 if implicit_tls else 25)
    to = list(recipients or channel.to)
    smtp = aiosmtplib.SMTP(
        hostname=host,
        port=port,
        use_tls=implicit_tls,
        start_tls=False,  # decided below, so that credentials never go out in clear
        tls_context=tls_context(),
        timeout=STEP_TIMEOUT,
    )
    try:
        await smtp.connect()
        try:
            await smtp.ehlo()
            encrypted = implicit_tls
            if not implicit_tls and smtp.supports_extension("starttls"):
                await smtp.starttls()
                await smtp.ehlo()
                encrypted = True
            if url.username and not encrypted and not _plaintext_auth_allowed(url.query):
                raise DeliveryError(
                    f"SMTP {host}:{port} offers no STARTTLS: the password of "
                    f"{unquote(url.username)!r} is not sent in clear (use smtps://, or add "
                    "?plaintext_auth=yes to the smtp URL for a relay on a trusted network)"
                )
            if url.username:
                await smtp.login(unquote(url.username), unquote(url.password or ""))
            refused, _ = await smtp.send_message(message, sender=channel.from_, recipients=to)
        finally:
            smtp.close()
    except aiosmtplib.SMTPRecipientsRefused as exc:
        replies = {r.recipient: (r.code, r.message) for r in exc.recipients}
        error = f"SMTP {host}:{port} refused every recipient: {_replies(replies)}"
        if all(500 <= code < 600 for code, _ in replies.values()):
            raise PermanentDeliveryError(error) from None
        raise DeliveryError(error) from None
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as exc:
        raise ChannelDown(f"SMTP {host}:{port} failed: {exc or type(exc).__name__}") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {host}:{port} answered {exc.code} {exc.message}") from None
    except aiosmtplib.SMTPException as exc:
        raise ChannelDown(f"SMTP {host}:{port} failed: {exc or type(exc).__name__}") from None
    if refused:
        replies = {address: (reply.code, reply.message) for address, reply in refused.items()}
        raise PartialRefusal(
            f"SMTP {host}:{port} refused {len(replies)} of {len(to)} recipients: "
            f"{_replies(replies)}",
            refused=tuple(replies),
            permanent=all(500 <= code < 600 for code, _ in replies.values()),
        )


def tls_context() -> ssl.SSLContext:
    """The client TLS context of SMTP sends: the system's default, verifying the server."""
    global _tls
    with _tls_lock:
        now = time.monotonic()
        if _tls is None or now - _tls[0] > TLS_CONTEXT_LIFETIME:
            _tls = (now, ssl.create_default_context())
        return _tls[1]


def _plaintext_auth_allowed(query: str) -> bool:
    """The user's explicit opt-out, for a local relay that speaks no TLS."""
    values = parse_qs(query).get("plaintext_auth", [""])
    return values[-1].lower() in ("yes", "true", "1")


def _replies(replies: dict[str, tuple[int, str]]) -> str:
    return "; ".join(f"{address}: {code} {text}" for address, (code, text) in replies.items())
