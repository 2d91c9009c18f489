"""Email alerts: a multipart text + HTML message sent over SMTP.

The Message-ID derives from the alert id, so a re-sent alert is recognisably the same message
to the mail client; the subject is one line whatever the article's title holds.
"""

from __future__ import annotations

import asyncio
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

__all__ = ["STEP_TIMEOUT", "MailSession", "build_message", "message_id", "tls_context"]

STEP_TIMEOUT = 30.0  # one SMTP step; the whole exchange is bounded by the caller
QUIT_TIMEOUT = 5.0  # ending a session: the messages are sent, the run need not wait on it

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


class MailSession:
    """One SMTP session of an email channel, kept open for the messages of one delivery run.

    A session per message cost every alert a connection, a greeting and, where offered, a TLS
    handshake and a login: several round trips to the server before the message moved. The
    session opens at the run's first message and ends (QUIT) with the run. After a failure it
    is dropped, and the next message opens a new one; a session the server ends between two
    messages (an idle limit, a cap on messages per session: it hangs up, or answers 421) is
    opened again at once.
    """

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel
        self._url = urlsplit(channel.smtp)
        self._host = self._url.hostname or "localhost"
        self._implicit_tls = self._url.scheme == "smtps"
        self._port = self._url.port or (465 if self._implicit_tls else 25)
        self._smtp: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage, recipients: Sequence[str] = ()) -> None:
        """Send to ``recipients`` (default: the channel's ``to``), or raise.

        DeliveryError means retry later, ChannelDown that the server did not answer at all (so
        the channel's other alerts need not wait for it now), PartialRefusal that some
        recipients got the alert and the others are to be tried again, PermanentDeliveryError
        that the server refused for good. The caller bounds the whole exchange in time; each
        step has a deadline too (``STEP_TIMEOUT``), so a server that stops answering is given
        up on.
        """
        where = f"SMTP {self._host}:{self._port}"
        to = list(recipients or self.channel.to)
        try:
            refused = await self._exchange(message, to)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            self.close()
            replies = {r.recipient: (r.code, r.message) for r in exc.recipients}
            error = f"{where} refused every recipient: {_replies(replies)}"
            if all(500 <= code < 600 for code, _ in replies.values()):
                raise PermanentDeliveryError(error) from None
            raise DeliveryError(error) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            self.close()
            raise ChannelDown(f"{where} failed: {exc or type(exc).__name__}") from None
        except aiosmtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(f"{where} answered {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPException as exc:
            self.close()
            raise ChannelDown(f"{where} failed: {exc or type(exc).__name__}") from None
        except BaseException:  # cancelled at the deadline, or refused to log in in clear
            self.close()
            raise
        if refused:
            replies = {address: (reply.code, reply.message) for address, reply in refused.items()}
            raise PartialRefusal(
                f"{where} refused {len(replies)} of {len(to)} recipients: {_replies(replies)}",
                refused=tuple(replies),
                permanent=all(500 <= code < 600 for code, _ in replies.values()),
            )

    async def _exchange(
        self, message: EmailMessage, to: list[str]
    ) -> dict[str, aiosmtplib.SMTPResponse]:
        """The recipients the server refused, sending on the open session or a new one."""
        if self._smtp is not None and self._smtp.is_connected:
            try:
                refused, _ = await self._smtp.send_message(
                    message, sender=self.channel.from_, recipients=to
                )
                return refused
            except aiosmtplib.SMTPServerDisconnected:  # ended by the server since the last
                pass
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code != 421:  # 421: the server is ending the session (a message cap)
                    raise
        self.close()
        self._smtp = await self._open()
        refused, _ = await self._smtp.send_message(
            message, sender=self.channel.from_, recipients=to
        )
        return refused

    async def _open(self) -> aiosmtplib.SMTP:
        url = self._url
        smtp = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            use_tls=self._implicit_tls,
            start_tls=False,  # decided below, so that credentials never go out in clear
            tls_context=tls_context(),
            timeout=STEP_TIMEOUT,
        )
        await smtp.connect()
        try:
            await smtp.ehlo()
            encrypted = self._implicit_tls
            if not self._implicit_tls and smtp.supports_extension("starttls"):
                await smtp.starttls()
                await smtp.ehlo()
                encrypted = True
            if url.username and not encrypted and not _plaintext_auth_allowed(url.query):
                raise DeliveryError(
                    f"SMTP {self._host}:{self._port} offers no STARTTLS: the password of "
                    f"{unquote(url.username)!r} is not sent in clear (use smtps://, or add "
                    "?plaintext_auth=yes to the smtp URL for a relay on a trusted network)"
                )
            if url.username:
                await smtp.login(unquote(url.username), unquote(url.password or ""))
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def quit(self) -> None:
        """End the session politely, if one is open (never raises; bounded in time)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                async with asyncio.timeout(QUIT_TIMEOUT):
                    await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass  # the messages were sent; a session that ends badly loses nothing
        finally:
            smtp.close()

    def close(self) -> None:
        """Drop the session at once (after a failure, its state is unknown)."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


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
