"""What one crawl run shares with its spiders and pipelines, handed in rather than global."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from alerts.intake import AlertIntake
from newswatch.config import Config
from newswatch.store import Store

__all__ = ["CrawlContext", "OutletResult"]


@dataclass
class OutletResult:
    """How an outlet's crawl went, for the exit code and the operator."""

    outlet: str
    reachable: bool = False
    live_domain: str | None = None
    pages: int = 0  # feeds, sitemaps and pages fetched (304s included)
    articles: int = 0  # new or updated articles fetched
    alerts: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    cut_short: str | None = None  # why the poll ended before its last answer, if it did


@dataclass
class CrawlContext:
    config: Config
    store: Store
    intake: AlertIntake
    dry_run: bool = False
    dry_run_output: TextIO | None = None  # where --dry-run prints the alerts it would send
    results: dict[str, OutletResult] = field(default_factory=dict)
