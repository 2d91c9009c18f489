"""A loopback webhook endpoint that records what the alerter posts.

Webhook alerting has to be tested against a real HTTP server (retries, status
handling, headers such as signatures and content types), not a mocked client, so
this receiver listens on 127.0.0.1, records every POST and answers a scripted
sequence of statuses, e.g. ``[500, 500]`` to exercise two retries before success.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .serving import ThreadedHTTPService
from .web import Headers

__all__ = ["ReceivedPost", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedPost:
    """One POST as received: ``headers`` keys are lower-cased, ``body`` is the raw bytes."""

    path: str
    headers: Headers
    body: bytes
    status: int = 200
    """The status the receiver answered, so tests can line posts up with ``responses``."""

    def json(self) -> Any:
        """The body decoded as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "newswatch-test-webhook/1"
    server: _ReceiverHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the record is ``WebhookReceiver.posts``."""

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status >= 400:
            for name, value in self.server.owner.error_headers.items():
                self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        """Read a Content-Length or chunked body (clients streaming JSON use chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        body = self._read_body()
        receiver = self.server.owner
        moved = receiver.moved.get(self.path)
        if moved is not None:  # the endpoint moved (a 308 must keep the POST and its body)
            headers = Headers.from_message(self.headers)
            receiver._record(ReceivedPost(self.path, headers, body, receiver.moved_status))
            self.send_response(receiver.moved_status)
            self.send_header("Location", moved)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status = receiver._next_status()
        receiver._record(ReceivedPost(self.path, Headers.from_message(self.headers), body, status))
        if receiver.drip:
            self._drip(receiver.drip)
            return
        self._reply(status, b"ok\n" if status < 400 else f"error {status}\n".encode())

    def _drip(self, every: float) -> None:
        """The answer one byte at a time, ``every`` seconds apart, until the client leaves."""
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
        try:
            for byte in answer:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass
        self.close_connection = True

    def _not_allowed(self) -> None:
        """Only POSTs are webhook deliveries; anything else is a bug worth a clear 405."""
        self._reply(405, b"only POST is accepted\n")

    do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = _not_allowed


class _ReceiverHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: WebhookReceiver) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class WebhookReceiver(ThreadedHTTPService):
    """Threaded HTTP server on 127.0.0.1 recording every POST; see the module docstring.

    ``responses`` is consumed front to back, one status per POST; once empty every
    POST gets 200.  A restart after ``stop()`` reuses the same port, so a test can
    simulate the endpoint being down for one run.
    """

    def __init__(self, path: str = "/hook", responses: list[int] | None = None) -> None:
        super().__init__()
        self.path = path
        self.responses: list[int] = list(responses or [])
        self.error_headers: dict[str, str] = {}  # sent with every error status, e.g. Retry-After
        self.moved: dict[str, str] = {}  # path -> Location answered with ``moved_status``
        self.moved_status = 308
        self.drip = 0.0  # > 0: answer each POST one byte every ``drip`` seconds
        self._posts: list[ReceivedPost] = []
        self._cond = threading.Condition()

    def _http_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        return _ReceiverHTTPServer(address, self)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/hook``: the URL to configure as the webhook target."""
        return f"http://{self.host}:{self.port}{self.path}"

    def _next_status(self) -> int:
        with self._cond:
            return self.responses.pop(0) if self.responses else 200

    def _record(self, post: ReceivedPost) -> None:
        with self._cond:
            self._posts.append(post)
            self._cond.notify_all()

    @property
    def posts(self) -> list[ReceivedPost]:
        """A snapshot of every POST received so far, in arrival order."""
        with self._cond:
            return list(self._posts)

    def clear(self) -> None:
        """Forget recorded posts, e.g. between two runs in one test."""
        with self._cond:
            self._posts.clear()

    def wait_for(self, n: int, timeout: float = 10) -> list[ReceivedPost]:
        """Block until at least ``n`` posts arrived and return them all.

        Raises ``TimeoutError`` naming how many did arrive, because delivery is
        asynchronous and a bare ``len(posts) == n`` check would be racy.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._posts) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"expected {n} webhook POST(s) within {timeout}s, got {len(self._posts)}"
                    )
                self._cond.wait(remaining)
            return list(self._posts)

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port else "not started"
        return f"WebhookReceiver({state}, posts={len(self._posts)})"
