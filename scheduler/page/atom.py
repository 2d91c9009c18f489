"""A watch's recent alerts as an Atom 1.0 feed (RFC 4287), so any feed reader can follow it.

feedgen writes the XML (escaping, dates, the elements Atom requires); this module decides what an
alert says in it. Each entry's id is the alert's id, which never changes: a reader shows
an alert once however often it fetches the feed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from markupsafe import Markup, escape

from newswatch import __version__
from newswatch.scheduler.alerts_view import AlertRow
from newswatch.scheduler.page.snippets import marked, web_link

__all__ = ["FEED_SIZE", "watch_feed"]

FEED_SIZE = 50


def watch_feed(watch: str, query: str, rows: list[AlertRow], base_url: str, now: datetime) -> bytes:
    """``base_url``: where the page is reached (``http://host:port``), for the feed's links."""
    feed = FeedGenerator()
    feed.id(f"urn:newswatch:watch:{watch}")  # the same however the page is reached
    feed.title(f"newswatch: {watch}")
    feed.subtitle(f"Alerts of the watch {watch}: {query}")
    feed.author({"name": "newswatch"})
    feed.generator("newswatch", version=__version__)
    path = quote(watch, safe="")
    feed.link(href=f"{base_url}/watches/{path}.atom", rel="self", type="application/atom+xml")
    feed.link(href=f"{base_url}/alerts?watch={path}", rel="alternate", type="text/html")
    newest = max((row.when for row in rows), default=None)
    feed.updated(datetime.fromtimestamp(newest, UTC) if newest else now)
    for row in reversed(rows):  # feedgen puts the last added first: newest first in the file
        entry = feed.add_entry()
        entry.id(f"urn:newswatch:alert:{row.id}")
        entry.title(" ".join(str(row.title or row.url or "(no title)").split()))
        entry.updated(datetime.fromtimestamp(row.when, UTC))
        link = web_link(row.url)
        if link:
            entry.link(href=link, rel="alternate", type="text/html")
        if row.outlet:
            entry.category(term=row.outlet, label=f"outlet {row.outlet}")
        entry.content(_content(row), type="html")
    return bytes(feed.atom_str(pretty=True))


def _content(row: AlertRow) -> str:
    parts = [
        Markup("<p><strong>{}</strong> in {}: {}</p>").format(
            match.get("term"), match.get("field"), marked(match)
        )
        for match in row.matches
    ]
    if row.outlet:
        parts.append(Markup("<p>Outlet: {}</p>").format(row.outlet))
    return str(Markup("").join(parts) or escape(row.url or ""))
