"""Logging setup: quiet when all is well, loud when it is not.

At INFO an operator sees one line per poll and per delivery run with the numbers that matter;
library chatter (Scrapy's statistics, APScheduler's "Running job" lines, retries) is DEBUG and
shown with ``-v`` only. Failures that newswatch itself handles and reports (a domain that fails
over to a mirror, the robots.txt of a blocked domain) are demoted to DEBUG where they are logged,
before any handler, so they reach neither the ERROR lines nor Sentry: newswatch's own line
(``unreachable on every domain``) is the one that counts.

Scrapy resets its own loggers to DEBUG whenever a crawler process starts, so library noise is
held back by a filter on our handler rather than by logger levels it would overwrite. Library
errors keep their message but lose their traceback unless ``-v`` asks for it.

JSON lines carry every structured field a record was given (``extra={"outlet": ...}``): outlet,
channel, domain, counts; the same fields Sentry gets as tags and context.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from newswatch.redact import RedactingFilter

__all__ = ["HANDLED_ELSEWHERE", "setup_logging", "structured_fields"]

_LIBRARIES = (
    "scrapy",
    "twisted",
    "apscheduler",
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

# Library records about failures newswatch handles itself, by logger and message start: every
# failed download is counted by its poll and retried on a mirror, and a poll that fails on every
# domain is newswatch's own ERROR.
HANDLED_ELSEWHERE: dict[str, tuple[str, ...]] = {
    # the robots.txt of a blocked domain: the request it guarded fails over like any other
    "scrapy.downloadermiddlewares.robotstxt": ("Error downloading",),
    "scrapy.core.scraper": ("Error downloading",),
    "scrapy.downloadermiddlewares.retry": ("Gave up retrying",),
}

# The attributes every LogRecord has; anything else was given as ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}


def structured_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with ``extra=``, minus Scrapy's spider object."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD and not key.startswith("_") and key not in ("spider", "crawler")
    }


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in structured_fields(record).items():
            entry.setdefault(key, _plain(value))
        if record.exc_text:  # set, and redacted, by newswatch.redact.RedactingFilter
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _Demote(logging.Filter):
    """On a library's own logger: its records about failures newswatch handles become DEBUG.

    A logger's filters run before its handlers and before Sentry's logging integration sees the
    record, so a demoted record is neither an ERROR line nor a Sentry event.
    """

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and str(record.msg).startswith(self.prefixes):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


class _LibraryFilter(logging.Filter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and not self.verbose:
            return False  # demoted records, whatever the logger's level said
        if not record.name.startswith(_LIBRARIES):
            return True
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
    for name, prefixes in HANDLED_ELSEWHERE.items():
        library = logging.getLogger(name)
        library.filters[:] = [f for f in library.filters if not isinstance(f, _Demote)]
        library.addFilter(_Demote(prefixes))
