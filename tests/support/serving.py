"""One lifecycle for the local servers the tests run: web sites, webhook receiver, SMTP, Redis.

Each listens on 127.0.0.1, on a free port the first time and on the same port after ``stop()``
(when it can), so a test can take a service down for a while and bring it back where the code
under test still expects it. ``stop()`` is safe to call twice, and each is a context manager.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Self

__all__ = ["LoopbackService", "ThreadedHTTPService"]


class LoopbackService:
    """A server on loopback: subclasses say how to open it on a port and how to close it."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self._port = 0

    def _open(self, port: int) -> int:
        """Start serving on ``port`` (0: any free one); returns the port it listens on."""
        raise NotImplementedError

    def _close(self) -> None:
        """Stop serving; called only while running."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        if self.running:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._port = self._open(self._port)
        return self

    def stop(self) -> None:
        if self.running:
            self._close()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} not started yet")
        return self._port

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ThreadedHTTPService(LoopbackService):
    """An ``http.server`` served from a daemon thread."""

    def __init__(self) -> None:
        super().__init__()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _http_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def _open(self, port: int) -> int:
        httpd = self._http_server((self.host, port))
        port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{port}",
            daemon=True,
        )
        self._thread.start()
        return port

    def _close(self) -> None:
        httpd, self._httpd = self._httpd, None
        assert httpd is not None
        httpd.shutdown()
        httpd.server_close()
        self._closed(httpd)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _closed(self, httpd: ThreadingHTTPServer) -> None:
        """After the server stopped listening: what else must go (open connections)."""
