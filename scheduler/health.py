"""Health of the running service, for orchestration and for people, on ``service.listen``.

Two questions, two endpoints, because they call for different actions:

- ``/livez``: is the process working (scheduler running, store answering)? If not, restart
  it. Docker's HEALTHCHECK and the systemd watchdog ask this one. An unreachable outlet is not a
  reason to restart anything, so it does not count here.
- ``/healthz`` (also ``/readyz``): is everything newswatch watches being watched? 503 when the
  process is not live, or when an outlet is dark (unreachable on every domain for
  ``crawl.dark_after`` polls in a row) or stale (no successful poll in three intervals), with
  the detail per outlet. For dashboards, probes of a load balancer, and people.

``/metrics`` is Prometheus text from the service's own registry: metrics about a domain appear
only once it has been tried, so a mirror never tried is absent rather than "down". Every
endpoint answers HEAD as well as GET.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from newswatch import __version__
from newswatch.config import Config
from newswatch.health import OutletStatus
from newswatch.listen import split_listen

if TYPE_CHECKING:
    from newswatch.scheduler.page import PageApp

__all__ = ["HealthServer", "Metrics", "ServiceHealth"]

logger = logging.getLogger("newswatch.service")

Check = Callable[[], tuple[bool, dict[str, Any]]]

# seconds; a poll is one feed on a fast site, or hundreds of pages behind a slow mirror
POLL_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, float("inf"))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info("newswatch_build", "The running newswatch", registry=r).info({"version": __version__})
        self.polls = Counter("newswatch_polls", "Outlet polls", ["outlet", "result"], registry=r)
        self.poll_duration = Histogram(
            "newswatch_poll_duration_seconds",
            "How long polls took, by result",
            ["result"],
            buckets=POLL_BUCKETS,
            registry=r,
        )
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
        self.dark = Gauge(
            "newswatch_outlet_dark",
            "1 while the outlet has been unreachable on every domain for crawl.dark_after polls",
            ["outlet"],
            registry=r,
        )
        self.mirrors = Gauge(
            "newswatch_mirrors_discovered",
            "Addresses the outlet announced for itself, by state (candidate, verified, rejected)",
            ["outlet", "state"],
            registry=r,
        )
        self.domain_up = Gauge(
            "newswatch_domain_up",
            "1 when the domain answered the last poll that tried it (absent until tried)",
            ["outlet", "domain"],
            registry=r,
        )

        # Several processes on one Redis: each is scraped on its own address, and these say which
        # process did what (the `worker` label is its name, host:pid, as `status` lists it).
        self.worker_polls = Counter(
            "newswatch_worker_polls",
            "Polls this process did (of the shared queue, on a Redis store)",
            ["worker"],
            registry=r,
        )
        self.schedule_holder = Gauge(
            "newswatch_schedule_holder",
            "1 while this process holds the schedule (issues the outlets' ticks)",
            ["worker"],
            registry=r,
        )
        self.poll_queue = Gauge(
            "newswatch_poll_queue", "Polls waiting in the shared queue or in flight", registry=r
        )
        self.workers = Gauge(
            "newswatch_workers", "Processes heard from within workers.lease", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class ServiceHealth:
    """What the service knows about its own health, kept up to date by each finished poll and
    read by the health server's thread (plain values only, under a lock)."""

    def __init__(self, config: Config, metrics: Metrics, started: float | None = None) -> None:
        self.config = config
        self.metrics = metrics
        self.started = started or time.time()
        self._lock = threading.Lock()
        self.last_success: dict[str, float] = {}
        self.dark_since: dict[str, datetime] = {}

    def load(self, statuses: dict[str, OutletStatus]) -> None:
        """Start from what the store remembers, so a restart does not forget a dark outlet."""
        for name, status in statuses.items():
            self._note(name, status)

    def refresh(self, read: Callable[[str], dict[str, Any] | None]) -> None:
        """Read each outlet's status as the store has it: with several processes on one Redis,
        the polls the others did count for this one's /healthz and metrics too."""
        self.load({name: OutletStatus.from_json(read(name)) for name in self.config.outlets})

    def poll_finished(
        self, name: str, domains: list[str], status: OutletStatus, result: Any
    ) -> None:
        m = self.metrics
        outcome = "cut_short" if result.cut_short else "ok" if result.reachable else "unreachable"
        m.polls.labels(name, outcome).inc()
        if status.last_duration is not None:
            m.poll_duration.labels(outcome).observe(status.last_duration)
        m.pages.labels(name).inc(result.pages)
        m.articles.labels(name).inc(result.articles)
        m.alerts.labels(name).inc(result.alerts)
        for kind, count in result.errors.items():
            m.errors.labels(name, kind).inc(count)
        for domain in domains:
            state = status.health(domain).state
            if state != "unknown":  # never tried: no series, rather than a false "down"
                m.domain_up.labels(name, domain).set(1 if state == "up" else 0)
        self._note(name, status)

    def _note(self, name: str, status: OutletStatus) -> None:
        with self._lock:
            if status.last_success:
                self.last_success[name] = status.last_success.timestamp()
                self.metrics.last_success.labels(name).set(self.last_success[name])
            if status.dark_since is not None:
                self.dark_since[name] = status.dark_since
            else:
                self.dark_since.pop(name, None)
        self.metrics.dark.labels(name).set(1 if status.dark_since is not None else 0)
        for state in ("candidate", "verified", "rejected"):
            count = sum(1 for m in status.mirrors.values() if m.state == state)
            self.metrics.mirrors.labels(name, state).set(count)

    def live(
        self, scheduler_running: bool, ping: Callable[[], None]
    ) -> tuple[bool, dict[str, Any]]:
        """The process's own health: the scheduler runs and the store answers."""
        problems: list[str] = []
        if not scheduler_running:
            problems.append("scheduler not running")
        try:
            ping()
        except Exception as exc:  # any failure to answer is the answer
            problems.append(f"store unreachable: {exc}")
        return not problems, {"problems": problems}

    def ready(
        self, live: tuple[bool, dict[str, Any]], next_polls: dict[str, datetime | None]
    ) -> tuple[bool, dict[str, Any]]:
        """Live, and every outlet watched: none dark, none without a success in 3 intervals."""
        problems = list(live[1]["problems"])
        now = time.time()
        outlets: dict[str, Any] = {}
        with self._lock:
            last_success = dict(self.last_success)
            dark_since = dict(self.dark_since)
        for name, outlet in self.config.outlets.items():
            allowed = 3 * outlet.interval.total_seconds()
            last = last_success.get(name)
            fresh = (last is not None and now - last <= allowed) or now - self.started <= allowed
            dark = dark_since.get(name)
            next_poll = next_polls.get(name)
            outlets[name] = {
                "last_success": datetime.fromtimestamp(last, UTC).isoformat() if last else None,
                "next_poll": next_poll.isoformat() if next_poll else None,
                "dark_since": dark.isoformat() if dark else None,
                "ok": fresh and dark is None,
            }
            if dark is not None:
                problems.append(f"{name}: unreachable on every domain since {dark.isoformat()}")
            elif not fresh:
                problems.append(f"{name}: no successful crawl in {allowed:.0f}s")
        return not problems, {"problems": problems, "outlets": outlets}


