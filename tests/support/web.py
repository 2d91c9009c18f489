"""A fake "internet" for tests: one loopback HTTP server that pretends to be many hosts.

Crawls under test must never leave the machine, yet the code under test thinks in
terms of real outlet host names (``www.outlet.test``, mirror domains, ...).  Rather
than patching DNS, the server acts as an HTTP *forward proxy*: Scrapy (or urllib)
is pointed at it with ``http_proxy=http://127.0.0.1:PORT`` and then sends requests in
absolute form (``GET http://www.outlet.test/path HTTP/1.1``), which tells us which
host was wanted.  Origin-form requests (``GET /path`` + ``Host:``) are routed by the
``Host`` header, so a client talking to the server directly works too.

Each host is a :class:`Site` holding canned resources plus a behaviour switch
(``mode``) that simulates the failure modes an alerting crawler must survive: a
host that refuses connections, or one that answers 403/503 for everything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

from .serving import ThreadedHTTPService

__all__ = [
    "Headers",
    "MultiHostServer",
    "RequestRecord",
    "Resource",
    "Site",
    "SiteMode",
]

#: ``"up"`` serves resources, ``"refuse"`` drops the connection, an int answers that
#: status for every request.
SiteMode = Literal["up", "refuse"] | int


class Headers(dict[str, str]):
    """A plain ``dict`` of header values whose keys are stored lower-cased.

    Header names are case-insensitive on the wire, and tests should not have to
    guess which spelling a client used; lookups with any casing work, while the
    object stays an ordinary dict (printable, comparable, JSON-able).
    """

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key.lower() if isinstance(key, str) else key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    @classmethod
    def from_message(cls, message: Any) -> Headers:
        """Build from an ``email.message.Message``-like object, joining repeats.

        Repeated headers are joined with ``", "`` as HTTP allows, so no value is lost.
        """
        headers = cls()
        for name, value in message.items():
            if name in headers:
                headers[name] = f"{headers[name]}, {value}"
            else:
                headers[name] = value
        return headers


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it, so tests can assert what the crawler asked for.

    ``host`` is lower-cased and without port; ``path`` includes the query string.
    """

    host: str
    path: str
    method: str
    headers: Headers
    body: bytes = b""


