"""``newswatch status``: what an operator needs at a glance, read from the store."""

from __future__ import annotations

from datetime import UTC, datetime

from newswatch.config import Config, Outlet
from newswatch.health import OutletStatus
from newswatch.redact import Redactor
from newswatch.scheduler.leftovers import leftover_lines
from newswatch.store import Store
from newswatch.store.workers import WorkerInfo

__all__ = ["is_stale", "render_status"]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "never"


def is_stale(outlet: Outlet, status: OutletStatus, now: datetime) -> bool:
    """No successful poll within three intervals: the same rule as /healthz, and what the page
    marks as stale."""
    return status.last_success is None or now - status.last_success > 3 * outlet.interval


def _mirror_lines(outlet: Outlet, status: OutletStatus) -> list[str]:
    """The addresses the outlet announced: where, and what verification made of them."""
    if not status.mirrors:
        return []
    lines = [f"    discovered mirrors (discover_mirrors: {outlet.discover_mirrors}):"]
    for mirror in sorted(status.mirrors.values(), key=lambda m: m.found):
        if mirror.state == "verified":
            use = (
                "in use after the configured domains"
                if outlet.discover_mirrors == "auto"
                else "suggested"
            )
            state = f"verified, {use}"
            if outlet.discover_mirrors == "auto" and status.health(mirror.host).state != "unknown":
                state += f", {status.health(mirror.host).state}"
        else:
            state = mirror.state
        lines.append(f"      {mirror.host}: {state}; {mirror.where}")
        if mirror.verdict:
            lines.append(f"        {_when(mirror.checked)}: {mirror.verdict}")
    return lines


def render_status(
    config: Config,
    store: Store,
    now: datetime | None = None,
    workers: list[WorkerInfo] | None = None,
) -> str:
    """``workers``: the processes sharing a Redis store (None on the embedded store)."""
    now = now or datetime.now(UTC)
    lines = [] if workers is None else _worker_lines(config, workers, now)
    lines.append("outlets:")
    for name, outlet in config.outlets.items():
        raw = store.outlet_status(name)
        if raw is None:
            lines.append(f"  {name}: never crawled")
            continue
        status = OutletStatus.from_json(raw)
        state = "ok" if status.reachable else "UNREACHABLE"
        if is_stale(outlet, status, now):
            state += f", STALE (no success within {3 * outlet.interval})"
        lines.append(
            f"  {name}: {state}, last crawl {_when(status.last_crawl)} ({status.last_duration or 0:.1f}s), "
            f"last success {_when(status.last_success)}, live domain {status.live_domain or '-'}"
        )
        lines.append(
            f"    last crawl: {status.pages} pages, {status.articles} articles, {status.alerts} alerts"
            + (f", CUT SHORT ({status.cut_short})" if status.cut_short else "")
        )
        for domain in outlet.domains:
            health = status.health(domain)
            detail = health.state
            if health.consecutive_failures:
                detail += (
                    f", {health.consecutive_failures} failed crawls, last: {health.last_error}"
                )
            if health.cooling(now):
                detail += f", resting until {_when(health.cooldown_until)}"
            lines.append(f"    {domain}: {detail}")
        lines += _mirror_lines(outlet, status)
        if status.errors:
            errors = ", ".join(f"{kind} ×{n}" for kind, n in sorted(status.errors.items()))
            lines.append(f"    errors: {errors}")
    lines.append("outbox:")
    for name, channel in config.channels.items():
        pending, failing = store.pending_count(name)
        failing_note = f" ({failing} failed at least once)" if failing else ""
        dead = store.dead_letters(name, 5)
        dead_note = f", {len(dead)}{'+' if len(dead) == 5 else ''} dead-lettered" if dead else ""
        lines.append(f"  {name} ({channel.type}): {pending} pending{failing_note}{dead_note}")
        for letter in dead:
            when = _when(datetime.fromtimestamp(letter.at, UTC))
            lines.append(
                f"    dead {when} alert {letter.id} after {letter.attempts} attempts: {letter.error}"
            )
    kept = leftover_lines(config, store)
    if kept:
        lines.append("kept for what the config no longer names:")
        lines += [f"  {line}" for line in kept]
    lines.append("recent alerts:")
    recent = store.recent_alerts(10)
    if not recent:
        lines.append("  none")
    for alert in recent:
        article = alert.get("article", {})
        notice = alert.get("notice")
        if notice:  # a notice to operators: an outlet gone dark or back
            lines.append(f"  {alert.get('detected_at')} (notice) {notice.get('subject')}")
            continue
        lines.append(
            f"  {alert.get('detected_at')} {alert.get('watch')} [{alert.get('outlet')}] "
            f"{' '.join(str(article.get('title') or '').split())[:80]} <{article.get('url')}>"
        )
    return Redactor.for_config(config)("\n".join(lines))  # e.g. errors stored by older versions


def _worker_lines(config: Config, workers: list[WorkerInfo], now: datetime) -> list[str]:
    """Each process on the store: whether it holds the schedule, when it was last heard of."""
    lines = ["workers:"]
    if not workers:
        lines.append("  none running")
    lease = config.workers.lease.total_seconds()
    for worker in workers:
        ago = max(0.0, now.timestamp() - worker.heartbeat)
        parts = ["holds the schedule"] if worker.holds_schedule else []
        parts.append(f"last heartbeat {ago:.1f}s ago")
        if ago > lease:
            parts[-1] += " (SILENT: dead or cut off from Redis)"
        parts.append(f"{worker.polls} polls done, {worker.polling} in flight")
        lines.append(f"  {worker.name}: {', '.join(parts)}")
    return lines
