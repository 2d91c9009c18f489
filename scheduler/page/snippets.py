"""Outlet data made safe to show: a match's snippet with its term marked (article text is
untrusted, so every part is escaped and only the ``<mark>`` is markup), and article links that
can only be web addresses. The page and the Atom feed share both."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

__all__ = ["marked", "web_link"]


def marked(match: dict[str, Any]) -> Markup:
    snippet = str(match.get("snippet") or "")
    start, end = _span(match, snippet)
    if start >= end:
        return escape(snippet)
    return (
        escape(snippet[:start])
        + Markup("<mark>")
        + escape(snippet[start:end])
        + Markup("</mark>")
        + escape(snippet[end:])
    )


def _span(match: dict[str, Any], snippet: str) -> tuple[int, int]:
    """Where the term sits: the matcher's own ``mark`` when stored, else its first occurrence
    (alerts stored before marks were kept)."""
    mark = match.get("mark")
    if (
        isinstance(mark, list | tuple)
        and len(mark) == 2
        and all(isinstance(n, int) for n in mark)
        and 0 <= mark[0] <= mark[1] <= len(snippet)
    ):
        return int(mark[0]), int(mark[1])
    term = str(match.get("term") or "").strip('"')
    found = snippet.casefold().find(term.casefold()) if term else -1
    return (found, found + len(term)) if found >= 0 else (0, 0)


def web_link(url: object) -> str | None:
    """The URL when it is http(s), else None: a stored URL came from an outlet's page."""
    text = str(url or "")
    try:
        scheme = urlsplit(text).scheme
    except ValueError:
        return None
    return text if scheme in ("http", "https") else None
