"""Article and alert identity: one canonical URL per article, one id per alert.

Mirrors serve the same article under several hosts, feeds add tracking parameters, pages add
fragments. The canonical URL puts the article on the outlet's primary domain with those removed,
so that every way of reaching an article yields the same key in the store.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url

__all__ = ["alert_id", "canonical_url", "outlet_host", "same_path_on"]

_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_", "hsa_")
_TRACKING_NAMES = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "igshid", "_ga", "ref_src"}
)


def outlet_host(url: str, domains: list[str]) -> str | None:
    """The outlet domain ``url`` is on, or None when it points elsewhere."""
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return None
    return host if host in domains else None


def canonical_url(url: str, domains: list[str], scheme: str) -> str | None:
    """``url`` as the outlet's primary-domain canonical form; None when it is not the outlet's."""
    if outlet_host(url, domains) is None:
        return None
    parts = urlsplit(url)
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _is_tracking(pair.split("=", 1)[0].lower())
    )
    rebuilt = urlunsplit((scheme, domains[0], parts.path or "/", query, ""))
    return canonicalize_url(rebuilt, keep_fragments=False)


def same_path_on(url: str, host: str, scheme: str) -> str:
    """``url`` with its host (and scheme) swapped: how a link is fetched on another mirror."""
    parts = urlsplit(url)
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def alert_id(watch: str, article_url: str) -> str:
    """Stable across runs, restarts and workers: derived only from what makes the alert unique."""
    digest = hashlib.sha256(f"{watch}\n{article_url}".encode()).hexdigest()
    return digest[:32]


def _is_tracking(name: str) -> bool:
    return name in _TRACKING_NAMES or name.startswith(_TRACKING_PREFIXES)
