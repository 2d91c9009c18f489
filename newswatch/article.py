"""An extracted article: what the spiders hand to matching and alerts read from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Article"]


@dataclass(frozen=True)
class Article:
    """One article of one outlet, identified by its canonical URL on the primary domain."""

    outlet: str
    url: str  # canonical (SPEC §4)
    fetched_from: str  # the URL that actually answered, on whichever mirror
    title: str
    text: str  # main text only: no menus, sidebars, related lists or comments
    published: datetime | None  # timezone-aware UTC, or None when no date could be found
    language: str | None
