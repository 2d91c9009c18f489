"""What newswatch remembers about each outlet between crawls: its live domain, each domain's
health, and how the last crawl went.

Mirrors exist because domains get blocked and go down. A domain that failed a whole crawl cools
down (exponentially, capped) so later crawls do not pay for it first; once the cooldown is over
it is probed again, and the primary wins back its place as soon as it answers.

An outlet unreachable on every domain for ``crawl.dark_after`` polls in a row is *dark*: the
moment it goes dark and the moment it answers again are the two events operators are told about
(``notices``), once each, so the state lives here, in the store, and survives restarts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from newswatch.mirrors import MAX_SAMPLES, ArticleSample, DiscoveredMirror

__all__ = ["DomainHealth", "OutletStatus"]

MAX_COOLDOWN = timedelta(hours=6)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class DomainHealth:
    consecutive_failures: int = 0
    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    cooldown_until: datetime | None = None

    def cooling(self, now: datetime) -> bool:
        return self.cooldown_until is not None and now < self.cooldown_until

    @property
    def state(self) -> str:
        if self.consecutive_failures == 0:
            return "up" if self.last_success else "unknown"
        return "down"


@dataclass
class OutletStatus:
    live_domain: str | None = None
    domains: dict[str, DomainHealth] = field(default_factory=dict)
    last_crawl: datetime | None = None
    last_success: datetime | None = None
    last_duration: float | None = None
    pages: int = 0  # feeds, sitemaps and pages fetched by the last crawl
    articles: int = 0  # articles fetched by the last crawl
    alerts: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # by kind, last crawl
    reachable: bool = True
    cut_short: str | None = None  # why the last crawl ended before its last answer
    unreachable_polls: int = 0  # in a row, up to the last crawl
    dark_since: datetime | None = None  # set when unreachable_polls reached dark_after
    mirrors: dict[str, DiscoveredMirror] = field(default_factory=dict)  # announced, by host
    samples: list[ArticleSample] = field(default_factory=list)  # recent articles, newest first

    def adopted_mirrors(self) -> list[str]:
        """Verified discovered mirrors, in the order they were found (tried after the config's)."""
        verified = [m for m in self.mirrors.values() if m.state == "verified"]
        return [m.host for m in sorted(verified, key=lambda m: m.found)]

    def add_samples(self, samples: list[ArticleSample]) -> None:
        """Keep the newest few, one per path: what candidates are verified against."""
        paths = {sample.path for sample in samples}
        kept = samples + [s for s in self.samples if s.path not in paths]
        self.samples = kept[:MAX_SAMPLES]

    def health(self, domain: str) -> DomainHealth:
        return self.domains.setdefault(domain, DomainHealth())

    def domain_order(self, configured: list[str], now: datetime | None = None) -> list[str]:
        """The order to try domains in: healthy ones first (primary first, else the live one),
        then the cooling ones, soonest-recovering first."""
        now = now or _now()
        ready = [d for d in configured if not self.health(d).cooling(now)]
        cooling = sorted(
            (d for d in configured if self.health(d).cooling(now)),
            key=lambda d: self.health(d).cooldown_until or now,
        )
        if ready and ready[0] != configured[0] and self.live_domain in ready:
            ready.remove(self.live_domain)
            ready.insert(0, self.live_domain)
        return ready + cooling

    def record_crawl(
        self,
        answered: set[str],
        failed: dict[str, str],
        base_cooldown: timedelta,
        now: datetime | None = None,
    ) -> None:
        """Fold one crawl's outcome per domain into the remembered health."""
        now = now or _now()
        for domain in answered:
            health = self.health(domain)
            health.consecutive_failures = 0
            health.last_success = now
            health.cooldown_until = None
        for domain, error in failed.items():
            if domain in answered:
                continue
            health = self.health(domain)
            health.consecutive_failures += 1
            health.last_failure = now
            health.last_error = error
            backoff = base_cooldown * (2 ** (health.consecutive_failures - 1))
            health.cooldown_until = now + min(backoff, MAX_COOLDOWN)

    def record_reachability(self, reachable: bool, dark_after: int, now: datetime) -> str | None:
        """Count the polls in a row that found no domain answering; return ``"dark"`` when
        this poll makes the outlet dark, ``"recovered"`` when it ends a dark spell, else None."""
        if reachable:
            self.unreachable_polls = 0
            if self.dark_since is not None:
                self.dark_since = None
                return "recovered"
            return None
        self.unreachable_polls += 1
        if self.dark_since is None and self.unreachable_polls >= dark_after:
            self.dark_since = now
            return "dark"
        return None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("last_crawl", "last_success", "dark_since"):
            data[key] = _iso(getattr(self, key))
        data["domains"] = {
            name: {
                **asdict(health),
                "last_success": _iso(health.last_success),
                "last_failure": _iso(health.last_failure),
                "cooldown_until": _iso(health.cooldown_until),
            }
            for name, health in self.domains.items()
        }
        data["mirrors"] = {host: mirror.to_json() for host, mirror in self.mirrors.items()}
        data["samples"] = [[s.path, s.fingerprint] for s in self.samples]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> OutletStatus:
        if not data:
            return cls()
        domains = {
            name: DomainHealth(
                consecutive_failures=int(h.get("consecutive_failures", 0)),
                last_success=_parse(h.get("last_success")),
                last_failure=_parse(h.get("last_failure")),
                last_error=h.get("last_error"),
                cooldown_until=_parse(h.get("cooldown_until")),
            )
            for name, h in (data.get("domains") or {}).items()
        }
        return cls(
            live_domain=data.get("live_domain"),
            domains=domains,
            last_crawl=_parse(data.get("last_crawl")),
            last_success=_parse(data.get("last_success")),
            last_duration=data.get("last_duration"),
            pages=int(data.get("pages", 0)),
            articles=int(data.get("articles", 0)),
            alerts=int(data.get("alerts", 0)),
            errors=dict(data.get("errors") or {}),
            reachable=bool(data.get("reachable", True)),
            cut_short=data.get("cut_short"),
            unreachable_polls=int(data.get("unreachable_polls", 0)),
            dark_since=_parse(data.get("dark_since")),
            mirrors={
                host: DiscoveredMirror.from_json(m)
                for host, m in (data.get("mirrors") or {}).items()
            },
            samples=[ArticleSample(str(p), str(f)) for p, f in data.get("samples") or []],
        )
