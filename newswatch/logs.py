"""Logging setup: readable lines on a terminal, one JSON object per line for services.

Scrapy resets its own loggers to DEBUG whenever a crawler process starts, so library noise is
held back by a filter on our handler rather than by logger levels it would overwrite. Library
errors keep their message but lose their traceback unless ``-v`` asks for it: an unreachable
mirror is an expected event, reported in one line by newswatch itself.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from newswatch.redact import RedactingFilter

__all__ = ["setup_logging"]

_LIBRARIES = (
    "scrapy",
    "twisted",
    "trafilatura",
    "htmldate",
    "courlan",
    "justext",
    "readability",
    "charset_normalizer",
    "httpx",
    "httpcore",
    "py.warnings",
    "filelock",
    "asyncio",
)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:  # set, and redacted, by newswatch.redact.RedactingFilter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _LibraryFilter(logging.Filter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_LIBRARIES) or record.name == "scrapy.statscollectors":
            return True  # our own records, and Scrapy's stats dump at the end of each crawl
        if self.verbose:
            return True
        if record.levelno < logging.WARNING:
            return False
        record.exc_info = None
        record.exc_text = None
        return True


def setup_logging(fmt: str = "text", verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    handler.addFilter(_LibraryFilter(verbose))
    handler.addFilter(RedactingFilter())  # URL passwords; the config's secrets once it is loaded
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
