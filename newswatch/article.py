"""An extracted article: what the spiders hand to matching and alerts read from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Article", "format_time", "is_unseen", "version_of"]


@dataclass(frozen=True)
class Article:
    """One article of one outlet, identified by its canonical URL on the primary domain."""

    outlet: str
    url: str  # canonical
    fetched_from: str  # the URL that actually answered, on whichever mirror
    title: str
    text: str  # main text only: no menus, sidebars, related lists or comments
    published: datetime | None  # timezone-aware UTC, or None when no date could be found
    language: str | None
    updated: datetime | None = None  # when its feed or sitemap says it last changed

    @property
    def version(self) -> str:
        return version_of(self.updated)


def format_time(moment: datetime | None) -> str | None:
    """Alert timestamps: UTC, whole seconds, a trailing Z (sortable as text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def version_of(updated: datetime | None) -> str:
    """What the store remembers of a seen article: its last-changed time, sortable as text."""
    return format_time(updated) or ""


def is_unseen(seen_version: str | None, updated: datetime | None) -> bool:
    """Never seen, or its feed entry says it changed since: worth fetching (again)."""
    if seen_version is None:
        return True
    return updated is not None and version_of(updated) > seen_version
