"""The read-only page on ``service.listen``: routes, access, and rendering.

The service's HTTP server hands every request to :meth:`PageApp.handle` first. The page answers
its own paths (``/``, ``/outlets``, ``/watches``, ``/alerts``, ``/watches/<name>.atom``) and turns
away, on behalf of the whole server, any request that lacks the token where one is needed: only
the probes (``/healthz``, ``/livez``) stay open, since orchestrators call them bare. Everything
else (``/metrics``, ``/healthz``) the server answers as before.

Every body passes through the config's :class:`Redactor` on its way out: the page never shows a
channel's address, and an error text stored by an older version cannot leak a secret either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jinja2

from newswatch.config import Config
from newswatch.errors import NewswatchError
from newswatch.listen import is_loopback, split_listen
from newswatch.redact import Redactor
from newswatch.scheduler.alerts_view import collect_alerts
from newswatch.scheduler.page.atom import FEED_SIZE, watch_feed
from newswatch.scheduler.page.auth import CHALLENGE, authorized
from newswatch.scheduler.page.snippets import marked, web_link
from newswatch.scheduler.page.views import (
    NextPoll,
    alerts_page,
    outlet_views,
    recent_alerts,
    utc,
    watch_views,
)
from newswatch.store import Store

__all__ = ["Answer", "PageApp"]

logger = logging.getLogger("newswatch.service")

OPEN_PATHS = frozenset({"/healthz", "/livez"})
HTML = "text/html; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
# No script may run, nothing is fetched from elsewhere, article links do not tell the outlet
# where the reader came from, and no cache keeps a copy of what an alert said.
HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()

    def send(self, handler: BaseHTTPRequestHandler, send_body: bool = True) -> None:
        """The answer on ``handler``'s connection; ``send_body`` False answers a HEAD."""
        handler.send_response(self.status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.body)))
        for name, value in self.headers:
            handler.send_header(name, value)
        handler.end_headers()
        if send_body:
            handler.wfile.write(self.body)


class PageApp:
    """``config`` is read at each request (a reload changes watches and the token); ``store`` is
    the page's own connection, used by one request at a time."""

    def __init__(
        self,
        config: Callable[[], Config],
        store: Store,
        listen: str,
        next_poll: NextPoll = lambda name: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.open_without_token = is_loopback(split_listen(listen)[0])
        self.next_poll = next_poll
        self.clock = clock
        self._lock = threading.Lock()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["utc"] = utc
        self.env.filters["utc_epoch"] = lambda epoch: utc(
            datetime.fromtimestamp(epoch, UTC) if epoch is not None else None
        )
        self.env.filters["marked"] = marked
        self.env.filters["href"] = lambda url: web_link(url) or "#"

    def handle(self, target: str, authorization: str | None, host: str | None) -> Answer | None:
        """The answer to ``GET target``, or None when the path is the server's own to answer."""
        parts = urlsplit(target)
        path = parts.path
        config = self.config()
        if path not in OPEN_PATHS and not self.allowed(config, authorization):
            return Answer(
                401,
                b"authentication required: a bearer token or basic auth (service.auth)\n",
                "text/plain; charset=utf-8",
                (("WWW-Authenticate", CHALLENGE), ("WWW-Authenticate", 'Bearer realm="newswatch"')),
            )
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        try:
            with self._lock:
                return self._route(config, path, query, host)
        except NewswatchError as exc:  # the store went away: say so, the service keeps going
            logger.error("page %s failed: %s", path, exc)
            text = Redactor.for_config(config)(f"the store cannot be read: {exc}\n")
            return Answer(503, text.encode(), "text/plain; charset=utf-8", HEADERS)

    def allowed(self, config: Config, authorization: str | None) -> bool:
        if config.service.auth:  # a token set is asked for, on loopback too
            return authorized(authorization, config.service.auth)
        return self.open_without_token  # the config refuses this case; never trust it alone

    def _route(
        self, config: Config, path: str, query: dict[str, str], host: str | None
    ) -> Answer | None:
        now = self.clock()
        if path in ("/", "/index.html"):
            return self._html(
                config,
                "overview.html",
                now=now,
                outlets=outlet_views(config, self.store, now, self.next_poll),
                watches=watch_views(config, self.store, now),
                alerts=recent_alerts(config, self.store),
            )
        if path == "/outlets":
            outlets = outlet_views(config, self.store, now, self.next_poll)
            return self._html(config, "outlets.html", now=now, outlets=outlets)
        if path == "/watches":
            watches = watch_views(config, self.store, now)
            return self._html(config, "watches.html", now=now, watches=watches)
        if path == "/alerts":
            return self._alerts(config, query, now)
        if path.startswith("/watches/") and path.endswith(".atom"):
            name = unquote(path.removeprefix("/watches/").removesuffix(".atom"))
            watch = config.watches.get(name)
            if watch is None:
                return Answer(404, b"no such watch\n", "text/plain; charset=utf-8", HEADERS)
            rows = collect_alerts(config, self.store, watch=name, limit=FEED_SIZE)
            rows = [row for row in rows if not row.expired]
            body = watch_feed(name, watch.query, rows, self._base_url(host), now)
            return Answer(200, self._redact(config, body.decode()), ATOM, HEADERS)
        return None

    def _alerts(self, config: Config, query: dict[str, str], now: datetime) -> Answer:
        watch = query.get("watch") or None
        outlet = query.get("outlet") or None
        try:
            number = max(1, int(query.get("page", "1")))
        except ValueError:
            number = 1
        page = alerts_page(config, self.store, watch=watch, outlet=outlet, page=number)

        def page_query(n: int) -> str:
            kept = {"watch": watch, "outlet": outlet, "page": str(n)}
            return urlencode({key: value for key, value in kept.items() if value})

        return self._html(config, "alerts.html", now=now, page=page, query=page_query)

    def _html(self, config: Config, template: str, **context: Any) -> Answer:
        text = self.env.get_template(template).render(**context)
        return Answer(200, self._redact(config, text), HTML, HEADERS)

    def _redact(self, config: Config, text: str) -> bytes:
        return Redactor.for_config(config)(text).encode()

    def _base_url(self, host: str | None) -> str:
        """Feed links as the reader reached the page; the Host header is only ever used as text
        inside the feed, which feedgen escapes."""
        return f"http://{host}" if host else "http://localhost"