class HealthServer:
    def __init__(
        self,
        listen: str,
        metrics: Metrics,
        live: Check,
        ready: Check,
        page: PageApp | None = None,
    ) -> None:
        self.address = split_listen(listen)
        self.metrics = metrics
        self.routes: dict[str, Check] = {"/livez": live, "/healthz": ready, "/readyz": ready}
        self.page = page  # sees every request first: its own paths, and the token check
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

            def _answer(self, send_body: bool) -> None:
                if owner.page is not None:
                    answer = owner.page.handle(
                        self.path, self.headers.get("Authorization"), self.headers.get("Host")
                    )
                    if answer is not None:
                        answer.send(self, send_body)
                        return
                path = self.path.split("?")[0]
                if path == "/metrics":
                    self._reply(200, owner.metrics.render(), CONTENT_TYPE_LATEST, send_body)
                elif path in owner.routes:
                    ok, detail = owner.routes[path]()
                    body = json.dumps({"status": "ok" if ok else "failing", **detail}, indent=1)
                    self._reply(200 if ok else 503, body.encode(), "application/json", send_body)
                else:
                    self._reply(404, b"not found\n", "text/plain", send_body)

            def _reply(self, status: int, body: bytes, content_type: str, send_body: bool) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
            daemon_threads = True

        self._server = Server(self.address, Handler)
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        logger.info(
            "health on http://%s:%d/livez and /healthz, metrics on /metrics",
            *self.address,
            extra={"listen": f"{self.address[0]}:{self.address[1]}"},
        )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
