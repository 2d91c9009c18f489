"""``/healthz`` and ``/metrics`` for the running service, on ``service.listen``.

Metrics are Prometheus counters and gauges kept in the service's own registry; the health check
answers 503 when the scheduler has stopped, the store is unreachable, or an outlet has had no
successful crawl for three of its intervals.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)

if TYPE_CHECKING:
    from scheduler.page import PageApp

__all__ = ["HealthServer", "Metrics"]

logger = logging.getLogger("newswatch.service")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.polls = Counter("newswatch_polls", "Outlet polls", ["outlet", "result"], registry=r)
        self.pages = Counter(
            "newswatch_pages", "Feeds, sitemaps and pages fetched", ["outlet"], registry=r
        )
        self.articles = Counter(
            "newswatch_articles", "New articles fetched", ["outlet"], registry=r
        )
        self.alerts = Counter(
            "newswatch_alerts", "Alerts created (matches claimed)", ["outlet"], registry=r
        )
        self.errors = Counter(
            "newswatch_crawl_errors", "Crawl errors", ["outlet", "kind"], registry=r
        )
        self.deliveries = Counter(
            "newswatch_deliveries", "Delivery attempts", ["channel", "result"], registry=r
        )
        self.pending = Gauge("newswatch_outbox_pending", "Alerts waiting", ["channel"], registry=r)
        self.last_success = Gauge(
            "newswatch_outlet_last_success_timestamp_seconds",
            "Last successful poll",
            ["outlet"],
            registry=r,
        )
        self.domain_up = Gauge(
            "newswatch_domain_up",
            "1 when the domain answered its last poll",
            ["outlet", "domain"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class HealthServer:
    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        health: Callable[[], tuple[bool, dict[str, Any]]],
        page: PageApp | None = None,
    ):
        host, _, port = listen.rpartition(":")
        self.address = (host.strip("[]") or "127.0.0.1", int(port))
        self.metrics = metrics
        self.health = health
        self.page = page  # sees every request first: its own paths, and the token check
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if owner.page is not None:
                    answer = owner.page.handle(
                        self.path, self.headers.get("Authorization"), self.headers.get("Host")
                    )
                    if answer is not None:
                        answer.send(self)
                        return
                if self.path.split("?")[0] == "/metrics":
                    self._reply(200, owner.metrics.render(), CONTENT_TYPE_LATEST)
                elif self.path.split("?")[0] == "/healthz":
                    ok, detail = owner.health()
                    body = json.dumps({"status": "ok" if ok else "failing", **detail}, indent=1)
                    self._reply(200 if ok else 503, body.encode(), "application/json")
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(self.address, Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        logger.info("health and metrics on http://%s:%d/healthz and /metrics", *self.address)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
