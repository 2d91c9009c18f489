"""What newswatch remembers of the addresses an outlet announced for itself.

An outlet that gets blocked tells its readers where to go next. Each host name it points to is
a *candidate* until verified: *verified* when it served the outlet's own recent articles,
*rejected* when it served something else or resolved to an address no outlet lives at. The
verdict is remembered with the outlet's status in the store (the config file is never
rewritten), so a rejected decoy is not asked again and a verified mirror survives restarts.

The paths and content fingerprints of a few recent articles (``ArticleSample``) are kept with
it: they are what a candidate is asked for and compared with, even when every configured
domain has gone dark since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["MAX_SAMPLES", "ArticleSample", "DiscoveredMirror", "MirrorState"]

MirrorState = Literal["candidate", "verified", "rejected"]

MAX_SAMPLES = 3  # recent articles kept to verify candidates with (two must match)


@dataclass(frozen=True)
class ArticleSample:
    """A recent article as read on a configured domain: its path and content fingerprint."""

    path: str
    fingerprint: str


@dataclass
class DiscoveredMirror:
    host: str
    announced_as: str  # text, link, redirect, rel=alternate, rel=canonical, og:url, mirror list
    announced_at: str  # the URL of the page, redirect or list that named it
    found: datetime
    state: MirrorState = "candidate"
    checked: datetime | None = None
    verdict: str = ""  # how it was verified, why it was rejected, or what is still missing
    attempts: int = 0  # verifications that came to no verdict (no answer)

    @property
    def where(self) -> str:
        """Where it was announced, as ``status`` and notices say it."""
        return f"announced as {self.announced_as} at {self.announced_at}"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "announced_as": self.announced_as,
            "announced_at": self.announced_at,
            "found": self.found.isoformat(),
            "state": self.state,
            "checked": self.checked.isoformat() if self.checked else None,
            "verdict": self.verdict,
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DiscoveredMirror:
        checked = data.get("checked")
        state = data.get("state", "candidate")
        return cls(
            host=str(data["host"]),
            announced_as=str(data.get("announced_as", "")),
            announced_at=str(data.get("announced_at", "")),
            found=datetime.fromisoformat(data["found"]),
            state=state if state in ("candidate", "verified", "rejected") else "candidate",
            checked=datetime.fromisoformat(checked) if checked else None,
            verdict=str(data.get("verdict", "")),
            attempts=int(data.get("attempts", 0)),
        )
