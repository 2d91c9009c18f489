"""Logging setup: readable lines on a terminal, one JSON object per line for services."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["setup_logging"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str = "text", verbose: bool = False) -> None:
    """Our loggers at INFO (DEBUG with -v); Scrapy's and Twisted's only when they warn."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in (
        "scrapy",
        "twisted",
        "trafilatura",
        "htmldate",
        "charset_normalizer",
        "httpx",
        "httpcore",
        "py.warnings",
        "readability",
        "courlan",
        "justext",
    ):
        logging.getLogger(noisy).setLevel(
            logging.INFO if verbose and noisy == "scrapy" else logging.WARNING
        )
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    logging.getLogger("htmldate").setLevel(logging.ERROR)
