"""Notices: what newswatch tells its operators about itself, through the ``notices:`` channels.

An outlet that went dark (unreachable on every domain for ``crawl.dark_after`` polls in a row),
the same outlet answering again, and later a new mirror found: each is one notice. A notice goes
through the outbox like an alert (stored before it is sent, retried with backoff, dead-lettered
after 24 h, never lost by a crash) and is claimed in the store under an id derived from the event,
so the same event seen again (by the next poll, after a restart, by another worker) is never sent
twice: one notice per event, never a flood.

A notice renders with the ``notice*`` templates (email, console), as a ``{"notice": ...}`` body
(webhook ``json``), or in Slack's and Discord's formats. Its ``subject`` and ``text`` are written
here, so a new kind of notice needs no new template.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from newswatch.article import format_time
from newswatch.health import OutletStatus
from newswatch.mirrors import DiscoveredMirror
from newswatch.store import Store

__all__ = [
    "CLAIMS",
    "Notices",
    "build_notice",
    "mirror_found",
    "outlet_dark",
    "outlet_recovered",
    "sample_notice",
]

# The claim namespace of notices in the store: not a watch name a config can have (a colon
# would not survive as one in a user's YAML without quotes, and no watch is named so by accident).
CLAIMS = "newswatch:notices"


def build_notice(
    kind: str,
    event: str,
    subject: str,
    text: str,
    now: datetime | None = None,
    **details: Any,
) -> dict[str, Any]:
    """A notice; ``event`` names the occurrence (the same event gives the same id)."""
    digest = hashlib.sha256(f"{kind}\n{event}".encode()).hexdigest()[:24]
    return {
        "id": f"notice-{digest}",
        "notice": {"kind": kind, "subject": subject, "text": text, **details},
        "detected_at": format_time(now or datetime.now(UTC)),
    }


def outlet_dark(
    outlet: str, domains: Sequence[str], status: OutletStatus, now: datetime | None = None
) -> dict[str, Any]:
    """The outlet has found no domain answering for ``status.unreachable_polls`` polls.

    The event is this dark spell, named by the last success before it (unchanged while dark),
    so a poll that sees it again after a crash claims the same notice."""
    last = format_time(status.last_success) if status.last_success else "never"
    reasons = [f"{domain}: {status.health(domain).last_error or 'no answer'}" for domain in domains]
    text = (
        f"Outlet {outlet} has been unreachable on every domain for {status.unreachable_polls} "
        f"polls in a row (last successful poll: {last}). Nothing is watched there until it "
        "answers again; newswatch keeps trying every domain.\n\n" + "\n".join(reasons)
    )
    return build_notice(
        "outlet_dark",
        f"{outlet}\n{last}",
        f"outlet {outlet} is unreachable on every domain",
        text,
        now,
        outlet=outlet,
        last_success=None if last == "never" else last,
        polls=status.unreachable_polls,
        domains={domain: status.health(domain).last_error for domain in domains},
    )


def outlet_recovered(
    outlet: str, dark_since: datetime, live_domain: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """The outlet answered again after being dark since ``dark_since``."""
    since = format_time(dark_since)
    return build_notice(
        "outlet_recovered",
        f"{outlet}\n{since}",
        f"outlet {outlet} is reachable again",
        f"Outlet {outlet} answered again on {live_domain or 'one of its domains'}, after being "
        f"unreachable on every domain since {since}.",
        now,
        outlet=outlet,
        dark_since=since,
        live_domain=live_domain,
    )


def mirror_found(
    outlet: str, mirror: DiscoveredMirror, policy: str, now: datetime | None = None
) -> dict[str, Any]:
    """The outlet announced another address of itself, and it serves the outlet's articles.

    The event is the (outlet, host) pair: a mirror is found once, whatever polls see it again."""
    if policy == "auto":
        use = "newswatch now tries it after the configured domains (discover_mirrors: auto)."
    else:
        use = (
            "newswatch does not use it by itself (discover_mirrors: suggest): add it to the "
            "outlet's domains, or set discover_mirrors: auto."
        )
    return build_notice(
        "mirror_found",
        f"{outlet}\n{mirror.host}",
        f"outlet {outlet} has a new mirror: {mirror.host}",
        f"Outlet {outlet} announced {mirror.host} as another address of itself "
        f"({mirror.where}), and it {mirror.verdict}. {use}",
        now,
        outlet=outlet,
        mirror=mirror.host,
        announced_as=mirror.announced_as,
        announced_at=mirror.announced_at,
        verified=mirror.verdict,
        policy=policy,
    )


def sample_notice(now: datetime | None = None) -> dict[str, Any]:
    """What templates are checked with when the config is loaded."""
    status = OutletStatus(unreachable_polls=3)
    status.health("www.presstv.ir").last_error = "HTTP 403"
    return outlet_dark("presstv", ["www.presstv.ir", "www.presstv.com"], status, now)


class Notices:
    """Queues notices for the config's ``notices`` channels (none configured: nothing)."""

    def __init__(self, store: Store, channels: Sequence[str]) -> None:
        self.store = store
        self.channels = list(channels)

    def send(self, notice: dict[str, Any]) -> bool:
        """Into the outbox, once per id; False when it was queued before (or nobody listens)."""
        if not self.channels:
            return False
        return self.store.claim(CLAIMS, notice["id"], notice, self.channels)