@dataclass
class Resource:
    """A canned response for one path of one site."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class Site:
    """The resources and behaviour of one host name.

    Thread-safe: tests mutate sites while the server threads read them.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._resources: dict[str, Resource] = {}
        self._mode: SiteMode = "up"
        self.delay = 0.0  # seconds before each answer: a slow site

    @property
    def mode(self) -> SiteMode:
        """``"up"`` (default), ``"refuse"``, or an int HTTP status answered for everything."""
        return self._mode

    @mode.setter
    def mode(self, value: SiteMode) -> None:
        if isinstance(value, bool) or not (
            value in ("up", "refuse") or (isinstance(value, int) and 100 <= value <= 599)
        ):
            raise ValueError(f"mode must be 'up', 'refuse' or an HTTP status, not {value!r}")
        self._mode = value

    def add(
        self,
        path: str,
        body: bytes | str,
        content_type: str = "text/html; charset=utf-8",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Resource:
        """Serve ``body`` at ``path`` (which includes any query string, e.g. ``/a?b=1``).

        ``headers`` are sent as given; an ``ETag`` or ``Last-Modified`` among them
        enables 304 answers to matching conditional requests.  A ``Content-Type`` in
        ``headers`` wins over ``content_type``.  Replaces any earlier resource.
        """
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        resource = Resource(data, content_type, status, dict(headers or {}))
        with self._lock:
            self._resources[path] = resource
        return resource

    def remove(self, path: str) -> None:
        """Stop serving ``path`` (it answers 404 afterwards); unknown paths are ignored."""
        with self._lock:
            self._resources.pop(path, None)

    def get(self, path: str) -> Resource | None:
        """The resource served at ``path``, if any."""
        with self._lock:
            return self._resources.get(path)

    @property
    def paths(self) -> list[str]:
        """The paths currently served, for debugging test set-ups."""
        with self._lock:
            return sorted(self._resources)

    def __repr__(self) -> str:
        return f"Site({self.host!r}, mode={self._mode!r}, paths={len(self.paths)})"


def _normalise_host(host: str) -> str:
    """Lower-case and drop any port so ``WWW.Outlet.test:80`` finds ``www.outlet.test``."""
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if ":" in host else host


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison as RFC 9110 requires for If-None-Match."""
    if header.strip() == "*":
        return True

    def opaque(tag: str) -> str:
        tag = tag.strip()
        return tag[2:] if tag.startswith("W/") else tag

    return opaque(etag) in {opaque(candidate) for candidate in header.split(",")}


def _not_modified_since(header: str, last_modified: str) -> bool:
    try:
        since = parsedate_to_datetime(header)
        modified = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None or modified.tzinfo is None:
        return False
    return modified <= since


class _Handler(BaseHTTPRequestHandler):
    """Routes each request to a Site; one instance per connection."""

    protocol_version = "HTTP/1.1"
    server_version = "newswatch-test-web/1"
    server: _ProxyHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the request log is ``MultiHostServer.requests``, not stderr."""

    def _target(self) -> tuple[str, str]:
        """Host and path (with query) from an absolute-form or origin-form target."""
        if "://" in self.path.split("?", 1)[0]:
            parts = urlsplit(self.path)
            host = parts.netloc.rsplit("@", 1)[-1]
            path = parts.path or "/"
            if parts.query:
                path = f"{path}?{parts.query}"
            return _normalise_host(host), path
        return _normalise_host(self.headers.get("Host", "")), self.path or "/"

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            return b""

    def _send(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        content_length: int | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        if "date" not in Headers(headers or {}):
            self.send_header("Date", formatdate(usegmt=True))
        self.send_header(
            "Content-Length", str(len(body) if content_length is None else content_length)
        )
        self.end_headers()
        if self.command != "HEAD" and status != 304 and body:
            self.wfile.write(body)

    def send_response(self, code: int, message: str | None = None) -> None:
        """Like the base class, minus the automatic Server/Date headers (we send Date)."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Server", self.server_version)

    def _short(self, status: int, text: str, headers: Mapping[str, str] | None = None) -> None:
        all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        self._send(status, text.encode("utf-8"), all_headers)

    def _handle(self) -> None:
        host, path = self._target()
        body = self._read_body()
        owner = self.server.owner
        owner._record(
            RequestRecord(host, path, self.command, Headers.from_message(self.headers), body)
        )
        if self.command == "CONNECT":
            # HTTPS through the proxy would need TLS certificates for fake hosts;
            # refuse clearly rather than tunnelling anywhere real.
            self._short(
                405,
                "CONNECT (https) is not supported by the test proxy\n",
                {"Connection": "close"},
            )
            return
        site = owner.get_site(host)
        if site is None:
            self._short(502, "unknown host")
            return
        if site.delay:
            time.sleep(site.delay)
        mode = site.mode
        if mode == "refuse":
            # Looks, through a proxy, like a host refusing connections: no bytes at all.
            self.close_connection = True
            self.wfile.flush()
            return
        if isinstance(mode, int):
            try:
                text = f"{mode} {HTTPStatus(mode).phrase}\n"
            except ValueError:
                text = f"{mode}\n"
            self._short(mode, text)
            return
        resource = site.get(path)
        if resource is None:
            self._short(404, "not found\n")
            return
        headers = {"Content-Type": resource.content_type, **resource.headers}
        if self.command in ("GET", "HEAD") and self._not_modified(resource):
            kept = {
                k: v
                for k, v in headers.items()
                if k.lower() in ("etag", "last-modified", "cache-control", "expires", "vary")
            }
            self._send(304, b"", kept, content_length=len(resource.body))
            return
        self._send(resource.status, resource.body, headers)

    def _not_modified(self, resource: Resource) -> bool:
        res_headers = Headers(resource.headers)
        if_none_match = self.headers.get("If-None-Match")
        etag = res_headers.get("etag")
        if if_none_match is not None:
            # RFC 9110: If-Modified-Since is ignored when If-None-Match is present.
            return etag is not None and _etag_matches(if_none_match, etag)
        if_modified_since = self.headers.get("If-Modified-Since")
        last_modified = res_headers.get("last-modified")
        if if_modified_since is not None and last_modified is not None:
            return _not_modified_since(if_modified_since, last_modified)
        return False

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle
    do_CONNECT = _handle


class _ProxyHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that can cut its open keep-alive connections on stop.

    Clients such as Scrapy keep connections pooled; without cutting them the
    handler threads would linger after the test that created them.
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: MultiHostServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, *, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class MultiHostServer(ThreadedHTTPService):
    """A loopback HTTP forward proxy serving many fake hosts; see the module docstring.

    Usage::

        with MultiHostServer() as server:
            server.site("www.outlet.test").add("/", "<html>...</html>")
            env = {"http_proxy": server.proxy_url}

    Sites and their resources survive ``stop()``/``start()``; a restart reuses the port.
    """

    def __init__(self) -> None:
        super().__init__()
        self._sites: dict[str, Site] = {}
        self._sites_lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()

    # -- lifecycle (tests/support/serving.py) -------------------------------------

    def _http_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        return _ProxyHTTPServer(address, self)

    def _closed(self, httpd: ThreadingHTTPServer) -> None:
        assert isinstance(httpd, _ProxyHTTPServer)
        httpd.close_connections()

    @property
    def proxy_url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``http_proxy`` in the code under test."""
        return f"http://{self.host}:{self.port}"

    def proxy_env(self) -> dict[str, str]:
        """Environment variables routing a subprocess's HTTP(S) traffic through us.

        ``https_proxy`` is set too so that a stray https URL fails locally (CONNECT
        gets 405) instead of reaching the real internet; ``no_proxy`` is cleared
        so that a machine-wide setting cannot bypass the proxy.
        """
        url = self.proxy_url
        return {
            "http_proxy": url,
            "HTTP_PROXY": url,
            "https_proxy": url,
            "HTTPS_PROXY": url,
            "no_proxy": "",
            "NO_PROXY": "",
        }

    # -- sites -----------------------------------------------------------------------

    def site(self, host: str) -> Site:
        """The Site for ``host`` (case-insensitive, port ignored), created on first use."""
        key = _normalise_host(host)
        with self._sites_lock:
            site = self._sites.get(key)
            if site is None:
                site = self._sites[key] = Site(key)
            return site

    def get_site(self, host: str) -> Site | None:
        """The Site for ``host`` if one was created, else None (the host is "unknown")."""
        with self._sites_lock:
            return self._sites.get(_normalise_host(host))

    def url(self, host: str, path: str = "/") -> str:
        """``http://host/path``: the URL a crawler should be given for a fake page."""
        return f"http://{_normalise_host(host)}{path}"

    # -- request log -----------------------------------------------------------------

    def _record(self, record: RequestRecord) -> None:
        with self._requests_lock:
            self._requests.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received so far, in arrival order.

        Includes requests to unknown hosts and to hosts in ``"refuse"`` or status mode,
        so tests can count retries.
        """
        with self._requests_lock:
            return list(self._requests)

    def requests_for(self, host: str) -> list[RequestRecord]:
        """The requests whose target host is ``host``."""
        key = _normalise_host(host)
        return [r for r in self.requests if r.host == key]

    def clear_log(self) -> None:
        """Forget recorded requests, e.g. between two crawl runs in one test."""
        with self._requests_lock:
            self._requests.clear()

    def __iter__(self) -> Iterator[Site]:
        with self._sites_lock:
            return iter(list(self._sites.values()))

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port else "not started"
        return f"MultiHostServer({state}, sites={len(self._sites)})"
