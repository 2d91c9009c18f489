"""A loopback SMTP server that records the mail the alerter sends.

Email alerts are checked end to end (envelope, headers, MIME structure), so tests
need a real SMTP conversation rather than a mocked ``smtplib``.  aiosmtpd's
threaded ``Controller`` provides the server; this wrapper adds recording,
scripted rejection (``refuse_with``) and stop/start on the *same* port so a test
can simulate "mail server down for one run, back up for the next".
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from .serving import LoopbackService

__all__ = ["ReceivedMail", "SmtpSink"]


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: envelope plus raw bytes, parsed lazily into ``message``."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    peer: str = ""  # the client's address and port: one per SMTP session
    message: EmailMessage = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        object.__setattr__(self, "message", parsed)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def text_body(self) -> str:
        """The text/plain part (or the only part) as str, for keyword assertions."""
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def html_body(self) -> str:
        """The text/html part as str, or "" if the message has none."""
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""


class _Handler:
    """aiosmtpd handler hooks; runs on the controller's event-loop thread."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        refusal = self.sink.refuse_recipients.get(address)
        if refusal is not None:
            code, text = refusal
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        refusal = self.sink.refuse_with
        if refusal is not None:
            code, text = refusal
            return f"{code} {text}"
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # only if decode_data were on; keep bytes regardless
            raw = raw.encode("utf-8")
        mail = ReceivedMail(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            raw=raw,
            peer=str(session.peer),
        )
        self.sink._record(mail)
        session.delivered = True  # type: ignore[attr-defined]
        if self.sink.one_message_per_session == "hang up" and server.transport is not None:
            # after this reply is written: a server that ends every session after a message
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 Message accepted for delivery"

    async def handle_MAIL(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if self.sink.one_message_per_session == "421" and getattr(session, "delivered", False):
            if server.transport is not None:  # after this reply, as RFC 5321 has it
                asyncio.get_running_loop().call_soon(server.transport.close)
            return "421 4.7.0 too many messages in this session"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SmtpSink(LoopbackService):
    """Recording SMTP server on 127.0.0.1; see the module docstring.

    * ``refuse_with = (554, "5.7.1 rejected")`` makes DATA answer that reply
      (``None``, the default, accepts).  It can be changed while running.
    * ``refuse_recipients = {"desk@example.org": (450, "4.2.2 mailbox full")}`` makes RCPT
      answer that reply for that address only; the others are accepted.
    * ``delay`` seconds pass before DATA is answered: a slow server.
    * ``one_message_per_session``: after one accepted message the server ends the session,
      as servers with a cap on messages per session or a short idle limit do: ``"hang up"``
      closes the connection at once, ``"421"`` answers the next MAIL with 421 and closes.
    * AUTH (PLAIN/LOGIN) is advertised without TLS and any credentials are
      accepted unless ``credentials=(user, password)`` is given; successful logins
      are recorded in ``logins``.  STARTTLS is not offered.
    """

    def __init__(
        self,
        credentials: tuple[str, str] | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        """``tls`` offers STARTTLS (and requires it), or with ``implicit_tls`` wraps the
        whole connection in TLS from the first byte, as smtps:// servers do."""
        super().__init__()
        self.refuse_with: tuple[int, str] | None = None
        self.refuse_recipients: dict[str, tuple[int, str]] = {}
        self.delay = 0.0
        self.one_message_per_session: str | None = None  # "hang up" or "421" after one
        self.credentials = credentials
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.logins: list[tuple[str, str]] = []
        self._messages: list[ReceivedMail] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    # -- lifecycle (tests/support/serving.py) -------------------------------------

    def _open(self, port: int) -> int:
        """Listen on a free port, or on the previous one after ``stop()``.

        A fresh Controller is built each time because aiosmtpd closes the event
        loop of a stopped one.
        """
        port = port or _free_port(self.host)
        # The port may linger briefly after a stop (or, rarely, be grabbed by another
        # process between probing and binding on first start): retry for a while.
        deadline = time.monotonic() + 5
        while True:
            controller = self._make_controller(port)
            try:
                controller.start()
                break
            except OSError:
                controller.stop(no_assert=True)
                controller.loop.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._controller = controller
        return port

    def _make_controller(self, port: int) -> Controller:
        tls: dict[str, Any] = {}
        if self.tls is not None and self.implicit_tls:
            tls = {"ssl_context": self.tls}
        elif self.tls is not None:
            tls = {"tls_context": self.tls, "require_starttls": True}
        return Controller(
            _Handler(self),
            hostname=self.host,
            port=port,
            auth_require_tls=False,
            authenticator=self._authenticate,
            **tls,
        )

    def _close(self) -> None:
        """Stop listening (connections are then refused)."""
        controller, self._controller = self._controller, None
        assert controller is not None
        controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:PORT``: the value for the alerter's SMTP setting."""
        return f"smtp://{self.host}:{self.port}"

    # -- recording -----------------------------------------------------------------

    def _authenticate(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = (auth_data.login.decode("utf-8"), auth_data.password.decode("utf-8"))
        if self.credentials is not None and login != self.credentials:
            return AuthResult(success=False, handled=False)
        with self._cond:
            self.logins.append(login)
        return AuthResult(success=True)

    def _record(self, mail: ReceivedMail) -> None:
        with self._cond:
            self._messages.append(mail)
            self._cond.notify_all()

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of every accepted message, in arrival order."""
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        """Forget recorded messages and logins."""
        with self._cond:
            self._messages.clear()
            self.logins.clear()

    def wait_for(self, n: int, timeout: float = 10) -> list[ReceivedMail]:
        """Block until at least ``n`` messages were accepted and return them all.

        Raises ``TimeoutError`` naming how many did arrive.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {n} mail(s) within {timeout}s, got {len(self._messages)}"
                    )
                self._cond.wait(remaining)
            return list(self._messages)

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port else "not started"
        return f"SmtpSink({state}, messages={len(self._messages)})"
