"""What one crawl run shares with its spiders and pipelines, handed in rather than global."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TextIO

from newswatch.alerts.intake import AlertIntake
from newswatch.alerts.notices import Notices
from newswatch.config import Config
from newswatch.errors import StoreError
from newswatch.spiders.verification import Resolver, system_resolver
from newswatch.store import Store

__all__ = ["CrawlContext", "OutletResult"]

logger = logging.getLogger("newswatch.crawl")


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
    store_failures: int = 0  # writes the store refused (disk full, read-only, Redis refused)
    store_error: str | None = None  # the first of them, as the store said it


@dataclass
class CrawlContext:
    config: Config
    store: Store
    intake: AlertIntake
    notices: Notices | None = None  # None: outlets going dark or recovering are not told
    dry_run: bool = False
    dry_run_output: TextIO | None = None  # where --dry-run prints the alerts it would send
    results: dict[str, OutletResult] = field(default_factory=dict)
    # how candidate mirrors' host names are resolved before one is asked anything
    resolver: Resolver = system_resolver

    @classmethod
    def for_config(
        cls, config: Config, store: Store, intake: AlertIntake | None = None, **options: Any
    ) -> CrawlContext:
        """The context of a crawl that records what it finds (alerts and notices)."""
        return cls(
            config=config,
            store=store,
            intake=intake or AlertIntake(config, store),
            notices=Notices(store, config.notices),
            **options,
        )

    def store_failed(self, outlet: str, error: StoreError, lost: str) -> None:
        """A store failure while polling ``outlet``: the first of the poll is logged in one line
        (what failed, what it cost), the rest only counted, so a full disk does not log once per
        article. ``lost`` says what was not saved; nothing is marked seen that was not handled,
        so the next run tries it again."""
        result = self.results.get(outlet)
        if result is not None:
            result.store_failures += 1
            if result.store_failures > 1:
                return
            result.store_error = str(error)
        logger.error(
            "%s: %s; %s, tried again on the next run (further store failures of this poll are "
            "counted, not logged)",
            outlet,
            error,
            lost,
            extra={"outlet": outlet},
        )
